/**
 * segmentation_models.pytorch (SMP) models in and out: `loadSmpModel` builds the model a
 * `save_pretrained` checkpoint describes and loads every weight; `smpModelFiles` /
 * `saveSmpModel` write a model as the `config.json` + `model.safetensors` that SMP's
 * `from_pretrained` loads. Browser-safe (`saveSmpModel` writes files in Node only).
 */
import type * as tf from '@tensorflow/tfjs';
import { modelInfo, PLAIN_ENCODER, setModelInfo, type ModelInfo } from '../models/info.js';
import { createModel } from '../registry.js';
import { localFileAccess } from './localFiles.js';
import { pythonJsonDumps } from './pythonJson.js';
import { writeSafetensors, type SafetensorsInput, type SafetensorsTensor } from './safetensors.js';
import { openSmpCheckpoint, SMP_CONFIG_FILE, SMP_WEIGHTS_FILE, type OpenSmpCheckpoint, type ReadSmpCheckpointOptions, type SmpCheckpoint, type SmpCheckpointSource } from './smpCheckpoint.js';
import {
  parseSmpActivation, parseSmpDecoderNorm, smpConfigToModelOptions, smpStateDictLayout,
  type SmpArchitecture, type SmpFinalActivation, type SmpLayoutEntry, type SmpModelConfig, type SmpModelOptions,
} from './smpConfig.js';
import { modelStateDict, stateDictMapping, stateDictTargets, writeStateDictTensor } from './stateDict.js';
import { withZeroInitialization } from '../layers/initialization.js';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

function listKeys(keys: string[], max = 6): string {
  return keys.length <= max ? keys.join(', ') : `${keys.slice(0, max).join(', ')}, … (${keys.length - max} more)`;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** One line naming the model a config describes, for messages. */
export function describeSmpModel(m: SmpModelConfig): string {
  return `${m.architecture} on ${m.encoder} (encoder_depth ${m.encoderDepth}, in_channels ${m.inChannels}, classes ${m.numClasses}, ` +
    `decoder_channels [${m.decoderChannels.join(', ')}]${m.decoderBatchNorm ? '' : ', no decoder norm'})`;
}

/**
 * Differences between the model's weights and the `'weight'` entries of SMP's layout: keys the
 * model lacks or has in excess, and shapes that differ (PyTorch layout). Empty when they match.
 */
function compareWithLayout(model: tf.LayersModel, layout: readonly SmpLayoutEntry[]): string[] {
  const mapped = new Map(stateDictMapping(model).map((m) => [m.key, m.shape]));
  const wanted = new Map(layout.filter((e) => e.role === 'weight').map((e) => [e.key, e.shape]));
  const missing = [...wanted.keys()].filter((k) => !mapped.has(k));
  const extra = [...mapped.keys()].filter((k) => !wanted.has(k));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`it lacks ${missing.length} of SMP's weight(s): ${listKeys(missing)}`);
  if (extra.length > 0) problems.push(`it has ${extra.length} weight(s) SMP's model has not: ${listKeys(extra)}`);
  for (const [key, shape] of wanted) {
    const got = mapped.get(key);
    if (got !== undefined && !sameShape(got, shape)) problems.push(`'${key}' is ${shapeText(got)}, SMP's is ${shapeText(shape)}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Import

/** What {@link smpCheckpointToModel} returns: the model and an account of every checkpoint key. */
export interface SmpImportResult {
  model: tf.LayersModel;
  /** Keys loaded into the model. */
  loaded: string[];
  /** Keys of weights SMP keeps but never uses (skipped by rule: `smpUnusedPrefixes`). */
  unused: string[];
  /** `num_batches_tracked` keys (no counterpart here). */
  numBatchesTracked: string[];
  /** The validated config. */
  config: SmpModelConfig;
}

/**
 * Checks the checkpoint's tensors (names, dtypes and shapes: no data needed) against SMP's layout
 * for its config, before anything is built: every key must belong to SMP's model, every used
 * weight must be there with SMP's shape and a floating-point dtype; unused weights and
 * `num_batches_tracked` may be absent but must have SMP's shape when present. Returns the keys of
 * the used weights, in checkpoint order.
 */
function checkCheckpointTensors(tensors: Map<string, { dtype: string; shape: number[] }>, layout: readonly SmpLayoutEntry[], m: SmpModelConfig, where: string): string[] {
  const byKey = new Map(layout.map((e) => [e.key, e]));
  const unexpected = [...tensors.keys()].filter((k) => !byKey.has(k));
  const missing = layout.filter((e) => e.role === 'weight' && !tensors.has(e.key)).map((e) => e.key);
  const problems: string[] = [];
  if (unexpected.length > 0) problems.push(`${unexpected.length} unexpected key(s): ${listKeys(unexpected)}`);
  if (missing.length > 0) problems.push(`${missing.length} missing key(s): ${listKeys(missing)}`);
  const used: string[] = [];
  for (const [key, t] of tensors) {
    const e = byKey.get(key);
    if (e === undefined) continue;
    if (!sameShape(t.shape, e.shape)) {
      problems.push(`shape mismatch for '${key}': the file has ${shapeText(t.shape)}, SMP's model has ${shapeText(e.shape)}`);
    } else if (e.role === 'weight' && !FLOAT_DTYPES.has(t.dtype)) {
      problems.push(`'${key}' is ${t.dtype}; a weight must be a floating-point tensor (F32, F16, BF16 or F64)`);
    } else if (e.role === 'weight') {
      used.push(key);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `loadSmpModel: ${where} does not hold the weights of the ${describeSmpModel(m)} that ${SMP_CONFIG_FILE} describes: ` +
        `${problems.join('; ')}. Nothing was loaded.`,
    );
  }
  return used;
}

