/**
 * Pretrained encoder weights as segmentation_models.pytorch (SMP) publishes them: one
 * `model.safetensors` per encoder and tag on the Hugging Face Hub (`smp-hub/<encoder>.imagenet`,
 * pinned revisions in the encoder specs), holding the torchvision backbone's state dict without
 * the `encoder.` prefix — every module at full depth, for 3 input channels, possibly with the
 * ImageNet classifier that SMP drops. Browser-safe (paths and the disk cache need Node).
 */
import type * as tf from '@tensorflow/tfjs';
import { getEncoderSpec, listEncoders } from '../encoders/index.js';
import type { EncoderSpec } from '../encoders/types.js';
import { modelInfo, PLAIN_ENCODER } from '../models/info.js';
import { readSafetensors, readSafetensorsHeader, type SafetensorsTensor } from './safetensors.js';
import { loadStateDict, stateDictMapping, type StateDict } from './stateDict.js';
import { fetchPretrainedFile, fetchWeights, type PretrainedFileOptions, type WeightsSource } from './weightsCache.js';

/**
 * Encoder weights: a tag of the encoder's published weights (`'imagenet'`), or the weight file
 * itself: a local path or `file://` URL (Node), an http(s) URL, bytes, or a Blob / File.
 */
export type EncoderWeights = string | URL | Uint8Array | ArrayBuffer | Blob;

/** Options of `loadEncoderWeights`: those of `fetchPretrainedFile` (cache folder, Hub URL, progress, checksum, headers, ...). */
export type LoadEncoderWeightsOptions = PretrainedFileOptions;

/** What `loadEncoderWeights` loaded, skipped and adapted. */
export interface LoadEncoderWeightsResult {
  /** Where the weights came from (the URL of a tag, a path, 'the given bytes', ...). */
  source: string;
  /** Model keys written (`encoder.*`). */
  loaded: string[];
  /** Keys of the file not loaded: the encoder modules deeper than the model's depth, the classifier SMP drops, `num_batches_tracked`. */
  skipped: string[];
  /** Set when the first convolution was adapted from 3 input channels (SMP's `patch_first_conv`). */
  firstConv: { key: string; inChannels: number } | null;
}

const SMP_PRETRAINED_FILE = 'model.safetensors';
const NBT = '.num_batches_tracked';
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

function listKeys(keys: string[], max = 6): string {
  return keys.length <= max ? keys.join(', ') : `${keys.slice(0, max).join(', ')}, … (${keys.length - max} more)`;
}

/**
 * SMP's `patch_first_conv` for pretrained weights: a `[O, 3, kh, kw]` first-conv weight adapted
 * to `inChannels` input channels. 1 channel: the sum over RGB, `(c0 + c1) + c2` in float32; N ≠ 1
 * channels: channel i is RGB channel i mod 3, every value times float32(3 / N), in float32.
 * Returns the new `[O, inChannels, kh, kw]` values (3 channels: a copy).
 */
export function adaptFirstConvWeight(weight: Float32Array, shape: readonly number[], inChannels: number): { data: Float32Array; shape: number[] } {
  if (shape.length !== 4 || shape[1] !== 3) throw new Error(`adaptFirstConvWeight: expected a [out, 3, kh, kw] weight, got [${shape.join(', ')}].`);
  if (!Number.isInteger(inChannels) || inChannels < 1) throw new Error(`adaptFirstConvWeight: inChannels must be an integer ≥ 1, got ${String(inChannels)}.`);
  const [o, , kh, kw] = shape as [number, number, number, number];
  const plane = kh * kw;
  if (weight.length !== o * 3 * plane) throw new Error(`adaptFirstConvWeight: ${weight.length} values do not fill [${shape.join(', ')}].`);
  if (inChannels === 3) return { data: weight.slice(), shape: [...shape] };
  const out = new Float32Array(o * inChannels * plane);
  const scale = Math.fround(3 / inChannels);
  for (let f = 0; f < o; f++) {
    const src = f * 3 * plane;
    const dst = f * inChannels * plane;
    for (let p = 0; p < plane; p++) {
      if (inChannels === 1) {
        out[dst + p] = Math.fround(Math.fround(weight[src + p]! + weight[src + plane + p]!) + weight[src + 2 * plane + p]!);
      } else {
        for (let i = 0; i < inChannels; i++) out[dst + i * plane + p] = Math.fround(weight[src + (i % 3) * plane + p]! * scale);
      }
    }
  }
  return { data: out, shape: [o, inChannels, kh, kw] };
}

