import { DEFAULT_BATCH_NORM_MOMENTUM } from '../layers/convBlock.js';
import { UPSAMPLING_MODES, type UpsamplingMode } from '../layers/upsample.js';
import { checkInteger, checkOneOf, checkOptionalBoolean, isPositiveInt } from '../util/validate.js';

/** `[height, width, channels]`; height and width may be `null` for variable-size input. */
export type InputShape = [number | null, number | null, number];

/** Options shared by every model of the library. */
export interface CommonModelOptions {
  /** `[H, W, C]`; `H`/`W` may be `null` (variable size). */
  inputShape?: InputShape;
  /** Output channels. Default 2 for the classic UNet, 1 otherwise. */
  numClasses?: number;
  /** Filters per level, shallow to deep; its length sets the depth (`filters.length − 1` poolings). */
  filters?: number[];
  /** BatchNormalization after every convolution. */
  batchNorm?: boolean;
  /**
   * Momentum of every BatchNormalization's moving statistics, in (0, 1), Keras convention
   * (moving = momentum · moving + (1 − momentum) · batch). Default 0.9 (PyTorch's momentum 0.1);
   * tfjs's own default 0.99 leaves the statistics near their initial values after a short run.
   */
  batchNormMomentum?: number;
  /** Activation of the conv blocks (any tfjs activation name). Default `'relu'`. */
  activation?: string;
  /** Dropout rate after every conv-block activation (0 = none). Default 0. */
  dropout?: number;
  /** Decoder upsampling. Default `'transpose'`. */
  upsampling?: UpsamplingMode;
  /** Kernel initializer of every convolution. Default `'heNormal'`. */
  kernelInitializer?: string;
  /** Output activation: `'sigmoid'` (default for 1 class), `'softmax'` (default for more), `'linear'` (logits). */
  finalActivation?: string;
  /** Model name. */
  name?: string;
}

export type ResolvedCommonOptions = Required<CommonModelOptions>;

/** One entry per option of {@link CommonModelOptions}: the compiler rejects a missing or unknown key. */
const COMMON_OPTIONS = {
  inputShape: true,
  numClasses: true,
  filters: true,
  batchNorm: true,
  batchNormMomentum: true,
  activation: true,
  dropout: true,
  upsampling: true,
  kernelInitializer: true,
  finalActivation: true,
  name: true,
} as const satisfies Record<keyof CommonModelOptions, true>;

/** The keys of {@link CommonModelOptions}. */
export const COMMON_OPTION_KEYS = Object.keys(COMMON_OPTIONS) as readonly (keyof CommonModelOptions)[];

export interface CommonDefaults {
  inputShape: InputShape;
  numClasses: number;
  filters: number[];
  batchNorm: boolean;
  upsampling?: UpsamplingMode;
  name: string;
}

const KNOWN_ACTIVATIONS = [
  'elu', 'hardSigmoid', 'linear', 'relu', 'relu6', 'selu', 'sigmoid', 'softmax', 'softplus',
  'softsign', 'tanh', 'swish', 'mish', 'gelu', 'gelu_new',
];
const KNOWN_INITIALIZERS = [
  'heNormal', 'heUniform', 'glorotNormal', 'glorotUniform', 'leCunNormal', 'leCunUniform',
  'truncatedNormal', 'randomNormal', 'randomUniform', 'varianceScaling', 'orthogonal', 'zeros', 'ones',
];

/** Rejects option keys the model does not know, naming the known ones. */
export function checkOptionKeys(model: string, options: object, knownKeys: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (key === 'encoder' && !knownKeys.includes(key)) {
      throw new Error(
        `${model}: this builder makes the plain model; for a model on an ImageNet encoder use ` +
          `createModel('${model}', { encoder, ... }) or buildEncoderModel('${model}', { encoder, ... })`,
      );
    }
    if (!knownKeys.includes(key)) {
      throw new Error(
        `${model}: unknown option '${key}'. Known options: ${[...knownKeys].sort().join(', ')}`,
      );
    }
  }
}

