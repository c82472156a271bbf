/**
 * UNet decoders over a {@link FeaturePyramid}:
 * - {@link unetDecoder}: the papers' decoder (Ronneberger 2015): ×2 upsampling of the deeper map,
 *   concatenation with the (centre-cropped) skip, a conv block per level; every feature is a skip.
 * - {@link smpUnetDecoder}: segmentation_models.pytorch's `UnetDecoder`, layer names = SMP module
 *   paths (`decoder.blocks.{i}.conv1.0`, ...).
 */
import * as tf from '@tensorflow/tfjs';
import type { FeaturePyramid } from '../encoders/types.js';
import { CenterCrop2D } from '../layers/centerCrop.js';
import { convBlock, type ConvLayerOptions } from '../layers/convBlock.js';
import { upsample2x, type UpsamplingMode } from '../layers/upsample.js';
import { centerBlock, smpDecoderBlock, type ResolvedSmpDecoderOptions } from './modules.js';

/** Options of {@link unetDecoder}. */
export interface UNetDecoderOptions extends ConvLayerOptions {
  /** `'valid'`: the classic UNet (skips are centre-cropped to the upsampled map); `'same'`: padded. */
  padding: 'valid' | 'same';
  upsampling: UpsamplingMode;
}

/**
 * The UNet decoder of the papers. From the deepest feature (the bottleneck) up: `up{level}` (×2,
 * to `channels[level]` for `'transpose'`), `crop{level}` of the skip (`'valid'` only),
 * `concat{level}` = [skip, up], conv block `dec{level}` with `channels[level]` filters. Returns
 * the level-0 map (stride 1).
 */
export function unetDecoder(pyramid: FeaturePyramid, opts: UNetDecoderOptions): tf.SymbolicTensor {
  const { features, channels } = pyramid;
  const { padding, upsampling, ...layers } = opts;
  const depth = features.length - 1;
  let x = features[depth]!;
  for (let level = depth - 1; level >= 0; level--) {
    const up = upsample2x(x, {
      mode: upsampling,
      filters: channels[level]!,
      kernelInitializer: opts.kernelInitializer,
      name: `up${level}`,
    });
    let skip = features[level]!;
    if (padding === 'valid') {
      skip = new CenterCrop2D({ name: `crop${level}` }).apply([skip, up]) as tf.SymbolicTensor;
    }
    x = tf.layers.concatenate({ axis: -1, name: `concat${level}` }).apply([skip, up]) as tf.SymbolicTensor;
    x = convBlock(x, { ...layers, filters: channels[level]!, padding, name: `dec${level}` });
  }
  return x;
}

/**
 * segmentation_models.pytorch's `UnetDecoder` over features f0 … f_D (D = depth):
 *
 * - f0 is never a skip (for ResNet/MobileNetV2 it is the input itself), but the last block is
 *   resized to f0's height × width.
 * - `x = center(f_D)` (`decoder.center`, only with `decoderCenterBlock`; SMP's VGG rule).
 * - Block i = 0 … D−1 (`decoder.blocks.{i}`): x is resized to the actual size of f_{D−1−i}
 *   (nearest by PyTorch's legacy rule, or bilinear; not ×2, so any input size works), concatenated
 *   with the skip f_{D−1−i} (x first; no skip in the last block), then two Conv2dReLU to
 *   `decoderChannels[i]`.
 *
 * Channels as SMP: block i takes `in = [c_D, dec_0, …, dec_{D−2}][i]` plus `skip = c_{D−1−i}`
 * (0 for the last) and gives `dec_i`. Returns the stride-1 map with `decoderChannels[D−1]` channels.
 */
export function smpUnetDecoder(pyramid: FeaturePyramid, opts: ResolvedSmpDecoderOptions): tf.SymbolicTensor {
  const { features, channels } = pyramid;
  const depth = features.length - 1;
  checkDecoderDepth('Unet', depth, opts.decoderChannels);
  let x = features[depth]!;
  if (opts.decoderCenterBlock) x = centerBlock(x, { channels: channels[depth]!, batchNorm: opts.decoderBatchNorm });
  for (let i = 0; i < depth; i++) {
    const target = features[depth - 1 - i]!;
    const skips = depth - 1 - i >= 1 ? [target] : [];
    x = smpDecoderBlock(x, skips, {
      filters: opts.decoderChannels[i]!,
      batchNorm: opts.decoderBatchNorm,
      interpolation: opts.decoderInterpolation,
      name: `decoder.blocks.${i}`,
      sizeOf: target,
    });
  }
  return x;
}

/** The decoder needs one `decoderChannels` entry per encoder stage (SMP's `n_blocks` check). */
export function checkDecoderDepth(decoder: string, depth: number, decoderChannels: number[]): void {
  if (depth < 1) throw new Error(`${decoder} decoder: the feature pyramid needs at least f0 and f1, got ${depth + 1} feature(s)`);
  if (decoderChannels.length !== depth) {
    throw new Error(
      `${decoder} decoder: encoder depth is ${depth} but decoderChannels has ${decoderChannels.length} entries ` +
        `(${JSON.stringify(decoderChannels)}); give one per encoder stage`,
    );
  }
}