/** A model built for a checkpoint, before its weights are written. */
interface PreparedImport {
  model: tf.LayersModel;
  config: SmpModelConfig;
  layout: SmpLayoutEntry[];
  /** Keys of the weights to load, in checkpoint order. */
  used: string[];
}

/**
 * Validates config and tensor list, then builds the model with zero-initialised weights (every
 * one of them is overwritten by the checkpoint, so random draws would be wasted time and memory).
 */
function prepareImport(
  config: Record<string, unknown>,
  tensors: Map<string, { dtype: string; shape: number[] }>,
  from: { config: string; weights: string },
  options: SmpModelOptions,
): PreparedImport {
  let parsed: ReturnType<typeof smpConfigToModelOptions>;
  try {
    parsed = smpConfigToModelOptions(config, options);
  } catch (e) {
    throw new Error(`loadSmpModel: ${from.config}: ${(e as Error).message}`);
  }
  const m = parsed.config;
  const layout = smpStateDictLayout(m);
  const used = checkCheckpointTensors(tensors, layout, m, from.weights);
  const model = withZeroInitialization(() => createModel(parsed.architecture, parsed.options));
  const problems = compareWithLayout(model, layout);
  if (problems.length > 0) {
    model.dispose();
    throw new Error(`loadSmpModel: internal error: the model built for ${describeSmpModel(m)} does not match SMP's: ${problems.join('; ')}.`);
  }
  return { model, config: m, layout, used };
}

/** Records the checkpoint's config in the model's ModelInfo and accounts for every key. */
function finishImport(p: PreparedImport, config: Record<string, unknown>, keys: Set<string>): SmpImportResult {
  const info = modelInfo(p.model)!;
  setModelInfo(p.model, { ...info, smpConfig: JSON.parse(JSON.stringify(config)) as Record<string, unknown> });
  const present = (role: string) => p.layout.filter((e) => e.role === role && keys.has(e.key)).map((e) => e.key);
  return { model: p.model, loaded: p.used, unused: present('unused'), numBatchesTracked: present('num_batches_tracked'), config: p.config };
}

/**
 * Builds the model an already read SMP checkpoint describes and loads it (what
 * {@link loadSmpModel} does, from a checkpoint held in memory): for callers that read a
 * checkpoint once, or want the report of what was loaded and skipped.
 */
