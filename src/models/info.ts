/**
 * What a model built by this library knows about itself, stored in its user-defined metadata so
 * that it survives `model.save` / `tf.loadLayersModel`.
 */
import * as tf from '@tensorflow/tfjs';
import type { EncoderPreprocessing, FeaturePyramid } from '../encoders/types.js';

/** Key of the library's entry in `model.getUserDefinedMetadata()`. */
export const MODEL_INFO_KEY = 'segmentationModelsTfjs';

/** `encoder` of the models whose encoder is the papers' plain conv-block encoder. */
export const PLAIN_ENCODER = 'plain';

/**
 * Role of a model output: `'segmentation'` (the final map; always the first output),
 * `'deep-supervision'` (side outputs, deepest supervision last), `'classification'` (UNet 3+'s CGM).
 */
export type OutputRole = 'segmentation' | 'deep-supervision' | 'classification';
/** Every {@link OutputRole}, for validating saved metadata. */
export const OUTPUT_ROLES: readonly OutputRole[] = ['segmentation', 'deep-supervision', 'classification'];

/** One output of a model in its metadata: its name and role. */
export interface OutputInfo {
  /** The output's name (`model.outputNames[i]`). */
  name: string;
  role: OutputRole;
}

/** The library's description of a model, in `model.getUserDefinedMetadata()[MODEL_INFO_KEY]`. */
export interface ModelInfo {
  /** Canonical registry name: `'unet'`, `'unet-padded'`, `'unet++'`, `'unet3+'`. */
  architecture: string;
  /** Encoder name: {@link PLAIN_ENCODER} or an ImageNet encoder's (`'resnet34'`). */
  encoder: string;
  /** Number of stride-2 encoder stages (features f1 … f_depth). */
  encoderDepth: number;
  /** Layers whose outputs are the encoder features f0 … f_depth; these and their ancestors are the encoder. */
  encoderFeatures: string[];
  /** Every output, in model output order. */
  outputs: OutputInfo[];
  /** The options the model was built with, defaults filled in (JSON). */
  options: Record<string, unknown>;
  /** Set by `pruneUNetPlusPlus`: the level L_k the pruned model computes. */
  prunedLevel?: number;
  /**
   * The input normalisation the encoder expects (ImageNet mean / std on RGB in [0, 1]); present
   * for models on an ImageNet encoder. `train()`, `evaluateSegmentation`, `predictTiled` and the CLI
   * apply it (see `modelPreprocessing`).
   */
  preprocessing?: EncoderPreprocessing;
  /**
   * The segmentation_models.pytorch `config.json` the model was imported from (`loadSmpModel`);
   * `saveSmpModel` writes its `encoder_weights` and its spellings back.
   */
  smpConfig?: Record<string, unknown>;
}

/** Stores `info` in the model's user-defined metadata (kept next to any other entries). */
export function setModelInfo(model: tf.LayersModel, info: ModelInfo): void {
  checkModelInfo(info, model.name);
  const names = model.outputNames;
  if (info.outputs.length !== names.length || info.outputs.some((o, i) => o.name !== names[i])) {
    throw new Error(
      `setModelInfo: outputs ${JSON.stringify(info.outputs.map((o) => o.name))} do not match the outputs of ` +
        `'${model.name}' (${JSON.stringify(names)})`,
    );
  }
  const current = (model.getUserDefinedMetadata() ?? {}) as Record<string, unknown>;
  model.setUserDefinedMetadata({ ...current, [MODEL_INFO_KEY]: JSON.parse(JSON.stringify(info)) as ModelInfo });
}

/**
 * The library's description of `model` ({@link ModelInfo}): architecture, encoder and depth, the
 * role of every output, the build options. `null` for a model without it (built elsewhere, or
 * saved by a version of the library before it stored one). Throws when the entry is malformed.
 */
export function modelInfo(model: tf.LayersModel): ModelInfo | null {
  if (!(model instanceof tf.LayersModel)) throw new Error('modelInfo: model must be a tf.LayersModel');
  const meta = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const info = meta?.[MODEL_INFO_KEY];
  if (info === undefined) return null;
  checkModelInfo(info, model.name);
  return info;
}

/**
 * Index of the final segmentation output: the `'segmentation'` output of the model's ModelInfo, or
 * 0 for a model without one (the library's models put it first).
 */
export function finalOutputIndex(model: tf.LayersModel): number {
  const i = modelInfo(model)?.outputs.findIndex((o) => o.role === 'segmentation') ?? -1;
  return i >= 0 ? i : 0;
}

