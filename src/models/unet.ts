import type * as tf from '@tensorflow/tfjs';
import { smpUnetDecoder, unetDecoder } from '../decoders/unet.js';
import type { ResolvedSmpDecoderOptions } from '../decoders/modules.js';
import { CONV_ENCODER_NAMING } from '../encoders/convBlocks.js';
import { segmentationHead } from '../heads/segmentation.js';
import { plainEncoder } from './plainEncoder.js';
import { PLAIN_ENCODER, finishModel, type ModelDescription } from './info.js';
import {
  type CommonModelOptions,
  type ResolvedCommonOptions,
  COMMON_OPTION_KEYS,
  checkOptionKeys,
  resolveCommonOptions,
} from './options.js';

/** Options of the classic UNet (Ronneberger et al., 2015). */
export type UNetOptions = CommonModelOptions;
export const UNET_OPTION_KEYS: readonly string[] = COMMON_OPTION_KEYS;

/**
 * The classic UNet: valid 3×3 convolutions, 2×2 max-pooling, 2×2 up-convolution, centre-cropped
 * skip connections ("copy and crop"), and a 1×1 output convolution. With the defaults
 * (`inputShape [572, 572, 1]`, filters 64..1024, 2 classes) the output is 388×388×2.
 */
export function buildUNet(options: UNetOptions = {}): tf.LayersModel {
  checkOptionKeys('unet', options, UNET_OPTION_KEYS);
  const opts = resolveCommonOptions('unet', options, {
    inputShape: [572, 572, 1],
    numClasses: 2,
    filters: [64, 128, 256, 512, 1024],
    batchNorm: true,
    name: 'unet',
  });
  const depth = opts.filters.length - 1;
  for (const i of [0, 1] as const) {
    const size = opts.inputShape[i];
    if (size !== null) checkUNetInputSize(size, depth, i === 0 ? 'height' : 'width');
  }
  return unetGraph(opts, 'valid', 'unet');
}

/**
 * The UNet of the papers, shared by the classic (valid) and padded variants: the plain conv-block
 * encoder, the UNet decoder (×2 upsampling, concatenation with the (cropped) skip, a conv block per
 * level), and a 1×1 head.
 */
export function unetGraph(opts: ResolvedCommonOptions, padding: 'valid' | 'same', architecture: string): tf.LayersModel {
  const { input, pyramid, layers } = plainEncoder(opts, padding, CONV_ENCODER_NAMING.unet);
  const x = unetDecoder(pyramid, { ...layers, padding, upsampling: opts.upsampling });
  const output = segmentationHead(x, {
    numClasses: opts.numClasses,
    activation: opts.finalActivation,
    kernelInitializer: opts.kernelInitializer,
    name: 'head',
  });
  return finishModel(input, [{ tensor: output, role: 'segmentation' }], {
    name: opts.name,
    architecture,
    encoder: PLAIN_ENCODER,
    pyramid,
    options: opts,
  });
}

/** Head options of the models on an encoder pyramid. */
export interface PyramidHeadOptions {
  numClasses: number;
  /** `'linear'` = segmentation_models.pytorch's `activation=None` (logits). */
  finalActivation: string;
}

/**
 * segmentation_models.pytorch's `Unet` on an encoder's pyramid: {@link smpUnetDecoder} and SMP's
 * segmentation head (Conv2d 3×3 with bias, `segmentation_head.0`, with `finalActivation`). The
 * model's inputs are `inputs` (normally the image the encoder was built on).
 */
export function smpUnetModel(
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  desc: ModelDescription,
  opts: ResolvedSmpDecoderOptions & PyramidHeadOptions,
): tf.LayersModel {
  const x = smpUnetDecoder(desc.pyramid, opts);
  const output = smpSegmentationHead(x, opts);
  return finishModel(inputs, [{ tensor: output, role: 'segmentation' }], desc);
}

/** segmentation_models.pytorch's `SegmentationHead`: Conv2d 3×3 (bias) → activation, `segmentation_head.0`. */
export function smpSegmentationHead(x: tf.SymbolicTensor, opts: PyramidHeadOptions): tf.SymbolicTensor {
  return segmentationHead(x, {
    numClasses: opts.numClasses,
    activation: opts.finalActivation,
    kernelSize: 3,
    kernelInitializer: 'glorotUniform',
    name: 'segmentation_head.0',
  });
}

/** Size after each stage, or the reason the size is impossible. */
function traceUNetSize(size: number, depth: number): { output: number } | { error: string } {
  if (!Number.isInteger(size) || size <= 0) return { error: `size must be a positive integer, got ${size}` };
  if (!Number.isInteger(depth) || depth < 1) return { error: `depth must be an integer >= 1, got ${depth}` };
  let s = size;
  for (let level = 0; level < depth; level++) {
    s -= 4;
    if (s <= 0) return { error: `level ${level} has nothing left after its two valid 3x3 convolutions` };
    if (s % 2 !== 0) return { error: `level ${level} feeds an odd size ${s} to a 2x2 max-pooling` };
    s /= 2;
  }
  s -= 4;
  if (s <= 0) return { error: 'the bottleneck has nothing left after its two valid 3x3 convolutions' };
  for (let level = depth - 1; level >= 0; level--) {
    s = 2 * s - 4;
    if (s <= 0) return { error: `decoder level ${level} has nothing left after its valid convolutions` };
  }
  return { output: s };
}

/**
 * Output size of the classic (valid) UNet for an input of `inputSize` pixels with `depth` 2×2
 * poolings (`filters.length − 1`) and two valid 3×3 convolutions per level: 572 → 388 at depth 4.
 * Throws, naming the nearest valid sizes, when the size cannot be taken.
 */
export function unetOutputSize(inputSize: number, depth = 4): number {
  const r = traceUNetSize(inputSize, depth);
  if ('error' in r) throw new Error(invalidSizeMessage(inputSize, depth, r.error));
  return r.output;
}

/** The smallest input size ≥ `size` that the classic UNet of this depth accepts (570 → 572 at depth 4). */
export function unetValidInputSize(size: number, depth = 4): number {
  if (!Number.isFinite(size)) throw new Error(`unetValidInputSize: size must be a finite number, got ${size}`);
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`unetValidInputSize: depth must be an integer >= 1, got ${depth}`);
  for (let s = Math.max(1, Math.ceil(size)); ; s++) {
    if ('output' in traceUNetSize(s, depth)) return s;
  }
}

/** The largest valid input size ≤ `size`, or null when there is none. */
function largestValidBelow(size: number, depth: number): number | null {
  for (let s = Math.floor(size); s > 0; s--) {
    if ('output' in traceUNetSize(s, depth)) return s;
  }
  return null;
}

function invalidSizeMessage(size: number, depth: number, reason: string): string {
  const above = unetValidInputSize(size, depth);
  const below = largestValidBelow(size, depth);
  const nearest = below === null ? `${above}` : `${below} or ${above}`;
  return (
    `classic UNet (depth ${depth}) cannot take input size ${size}: ${reason}. ` +
    `Nearest valid sizes: ${nearest} (see unetValidInputSize), or use 'unet-padded'`
  );
}

function checkUNetInputSize(size: number, depth: number, axis: string): void {
  const r = traceUNetSize(size, depth);
  if ('error' in r) throw new Error(`unet: input ${axis} — ${invalidSizeMessage(size, depth, r.error)}`);
}