export function smpCheckpointToModel(checkpoint: SmpCheckpoint, options: SmpModelOptions = {}): SmpImportResult {
  const p = prepareImport(checkpoint.config, checkpoint.tensors, checkpoint.from, options);
  try {
    const targets = stateDictTargets(p.model);
    for (const key of p.used) writeStateDictTensor(targets.get(key)!, checkpoint.tensors.get(key)!.data as Float32Array);
    return finishImport(p, checkpoint.config, new Set(checkpoint.tensors.keys()));
  } catch (e) {
    p.model.dispose();
    throw e;
  }
}

/**
 * {@link smpCheckpointToModel} for an opened checkpoint: the tensors are read and written one at
 * a time, so the weights file is never held whole next to the model's weights.
 */
async function openCheckpointToModel(open: OpenSmpCheckpoint, options: SmpModelOptions): Promise<SmpImportResult> {
  const infos = new Map(open.entries.map((e) => [e.name, e]));
  const p = prepareImport(open.config, infos, open.from, options);
  try {
    const targets = stateDictTargets(p.model);
    for (const key of p.used) writeStateDictTensor(targets.get(key)!, (await open.tensor(key)).data as Float32Array);
    return finishImport(p, open.config, new Set(infos.keys()));
  } catch (e) {
    p.model.dispose();
    throw e;
  }
}

/** Options of `loadSmpModel`: how to read the files (`readSmpCheckpoint`) and the model's input shape and name. */
export interface LoadSmpModelOptions extends ReadSmpCheckpointOptions, SmpModelOptions {}

/**
 * Loads a segmentation_models.pytorch checkpoint (what `model.save_pretrained(dir)` writes:
 * `config.json` + `model.safetensors`) as a TF.js model: from a directory or `file://` URL (Node),
 * an http(s) base URL (e.g. a Hub repo's `resolve/<revision>/`), or `{ config, weights }` in memory.
 *
 * The config's `Unet` / `UnetPlusPlus` is built with `createModel` (see `smpConfigToModelOptions`;
 * SMP's `activation: null` gives `finalActivation: 'linear'`, so outputs are SMP's logits) and every
 * tensor is loaded strictly, PyTorch layouts transposed to TF.js: an unexpected key, a missing weight
 * or a shape mismatch is an error naming the keys. Skipped, by rule: `num_batches_tracked`, and the
 * weights SMP keeps but never runs (encoder modules beyond `encoder_depth`, UnetPlusPlus's VGG centre
 * block: `smpUnusedPrefixes`). The config is recorded in the model's ModelInfo (`smpConfig`).
 *
 * Memory: a local file (Node) or a Blob / File is read tensor by tensor and the model is built
 * without random initial weights, so the import needs little more than the model's own weights
 * (an http(s) URL, or a `sha256` / `validate` option, holds the whole file first).
 *
 * Inputs are NHWC (SMP's NCHW transposed); input size: option `inputShape` (see
 * {@link SmpModelOptions}; `Unet` takes any size by default).
 */