/** The keys and shapes (3 input channels, no `encoder.` prefix) a weight file for `spec` must hold. */
function expectedFileKeys(spec: EncoderSpec): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const mod of spec.smpModules(3)) for (const e of mod.entries) out.set(e.key.slice('encoder.'.length), e.shape);
  return out;
}

/**
 * Checks a weight file's header against the encoder: exactly its keys and shapes (3 input
 * channels, all modules), floating-point weights; `num_batches_tracked` may be absent, and the
 * classifier keys SMP drops may be present. Throws an error naming the keys.
 */
export function checkEncoderWeightsFile(bytes: Uint8Array, encoder: string): void {
  const spec = getEncoderSpec(encoder);
  const expected = expectedFileKeys(spec);
  const { entries } = readSafetensorsHeader(bytes);
  const present = new Set(entries.map((e) => e.name));
  const unexpected = entries.map((e) => e.name).filter((k) => !expected.has(k) && !spec.droppedPretrainedKeys.test(k));
  const missing = [...expected.keys()].filter((k) => !present.has(k) && !k.endsWith(NBT));
  const problems: string[] = [];
  if (unexpected.length > 0) problems.push(`${unexpected.length} unexpected key(s): ${listKeys(unexpected)}`);
  if (missing.length > 0) problems.push(`${missing.length} missing key(s): ${listKeys(missing)}`);
  for (const e of entries) {
    const shape = expected.get(e.name);
    if (shape === undefined) continue;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`shape mismatch for '${e.name}': the file has [${e.shape.join(', ')}], ${spec.name} has [${shape.join(', ')}]`);
    } else if (!e.name.endsWith(NBT) && !FLOAT_DTYPES.has(e.dtype)) {
      problems.push(`'${e.name}' is ${e.dtype}, not a floating-point tensor`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `it is not a ${spec.name} encoder weight file as segmentation_models.pytorch publishes it (the backbone's state dict ` +
        `without the 'encoder.' prefix, 3 input channels): ${problems.join('; ')}.`,
    );
  }
}

/** True when `weights` names a published tag of `spec` rather than a file. */
function isTag(spec: EncoderSpec, weights: EncoderWeights): weights is string {
  return typeof weights === 'string' && Object.prototype.hasOwnProperty.call(spec.weights, weights);
}

/**
 * Downloads (or reads from the cache / a path / bytes) and checks the weight file of `encoder`;
 * returns its tensors. Tags are fetched with `fetchPretrainedFile` from the pinned Hub repository.
 */
export async function fetchEncoderWeights(
  encoder: string,
  weights: EncoderWeights,
  options: LoadEncoderWeightsOptions = {},
): Promise<{ tensors: Map<string, SafetensorsTensor>; source: string }> {
  const spec = getEncoderSpec(encoder);
  const validate = (bytes: Uint8Array) => checkEncoderWeightsFile(bytes, spec.name);
  let bytes: Uint8Array;
  let source: string;
  if (isTag(spec, weights)) {
    const { repoId, revision } = spec.weights[weights]!;
    const fileSpec = { repoId, revision, filename: SMP_PRETRAINED_FILE };
    try {
      bytes = await fetchPretrainedFile(fileSpec, { ...options, validate });
    } catch (e) {
      throw new Error(
        `encoderWeights '${weights}' of ${spec.name} (${repoId} at ${revision}): ${(e as Error).message} ` +
          `(encoderWeights also takes the file itself: a path, a URL or its bytes.)`,
      );
    }
    source = `${repoId}@${revision}/${SMP_PRETRAINED_FILE}`;
  } else if (typeof weights === 'string' && !/[/\\.:]/.test(weights)) {
    const tags = Object.keys(spec.weights);
    throw new Error(
      `encoderWeights '${weights}' is neither a published weight tag of ${spec.name} (${tags.length > 0 ? tags.join(', ') : 'none'}) ` +
        'nor a path or URL (a file in the current folder: \'./name\').',
    );
  } else {
    source = typeof weights === 'string' ? weights : weights instanceof URL ? weights.href : 'the given weights';
    try {
      bytes = await fetchWeights(weights as WeightsSource, { ...options, validate });
    } catch (e) {
      throw new Error(`encoderWeights for ${spec.name}: ${(e as Error).message}`);
    }
  }
  return { tensors: readSafetensors(bytes).tensors, source };
}

