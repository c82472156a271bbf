/**
 * The library's decoders on an ImageNet encoder (`createModel(name, { encoder: 'resnet34' })`):
 * segmentation_models.pytorch's `Unet` and `UnetPlusPlus` (plus deep supervision), and UNet 3+
 * over the encoder's pyramid.
 */
import * as tf from '@tensorflow/tfjs';
import { resolveSmpDecoderOptions, type SmpDecoderOptions } from '../decoders/modules.js';
import { encoderPreprocessing, getEncoderSpec } from '../encoders/index.js';
import type { EncoderSpec, FeaturePyramid } from '../encoders/types.js';
import { inputSizeChecked } from '../layers/inputSizeCheck.js';
import type { ModelDescription } from './info.js';
import { checkInputSize, type InputSizeRule } from './inputSize.js';
import { checkOptionKeys, resolveCommonOptions, type InputShape } from './options.js';
import { smpUnetModel } from './unet.js';
import { resolveUNet3PlusExtras, unet3PlusModel } from './unet3plus.js';
import { smpUnetPlusPlusModel } from './unetPlusPlus.js';
import { checkOneOf, checkOptionalBoolean, isPositiveInt } from '../util/validate.js';

/** Architectures that take an `encoder`. */
export type EncoderArchitecture = 'unet' | 'unet-padded' | 'unet++' | 'unet3+';
/** The architectures that take an `encoder` option, in `listModels()` order. */
export const ENCODER_ARCHITECTURES: readonly EncoderArchitecture[] = ['unet', 'unet-padded', 'unet++', 'unet3+'];

/**
 * Options of a model on an ImageNet encoder. The SMP decoder options (`decoderChannels`,
 * `decoderInterpolation`, `decoderCenterBlock`) apply to `unet` / `unet-padded` / `unet++` only,
 * `catChannels` and `cgm` to `unet3+` only, `deepSupervision` to `unet++` and `unet3+`.
 */
export interface EncoderModelOptions extends SmpDecoderOptions {
  /** Encoder name (`listEncoders()`, case-insensitive): `'resnet18'`, `'resnet34'`, `'resnet50'`, `'mobilenet_v2'`, `'vgg16'`, `'vgg16_bn'`. */
  encoder: string;
  /** Number of stride-2 encoder stages, 3 … 5 (SMP's `encoder_depth`). Default 5. */
  encoderDepth?: number;
  /** `[H, W, C]`, any C ≥ 1 (the first convolution is built for C). Default `[256, 256, 3]`. */
  inputShape?: InputShape;
  /** Output channels (SMP's `classes`). Default 1. */
  numClasses?: number;
  /** `'sigmoid'` (default for 1 class), `'softmax'` (default for more), `'linear'` = SMP's `activation=None` (logits), or any tfjs activation. */
  finalActivation?: string;
  /** Model name. Default `<architecture>_<encoder>`, e.g. `unet_resnet34`. */
  name?: string;
  /** `unet++`: heads on the stride-2 nodes (final output first); `unet3+`: full-scale deep supervision. Default false. */
  deepSupervision?: boolean;
  /** `unet3+`: channels of each input of a decoder stage. Default 64 (the paper's). */
  catChannels?: number;
  /** `unet3+`: the classification-guided module on the deepest feature. Default false. */
  cgm?: boolean;
}

/** The resolved options recorded in the model's ModelInfo; `createModel(architecture, options)` rebuilds the model. */
export type ResolvedEncoderModelOptions = Required<Pick<EncoderModelOptions, 'encoder' | 'encoderDepth' | 'inputShape' | 'numClasses' | 'finalActivation' | 'name'>> &
  Partial<EncoderModelOptions>;

/** Default input of the encoder models. */
export const ENCODER_MODEL_INPUT: InputShape = [256, 256, 3];
/** Default `encoderDepth` (SMP's). */
export const DEFAULT_ENCODER_DEPTH = 5;
/** Default `catChannels` of UNet 3+ on an encoder (the paper's 64). */
export const ENCODER_UNET3PLUS_CAT_CHANNELS = 64;

/** PyTorch's BatchNorm2d defaults in Keras terms: epsilon 1e-5, momentum 0.1 → 0.9. */
const TORCH_BATCH_NORM = { batchNormEpsilon: 1e-5, batchNormMomentum: 0.9 };

const BASE_KEYS = ['encoder', 'encoderDepth', 'inputShape', 'numClasses', 'finalActivation', 'name'] as const;
const OPTION_KEYS: Record<EncoderArchitecture, readonly string[]> = {
  unet: [...BASE_KEYS, 'decoderChannels', 'decoderBatchNorm', 'decoderInterpolation', 'decoderCenterBlock'],
  'unet-padded': [...BASE_KEYS, 'decoderChannels', 'decoderBatchNorm', 'decoderInterpolation', 'decoderCenterBlock'],
  'unet++': [...BASE_KEYS, 'decoderChannels', 'decoderBatchNorm', 'decoderInterpolation', 'deepSupervision'],
  'unet3+': [...BASE_KEYS, 'decoderBatchNorm', 'catChannels', 'deepSupervision', 'cgm'],
};