export async function loadSmpModel(source: SmpCheckpointSource, options: LoadSmpModelOptions = {}): Promise<tf.LayersModel> {
  const { inputShape, name, ...readOptions } = options;
  const open = await openSmpCheckpoint(source, readOptions);
  try {
    return (await openCheckpointToModel(open, { inputShape, name })).model;
  } finally {
    await open.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Export

/** Options of {@link smpModelFiles}. */
export interface SmpModelFilesOptions {
  /**
   * The config's `encoder_weights`. Default: the imported checkpoint's value, else `null` (every
   * weight is in model.safetensors, so `from_pretrained` downloads nothing).
   */
  encoderWeights?: string | null;
}

const ARCHITECTURE_OF: Record<string, SmpArchitecture> = { unet: 'Unet', 'unet-padded': 'Unet', 'unet++': 'UnetPlusPlus' };
const ACTIVATION_OUT: Record<SmpFinalActivation, string | null> = { linear: null, sigmoid: 'sigmoid', softmax: 'softmax2d' };

function cannotExport(why: string): Error {
  return new Error(`saveSmpModel: segmentation_models.pytorch cannot represent this model: ${why}.`);
}

/** The SMP config of a model built here, or an error saying why SMP cannot represent it. */
function exportedConfig(model: tf.LayersModel): { m: SmpModelConfig; info: ModelInfo } {
  const info = modelInfo(model);
  if (info === null) throw cannotExport('it has no ModelInfo (it was not built by this library); build it with createModel(\'unet\' | \'unet++\', { encoder, ... }) or loadSmpModel');
  const arch = ARCHITECTURE_OF[info.architecture];
  if (info.encoder === PLAIN_ENCODER) {
    throw cannotExport(`it is the plain ${info.architecture} of the papers; SMP's models sit on an ImageNet encoder: build it with createModel('${info.architecture === 'unet3+' ? 'unet' : info.architecture}', { encoder: 'resnet34', ... })`);
  }
  if (arch === undefined) throw cannotExport(`SMP has no ${info.architecture}; Unet ('unet') and UnetPlusPlus ('unet++') can be exported`);
  if (info.prunedLevel !== undefined) throw cannotExport(`it is pruned to level ${info.prunedLevel}; export the unpruned model`);
  const o = info.options as Record<string, unknown>;
  if (o.deepSupervision === true) throw cannotExport('it has deep supervision heads; build it with deepSupervision: false (the weights load as they are)');
  if (model.outputs.length !== 1) throw cannotExport(`it has ${model.outputs.length} outputs; SMP's models have one`);
  const encoder = info.encoder;
  if (arch === 'Unet' && o.decoderCenterBlock !== encoder.startsWith('vgg')) {
    throw cannotExport(`SMP's Unet has a centre block exactly for VGG encoders; this model on ${encoder} has decoderCenterBlock ${String(o.decoderCenterBlock)}`);
  }
  const finalActivation = o.finalActivation as string;
  if (!(finalActivation in ACTIVATION_OUT)) {
    throw cannotExport(`finalActivation '${finalActivation}' has no SMP activation here; use 'linear' (SMP's null), 'sigmoid' or 'softmax'`);
  }
  const inputShape = o.inputShape as (number | null)[];
  const m: SmpModelConfig = {
    architecture: arch,
    encoder,
    encoderDepth: info.encoderDepth,
    inChannels: inputShape[2]!,
    numClasses: o.numClasses as number,
    decoderChannels: [...(o.decoderChannels as number[])],
    decoderBatchNorm: o.decoderBatchNorm as boolean,
    decoderInterpolation: o.decoderInterpolation as 'nearest' | 'bilinear',
    finalActivation: finalActivation as SmpFinalActivation,
  };
  return { m, info };
}

/** A recorded config value when it means `meaning` (keeps e.g. `"softmax"` vs `"softmax2d"`, `true` vs `"batchnorm"`), else `value`. */
function recordedOr<T>(recorded: Record<string, unknown> | undefined, key: string, value: unknown, parse: (v: unknown) => T, meaning: T): unknown {
  if (recorded === undefined || !(key in recorded)) return value;
  try {
    return parse(recorded[key]) === meaning ? recorded[key] : value;
  } catch {
    return value;
  }
}

/**
 * The two files of an SMP checkpoint for `model` (browser-safe): `config` is config.json exactly as
 * SMP's `save_pretrained` writes it (`json.dumps(cfg, sort_keys=True, indent=2)`, no trailing
 * newline), `weights` is model.safetensors with every key SMP's model has, in SMP's byte layout:
 * the model's weights in PyTorch layouts, the weights SMP keeps but never uses as zeros, and each
 * BatchNorm's `num_batches_tracked` as int64 0. `smp.from_pretrained(dir)` loads them strictly.
 *
 * Models SMP cannot represent are errors that say why: plain models, UNet 3+, deep supervision,
 * pruned models, a centre block where SMP has none (or none where it has one), an output
 * activation other than linear / sigmoid / softmax, or weights that are not SMP's (e.g. after
 * `optimizeForInference` folded the BatchNorms).
 */
export function smpModelFiles(model: tf.LayersModel, options: SmpModelFilesOptions = {}): { config: string; weights: Uint8Array } {
  const { m, info } = exportedConfig(model);
  const layout = smpStateDictLayout(m);
  const problems = compareWithLayout(model, layout);
  if (problems.length > 0) {
    throw cannotExport(
      `its weights are not those of SMP's ${describeSmpModel(m)}: ${problems.join('; ')}. Was it changed after it was built ` +
        '(optimizeForInference folds BatchNorm into the convolutions)? Export the model as built or trained',
    );
  }
  const recorded = info.smpConfig;
  const encoderWeights = options.encoderWeights !== undefined ? options.encoderWeights
    : recorded !== undefined && (typeof recorded.encoder_weights === 'string' || recorded.encoder_weights === null) ? recorded.encoder_weights : null;
  const config: Record<string, unknown> = {
    _model_class: m.architecture,
    activation: recordedOr(recorded, 'activation', ACTIVATION_OUT[m.finalActivation], parseSmpActivation, m.finalActivation),
    aux_params: null,
    classes: m.numClasses,
    decoder_attention_type: null,
    decoder_channels: m.decoderChannels,
    decoder_interpolation: m.decoderInterpolation,
    decoder_use_norm: recordedOr(recorded, 'decoder_use_norm', m.decoderBatchNorm ? 'batchnorm' : false, parseSmpDecoderNorm, m.decoderBatchNorm),
    encoder_depth: m.encoderDepth,
    encoder_name: m.encoder,
    encoder_weights: encoderWeights,
    in_channels: m.inChannels,
  };
  const weights = modelStateDict(model);
  const largestUnused = Math.max(0, ...layout.filter((e) => e.role === 'unused').map((e) => e.shape.reduce((a, b) => a * b, 1)));
  const zeros = new Float32Array(largestUnused);
  const tensors = new Map<string, SafetensorsInput>();
  for (const e of layout) {
    if (e.role === 'num_batches_tracked') tensors.set(e.key, { data: [0], shape: [], dtype: 'I64' });
    else if (e.role === 'unused') tensors.set(e.key, { data: zeros.subarray(0, e.shape.reduce((a, b) => a * b, 1)), shape: e.shape });
    else tensors.set(e.key, { data: weights[e.key]!.data, shape: e.shape });
  }
  return { config: pythonJsonDumps(config), weights: writeSafetensors(tensors) };
}

/** Options of {@link saveSmpModel}. */
export interface SaveSmpModelOptions extends SmpModelFilesOptions {
  /** Replace an existing config.json / model.safetensors in `dir`. Default false: refuse. */
  overwrite?: boolean;
}

/**
 * Writes `model` as an SMP checkpoint directory (Node): `dir/config.json` and
 * `dir/model.safetensors` ({@link smpModelFiles}), each written atomically (a temporary file
 * renamed into place; the weights first, so an interrupted save leaves no config next to
 * missing weights). Existing files are an error unless `overwrite: true`. Returns the paths.
 * In Python: `smp.from_pretrained(dir)`. In a browser use `smpModelFiles`.
 */
export async function saveSmpModel(model: tf.LayersModel, dir: string, options: SaveSmpModelOptions = {}): Promise<{ config: string; weights: string }> {
  const files = localFileAccess();
  if (files === null) {
    throw new Error('saveSmpModel writes files and needs Node (import the package\'s Node entry); in a browser, smpModelFiles(model) returns the two files as text and bytes.');
  }
  if (typeof dir !== 'string' || dir === '') throw new Error(`saveSmpModel: dir must be a directory path, got ${JSON.stringify(dir)}.`);
  const out = files.resolve(dir);
  if ((await files.kind(out)) === 'file') throw new Error(`saveSmpModel: ${out} is a file; pass a directory.`);
  const configPath = files.join(out, SMP_CONFIG_FILE);
  const weightsPath = files.join(out, SMP_WEIGHTS_FILE);
  if (options.overwrite !== true) {
    const existing: string[] = [];
    for (const p of [configPath, weightsPath]) if ((await files.kind(p)) !== null) existing.push(p);
    if (existing.length > 0) {
      throw new Error(`saveSmpModel: ${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; pass { overwrite: true } to replace ${existing.length === 1 ? 'it' : 'them'}, or choose another directory.`);
    }
  }
  const { config, weights } = smpModelFiles(model, options);
  await files.writeFileAtomic(weightsPath, weights);
  await files.writeFileAtomic(configPath, new TextEncoder().encode(config));
  return { config: configPath, weights: weightsPath };
}