/** Fills defaults into the shared options and validates every one of them. */
export function resolveCommonOptions(
  model: string,
  options: CommonModelOptions,
  defaults: CommonDefaults,
): ResolvedCommonOptions {
  const inputShape = options.inputShape ?? defaults.inputShape;
  if (
    !Array.isArray(inputShape) ||
    inputShape.length !== 3 ||
    !inputShape.slice(0, 2).every((d) => d === null || isPositiveInt(d)) ||
    !isPositiveInt(inputShape[2])
  ) {
    throw new Error(
      `${model}: inputShape must be [height, width, channels] with positive integers ` +
        `(height/width may be null for variable size), got ${JSON.stringify(inputShape)}`,
    );
  }
  const numClasses = checkInteger(model, 'numClasses', options.numClasses ?? defaults.numClasses);
  const filters = options.filters ?? defaults.filters;
  if (!Array.isArray(filters) || filters.length < 2) {
    throw new Error(
      `${model}: filters must list at least 2 levels (e.g. [64, 128, 256, 512, 1024]), got ${JSON.stringify(filters)}`,
    );
  }
  filters.forEach((f, i) => checkInteger(model, `filters[${i}]`, f));
  const dropout = options.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new Error(`${model}: dropout must be a rate in [0, 1), got ${String(dropout)}`);
  }
  const upsampling = checkOneOf(model, 'upsampling', options.upsampling ?? defaults.upsampling ?? 'transpose', UPSAMPLING_MODES);
  const activation = options.activation ?? 'relu';
  checkKnownValue(model, 'activation', activation, KNOWN_ACTIVATIONS);
  const finalActivation = options.finalActivation ?? (numClasses === 1 ? 'sigmoid' : 'softmax');
  checkKnownValue(model, 'finalActivation', finalActivation, KNOWN_ACTIVATIONS);
  const kernelInitializer = options.kernelInitializer ?? 'heNormal';
  checkKnownValue(model, 'kernelInitializer', kernelInitializer, KNOWN_INITIALIZERS);
  const batchNorm = options.batchNorm ?? defaults.batchNorm;
  checkOptionalBoolean(model, 'batchNorm', batchNorm);
  const batchNormMomentum = options.batchNormMomentum ?? DEFAULT_BATCH_NORM_MOMENTUM;
  if (typeof batchNormMomentum !== 'number' || !(batchNormMomentum > 0 && batchNormMomentum < 1)) {
    throw new Error(
      `${model}: batchNormMomentum must be a number in (0, 1) (Keras convention; 0.9 = PyTorch's momentum 0.1), ` +
        `got ${String(batchNormMomentum)}`,
    );
  }
  const name = options.name ?? defaults.name;
  if (typeof name !== 'string' || name.length === 0) {
    throw new Error(`${model}: name must be a non-empty string`);
  }
  return {
    inputShape: [...inputShape] as InputShape,
    numClasses,
    filters: [...filters],
    batchNorm,
    batchNormMomentum,
    activation,
    dropout,
    upsampling,
    kernelInitializer,
    finalActivation,
    name,
  };
}

/** Rejects a value that is not one of `known` (an activation or initializer name), listing them. */
function checkKnownValue(model: string, option: string, value: unknown, known: string[]): void {
  if (typeof value !== 'string' || !known.includes(value)) {
    throw new Error(`${model}: unknown ${option} '${String(value)}'. Known: ${known.join(', ')}`);
  }
}

/**
 * Checks that the fixed spatial sizes of `inputShape` are divisible by `2^depth`, the requirement
 * of `depth` 2×2 poolings in a padded encoder–decoder. Names the nearest valid sizes otherwise.
 */
export function checkDivisibleInput(model: string, inputShape: InputShape, depth: number): void {
  const k = 2 ** depth;
  (['height', 'width'] as const).forEach((axis, i) => {
    const size = inputShape[i];
    if (size === null || size % k === 0) return;
    const below = Math.floor(size / k) * k;
    const above = below + k;
    const nearest = below > 0 ? `${below} or ${above}` : `${above}`;
    throw new Error(
      `${model}: input ${axis} ${size} is not divisible by 2^${depth} = ${k} ` +
        `(${depth} poolings for ${depth + 1} filter levels); nearest valid sizes: ${nearest}`,
    );
  });
}