/** Options of the plain models that have no meaning on an ImageNet encoder, and what to use instead. */
const PLAIN_ONLY: Record<string, string> = {
  filters: 'the encoder fixes its own channels; set the decoder with decoderChannels (e.g. [256, 128, 64, 32, 16]) and the depth with encoderDepth',
  upsampling: "use decoderInterpolation ('nearest' or 'bilinear')",
  batchNorm: 'the encoder keeps its own BatchNorm; use decoderBatchNorm for the decoder',
  batchNormMomentum: "every BatchNorm uses PyTorch's momentum 0.1 (0.9 in Keras terms) and epsilon 1e-5, as segmentation_models.pytorch",
  activation: 'the encoder has its own activations (ReLU, ReLU6) and the decoder uses ReLU, as segmentation_models.pytorch',
  dropout: "segmentation_models.pytorch's decoders have no dropout",
  kernelInitializer: 'the layers are initialised as segmentation_models.pytorch does; load your own or pretrained weights with loadStateDict',
};

/** Options of the other decoders that do not apply to this one, and why. */
const NOT_FOR: Partial<Record<EncoderArchitecture, Record<string, string>>> = {
  'unet++': {
    decoderCenterBlock: "segmentation_models.pytorch's UnetPlusPlus builds a center block for VGG encoders but never applies it",
    catChannels: 'catChannels is a UNet 3+ option',
    cgm: 'the classification-guided module is a UNet 3+ option',
  },
  'unet3+': {
    decoderChannels: 'UNet 3+ stages have numFeatures × catChannels channels: set catChannels',
    decoderInterpolation: 'UNet 3+ resizes every deeper map bilinearly by a power of 2 (the paper)',
    decoderCenterBlock: 'UNet 3+ has no center block',
  },
  unet: {
    deepSupervision: 'deep supervision is a unet++ / unet3+ option',
    catChannels: 'catChannels is a UNet 3+ option',
    cgm: 'the classification-guided module is a UNet 3+ option',
  },
};
NOT_FOR['unet-padded'] = NOT_FOR.unet;

/** True when `options` asks for an ImageNet encoder (`encoder` is set). */
export function hasEncoderOption(options: object): options is { encoder: unknown } {
  return (options as { encoder?: unknown }).encoder !== undefined;
}

/** The options an encoder model accepts (for help texts and error messages). */
export function encoderModelOptionKeys(architecture: EncoderArchitecture): string[] {
  return [...OPTION_KEYS[architecture]];
}

function checkEncoderOptionKeys(arch: EncoderArchitecture, options: object): void {
  for (const key of Object.keys(options)) {
    if (OPTION_KEYS[arch].includes(key)) continue;
    const why = PLAIN_ONLY[key] ?? NOT_FOR[arch]?.[key];
    if (why !== undefined) {
      throw new Error(`${arch}: option '${key}' does not apply to a model on an ImageNet encoder: ${why}. Remove the option`);
    }
  }
  checkOptionKeys(`${arch} with an encoder`, options, OPTION_KEYS[arch]);
}

function resolveEncoder(arch: EncoderArchitecture, name: unknown): EncoderSpec {
  try {
    return getEncoderSpec(name as string);
  } catch (e) {
    throw new Error(`${arch}: ${(e as Error).message}`);
  }
}

function resolveDepth(arch: EncoderArchitecture, spec: EncoderSpec, value: unknown): number {
  const depth = value ?? DEFAULT_ENCODER_DEPTH;
  if (!isPositiveInt(depth) || depth < spec.minDepth || depth > spec.maxDepth) {
    throw new Error(
      `${arch}: encoderDepth must be an integer from ${spec.minDepth} to ${spec.maxDepth} (the number of stride-2 ` +
        `stages of ${spec.name}; features at strides 2 … 2^depth), got ${String(value)}`,
    );
  }
  return depth;
}

/** Builds the encoder; an input too small for its strided stages is an error naming the minimum. */
function buildEncoder(arch: EncoderArchitecture, spec: EncoderSpec, input: tf.SymbolicTensor, depth: number): FeaturePyramid {
  const pyramid = spec.build(input, { depth });
  const empty = pyramid.features.findIndex((f) => f.shape[1] === 0 || f.shape[2] === 0);
  if (empty >= 0) {
    const [, h, w] = input.shape;
    throw new Error(
      `${arch}: input ${h}x${w} is too small for encoder ${spec.name} at encoderDepth ${depth}: feature f${empty} ` +
        `would be ${pyramid.features[empty]!.shape[1]}x${pyramid.features[empty]!.shape[2]}. Use height and width of at least ${2 ** depth}`,
    );
  }
  return pyramid;
}

