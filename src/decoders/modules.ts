/**
 * The building blocks of segmentation_models.pytorch's Unet and Unet++ decoders (its
 * `base/modules.py` and decoder blocks), with PyTorch semantics and SMP's module paths as layer
 * names: a PyTorch `state_dict` key is `<layer name>.<parameter>`. Layers without parameters get
 * names under the same prefix that no parameter key can take (`….relu`, `….concat`, `….upsample`).
 */
import * as tf from '@tensorflow/tfjs';
import { checkOneOf, checkOptionalBoolean, isPositiveInt } from '../util/validate.js';
import { RESIZE_INTERPOLATIONS, Resize2D, type ResizeInterpolation } from '../layers/resize.js';
import { initialKernel } from '../layers/initialization.js';

/** The decoder options of segmentation_models.pytorch's Unet / UnetPlusPlus. */
export interface SmpDecoderOptions {
  /**
   * Output channels of the decoder blocks, deepest first; one per encoder stage. Default
   * `[256, 128, 64, 32, 16]` at depth 5, its last `depth` entries below (`[64, 32, 16]` at depth 3).
   */
  decoderChannels?: number[];
  /** BatchNorm after every decoder convolution (then the convolution has no bias). Default true. */
  decoderBatchNorm?: boolean;
  /** How a decoder block upsamples: PyTorch's legacy `'nearest'` (default) or `'bilinear'`. */
  decoderInterpolation?: ResizeInterpolation;
  /**
   * SMP's center block (2 × Conv2dReLU at the deepest channels on the deepest feature), which SMP
   * adds for VGG encoders. Unet only: SMP's UnetPlusPlus builds it but never applies it.
   */
  decoderCenterBlock?: boolean;
}

/** The option keys of {@link SmpDecoderOptions}. */
export const SMP_DECODER_OPTION_KEYS: readonly (keyof SmpDecoderOptions)[] = [
  'decoderChannels',
  'decoderBatchNorm',
  'decoderInterpolation',
  'decoderCenterBlock',
];

/** {@link SmpDecoderOptions} with every default filled in (`resolveSmpDecoderOptions`). */
export type ResolvedSmpDecoderOptions = Required<SmpDecoderOptions>;

/** SMP's default `decoder_channels`. */
export const SMP_DECODER_CHANNELS: readonly number[] = [256, 128, 64, 32, 16];

/**
 * Fills defaults into the SMP decoder options and validates them for an encoder of `depth` stages
 * (`defaults.decoderCenterBlock`: SMP's rule, true for VGG encoders).
 */
export function resolveSmpDecoderOptions(
  model: string,
  options: SmpDecoderOptions,
  depth: number,
  defaults: { decoderCenterBlock?: boolean } = {},
): ResolvedSmpDecoderOptions {
  const decoderChannels = options.decoderChannels ?? defaultDecoderChannels(depth);
  if (
    !Array.isArray(decoderChannels) ||
    decoderChannels.length !== depth ||
    !decoderChannels.every((c) => isPositiveInt(c))
  ) {
    throw new Error(
      `${model}: decoderChannels must list ${depth} positive integers, one per encoder stage (encoderDepth ${depth}), ` +
        `deepest first, e.g. ${JSON.stringify(defaultDecoderChannels(depth))}; got ${JSON.stringify(decoderChannels)}`,
    );
  }
  const decoderBatchNorm = options.decoderBatchNorm ?? true;
  const decoderCenterBlock = options.decoderCenterBlock ?? defaults.decoderCenterBlock ?? false;
  checkOptionalBoolean(model, 'decoderBatchNorm', decoderBatchNorm);
  checkOptionalBoolean(model, 'decoderCenterBlock', decoderCenterBlock);
  const decoderInterpolation = checkOneOf(model, 'decoderInterpolation', options.decoderInterpolation ?? 'nearest', RESIZE_INTERPOLATIONS);
  return { decoderChannels: [...decoderChannels], decoderBatchNorm, decoderInterpolation, decoderCenterBlock };
}