/** One line describing a model from its ModelInfo, e.g. `unet++ on the plain encoder (depth 4); outputs: head_0_4 (segmentation)`. */
export function describeModelInfo(info: ModelInfo): string {
  const encoder = info.encoder === PLAIN_ENCODER ? 'the plain encoder' : `encoder ${info.encoder}`;
  const pruned = info.prunedLevel === undefined ? '' : `, pruned to level ${info.prunedLevel}`;
  const outputs = info.outputs.map((o) => `${o.name} (${o.role})`).join(', ');
  return `${info.architecture} on ${encoder} (depth ${info.encoderDepth}${pruned}); outputs: ${outputs}`;
}

function checkModelInfo(info: unknown, modelName: string): asserts info is ModelInfo {
  const bad = (what: string) =>
    new Error(`modelInfo: the ${MODEL_INFO_KEY} metadata of model '${modelName}' is malformed: ${what}`);
  if (info === null || typeof info !== 'object') throw bad('not an object');
  const i = info as Record<string, unknown>;
  for (const key of ['architecture', 'encoder'] as const) {
    if (typeof i[key] !== 'string') throw bad(`${key} must be a string`);
  }
  if (!Number.isInteger(i.encoderDepth) || (i.encoderDepth as number) < 0) throw bad('encoderDepth must be an integer >= 0');
  if (!Array.isArray(i.encoderFeatures) || !i.encoderFeatures.every((n) => typeof n === 'string')) {
    throw bad('encoderFeatures must be a list of layer names');
  }
  if (
    !Array.isArray(i.outputs) ||
    !i.outputs.every(
      (o: unknown) =>
        o !== null &&
        typeof o === 'object' &&
        typeof (o as OutputInfo).name === 'string' &&
        OUTPUT_ROLES.includes((o as OutputInfo).role),
    )
  ) {
    throw bad(`outputs must be a list of { name, role } with role one of ${OUTPUT_ROLES.join(', ')}`);
  }
  if (i.options === null || typeof i.options !== 'object' || Array.isArray(i.options)) throw bad('options must be an object');
  if (i.prunedLevel !== undefined && !Number.isInteger(i.prunedLevel)) throw bad('prunedLevel must be an integer');
  if (i.preprocessing !== undefined && !isPreprocessing(i.preprocessing)) {
    throw bad('preprocessing must be { inputSpace, inputRange: [lo, hi], mean: [r, g, b], std: [r, g, b] } with std > 0');
  }
  if (i.smpConfig !== undefined && (i.smpConfig === null || typeof i.smpConfig !== 'object' || Array.isArray(i.smpConfig))) {
    throw bad('smpConfig must be an object (a segmentation_models.pytorch config.json)');
  }
}

function isPreprocessing(p: unknown): p is EncoderPreprocessing {
  if (p === null || typeof p !== 'object') return false;
  const q = p as Record<string, unknown>;
  const numbers = (v: unknown, n: number) =>
    Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  return (
    typeof q.inputSpace === 'string' &&
    numbers(q.inputRange, 2) &&
    numbers(q.mean, 3) &&
    numbers(q.std, 3) &&
    (q.std as number[]).every((x) => x > 0)
  );
}

/** What {@link finishModel} needs besides the graph. */
export interface ModelDescription {
  name: string;
  architecture: string;
  encoder: string;
  /** The encoder's pyramid (its features are recorded as `encoderFeatures`). */
  pyramid: FeaturePyramid;
  options: object;
  /** The encoder's input normalisation (models on an ImageNet encoder). */
  preprocessing?: EncoderPreprocessing;
}

/**
 * `tf.model` over `inputs` → `outputs` (final segmentation first), with its {@link ModelInfo}.
 * A single output is passed as a tensor (as the models always did), several as a list.
 */
export function finishModel(
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  outputs: { tensor: tf.SymbolicTensor; role: OutputRole }[],
  desc: ModelDescription,
): tf.LayersModel {
  const tensors = outputs.map((o) => o.tensor);
  const model = tf.model({ inputs, outputs: tensors.length === 1 ? tensors[0]! : tensors, name: desc.name });
  setModelInfo(model, {
    architecture: desc.architecture,
    encoder: desc.encoder,
    encoderDepth: desc.pyramid.features.length - 1,
    encoderFeatures: desc.pyramid.features.map((f) => f.sourceLayer.name),
    outputs: outputs.map((o, i) => ({ name: model.outputNames[i]!, role: o.role })),
    options: desc.options as Record<string, unknown>,
    ...(desc.preprocessing === undefined ? {} : { preprocessing: desc.preprocessing }),
  });
  return model;
}