const DEFAULT_NAME: Record<EncoderArchitecture, string> = {
  unet: 'unet',
  'unet-padded': 'unet',
  'unet++': 'unet_plus_plus',
  'unet3+': 'unet3plus',
};

/**
 * A model of `architecture` on an ImageNet encoder ({@link EncoderModelOptions}); what
 * `createModel(architecture, { encoder, ... })` builds.
 *
 * - `unet`, `unet-padded`: segmentation_models.pytorch's `Unet` (always padded: output size =
 *   input size; any H × W); SMP's center block for VGG encoders.
 * - `unet++`: SMP's `UnetPlusPlus` (H, W divisible by 2^encoderDepth), plus optional deep
 *   supervision heads (final output first).
 * - `unet3+`: UNet 3+ full-scale skips over f1 … f_depth (H, W divisible by 2^encoderDepth), with
 *   optional deep supervision and classification-guided module.
 *
 * Every BatchNorm uses PyTorch's epsilon 1e-5 and momentum 0.1 (Keras 0.9). The model's ModelInfo
 * records the resolved options and the encoder's input preprocessing.
 */
export function buildEncoderModel(architecture: EncoderArchitecture, options: EncoderModelOptions): tf.LayersModel {
  const arch = checkOneOf('buildEncoderModel', 'architecture', architecture, ENCODER_ARCHITECTURES);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`${arch}: options must be an object`);
  }
  checkEncoderOptionKeys(arch, options);
  const spec = resolveEncoder(arch, options.encoder);
  const encoderDepth = resolveDepth(arch, spec, options.encoderDepth);
  const common = resolveCommonOptions(
    arch,
    { inputShape: options.inputShape, numClasses: options.numClasses, finalActivation: options.finalActivation, name: options.name },
    { inputShape: ENCODER_MODEL_INPUT, numClasses: 1, filters: [1, 1], batchNorm: true, name: `${DEFAULT_NAME[arch]}_${spec.name}` },
  );
  const { inputShape, numClasses, finalActivation, name } = common;
  const sizeRule: InputSizeRule = { model: arch, rule: arch === 'unet++' || arch === 'unet3+' ? 'output-stride' : 'any', depth: encoderDepth };
  checkInputSize(sizeRule, inputShape[0], inputShape[1]);

  const base = { encoder: spec.name, encoderDepth, inputShape, numClasses, finalActivation, name };
  const input = tf.input({ shape: inputShape, name: 'input' });
  const pyramid = buildEncoder(arch, spec, inputSizeChecked(input, sizeRule), encoderDepth);
  const describe = (recorded: object): ModelDescription => ({
    name,
    architecture: arch,
    encoder: spec.name,
    pyramid,
    options: { ...base, ...recorded },
    preprocessing: encoderPreprocessing(spec.name),
  });
  const head = { numClasses, finalActivation };

  if (arch === 'unet3+') {
    checkOptionalBoolean(arch, 'decoderBatchNorm', options.decoderBatchNorm);
    const decoderBatchNorm = options.decoderBatchNorm ?? true;
    const unet3PlusOptions = resolveUNet3PlusExtras(arch, options, finalActivation, ENCODER_UNET3PLUS_CAT_CHANNELS);
    return unet3PlusModel(input, describe({ decoderBatchNorm, ...unet3PlusOptions }), {
      ...head,
      ...unet3PlusOptions,
      ...TORCH_BATCH_NORM,
      batchNorm: decoderBatchNorm,
      activation: 'relu',
      dropout: 0,
      kernelInitializer: 'heUniform',
      firstFeature: 1,
    });
  }
  if (arch === 'unet++') {
    checkOptionalBoolean(arch, 'deepSupervision', options.deepSupervision);
    const deepSupervision = options.deepSupervision ?? false;
    const decoder = resolveSmpDecoderOptions(arch, options, encoderDepth, { decoderCenterBlock: false });
    const { decoderCenterBlock: _never, ...recorded } = decoder;
    return smpUnetPlusPlusModel(input, describe({ ...recorded, deepSupervision }), { ...decoder, ...head, deepSupervision });
  }
  // SMP's Unet adds its center block for VGG encoders (`encoder_name.startswith("vgg")`).
  const decoder = resolveSmpDecoderOptions(arch, options, encoderDepth, { decoderCenterBlock: spec.name.startsWith('vgg') });
  return smpUnetModel(input, describe(decoder), { ...decoder, ...head });
}