function defaultDecoderChannels(depth: number): number[] {
  if (depth <= SMP_DECODER_CHANNELS.length) return SMP_DECODER_CHANNELS.slice(SMP_DECODER_CHANNELS.length - depth);
  return [...Array.from({ length: depth - SMP_DECODER_CHANNELS.length }, () => SMP_DECODER_CHANNELS[0]!), ...SMP_DECODER_CHANNELS];
}

/**
 * SMP's `Conv2dReLU`: Conv2d 3×3 (padding 1; bias only without BatchNorm) → BatchNorm2d (PyTorch
 * eps 1e-5, momentum 0.1 = Keras 0.9) → ReLU. Layers `${name}.0`, `${name}.1`, `${name}.relu`.
 * Initialisation as SMP's `initialize_decoder`: kaiming-uniform (heUniform), zero bias.
 */
export function conv2dReLU(
  x: tf.SymbolicTensor,
  opts: { filters: number; batchNorm: boolean; name: string },
): tf.SymbolicTensor {
  let y = tf.layers
    .conv2d({
      filters: opts.filters,
      kernelSize: 3,
      padding: 'same',
      useBias: !opts.batchNorm,
      kernelInitializer: initialKernel('heUniform'),
      name: `${opts.name}.0`,
    })
    .apply(x) as tf.SymbolicTensor;
  if (opts.batchNorm) {
    y = tf.layers
      .batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.9, name: `${opts.name}.1` })
      .apply(y) as tf.SymbolicTensor;
  }
  return tf.layers.reLU({ name: `${opts.name}.relu` }).apply(y) as tf.SymbolicTensor;
}

/** SMP's center block: 2 × Conv2dReLU keeping the channels, `decoder.center.{0,1}`. */
export function centerBlock(x: tf.SymbolicTensor, opts: { channels: number; batchNorm: boolean }): tf.SymbolicTensor {
  const y = conv2dReLU(x, { filters: opts.channels, batchNorm: opts.batchNorm, name: 'decoder.center.0' });
  return conv2dReLU(y, { filters: opts.channels, batchNorm: opts.batchNorm, name: 'decoder.center.1' });
}

/** Options of {@link smpDecoderBlock}. */
export interface SmpDecoderBlockOptions {
  filters: number;
  batchNorm: boolean;
  interpolation: ResizeInterpolation;
  /** Module path, e.g. `decoder.blocks.0` or `decoder.blocks.x_1_2`. */
  name: string;
  /** Resize `x` to this map's height × width (Unet) … */
  sizeOf?: tf.SymbolicTensor;
  /** … or by this integer factor (Unet++: 2). */
  scale?: number;
}

/**
 * An SMP decoder block: `x = interpolate(x)`, `x = cat([x, ...skips])` (upsampled map first),
 * then `conv1`, `conv2` (Conv2dReLU each). Layers `${name}.upsample`, `${name}.concat`,
 * `${name}.conv1.{0,1,relu}`, `${name}.conv2.{0,1,relu}`.
 */
export function smpDecoderBlock(x: tf.SymbolicTensor, skips: tf.SymbolicTensor[], opts: SmpDecoderBlockOptions): tf.SymbolicTensor {
  const { name, batchNorm, filters } = opts;
  const resize = new Resize2D({ interpolation: opts.interpolation, scale: opts.scale ?? null, name: `${name}.upsample` });
  let y = resize.apply(opts.sizeOf === undefined ? x : [x, opts.sizeOf]) as tf.SymbolicTensor;
  if (skips.length > 0) {
    y = tf.layers.concatenate({ axis: -1, name: `${name}.concat` }).apply([y, ...skips]) as tf.SymbolicTensor;
  }
  y = conv2dReLU(y, { filters, batchNorm, name: `${name}.conv1` });
  return conv2dReLU(y, { filters, batchNorm, name: `${name}.conv2` });
}