/** The encoder of a model built here (from its ModelInfo), or an error. */
function modelEncoder(model: tf.LayersModel): { spec: EncoderSpec; inChannels: number } {
  const info = modelInfo(model);
  if (info === null || info.encoder === PLAIN_ENCODER || !listEncoders().includes(info.encoder)) {
    const what = info === null ? 'has no ModelInfo (it was not built by this library)' : `is on the ${info.encoder} encoder`;
    throw new Error(`loadEncoderWeights: the model ${what}; encoder weights load into models built with createModel(name, { encoder }) (encoders: ${listEncoders().join(', ')}).`);
  }
  const c = model.inputs[0]!.shape[3];
  return { spec: getEncoderSpec(info.encoder), inChannels: typeof c === 'number' ? c : 3 };
}

/** Writes fetched encoder tensors into the model's `encoder.*` weights (first conv adapted to the model's channels). */
function applyEncoderWeights(model: tf.LayersModel, spec: EncoderSpec, inChannels: number, tensors: Map<string, SafetensorsTensor>, source: string): LoadEncoderWeightsResult {
  const firstConvKey = `${spec.firstConv}.weight`;
  const stateDict: StateDict = {};
  let firstConv: LoadEncoderWeightsResult['firstConv'] = null;
  for (const m of stateDictMapping(model)) {
    if (!m.key.startsWith('encoder.')) continue;
    const t = tensors.get(m.key.slice('encoder.'.length));
    if (t === undefined) throw new Error(`loadEncoderWeights: internal error: ${source} has no '${m.key.slice(8)}' for the model's '${m.key}'.`);
    const data = t.data as Float32Array;
    if (m.key === firstConvKey && inChannels !== 3) {
      stateDict[m.key] = adaptFirstConvWeight(data, t.shape, inChannels);
      firstConv = { key: m.key, inChannels };
    } else {
      stateDict[m.key] = { shape: t.shape, data };
    }
  }
  const { loaded } = loadStateDict(model, stateDict, { strict: false });
  const used = new Set(loaded.map((k) => k.slice('encoder.'.length)));
  return { source, loaded, skipped: [...tensors.keys()].filter((k) => !used.has(k)), firstConv };
}

/**
 * Loads pretrained encoder weights into a model built with `createModel(name, { encoder })`: the
 * published weights of a tag (`'imagenet'`: SMP's Hub file at the revision pinned in the encoder's
 * spec, downloaded once with progress on a TTY and cached; see `fetchPretrainedFile` for the
 * cache, the checksum and offline use) or a weight file (path, URL, bytes, Blob). The file must
 * hold exactly the encoder's keys and shapes (the classifier SMP drops may be there too); for
 * `inChannels` ≠ 3 the first convolution is adapted as SMP does ({@link adaptFirstConvWeight}).
 * Only the encoder's weights change; the decoder keeps its own.
 */
export async function loadEncoderWeights(
  model: tf.LayersModel,
  weights: EncoderWeights,
  options: LoadEncoderWeightsOptions = {},
): Promise<LoadEncoderWeightsResult> {
  const { spec, inChannels } = modelEncoder(model);
  const { tensors, source } = await fetchEncoderWeights(spec.name, weights, options);
  return applyEncoderWeights(model, spec, inChannels, tensors, source);
}
