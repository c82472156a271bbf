import * as tf from '@tensorflow/tfjs';
import { convBlock, type ConvLayerOptions } from '../layers/convBlock.js';
import type { FeaturePyramid } from './types.js';

/**
 * Layer names of the plain encoder. Each existing model keeps its own scheme, so weights saved by
 * earlier versions still load by name.
 */
export interface ConvEncoderNaming {
  /** Name prefix of the conv block at `level` (0-based, stride 2^level) of an encoder of `depth` poolings. */
  block(level: number, depth: number): string;
  /** Name of the 2×2 max-pool that follows the block at `level`. */
  pool(level: number): string;
  /** Padding of the 2×2 max-pools (equal results on sizes divisible by 2; kept for the saved configs). */
  poolPadding: 'valid' | 'same';
}

/** The naming schemes of the library's models. */
export const CONV_ENCODER_NAMING: Readonly<Record<'unet' | 'unetPlusPlus' | 'unet3Plus', ConvEncoderNaming>> = {
  /** UNet and padded UNet: `enc{level}` … `bottleneck`, pools `pool{level}`. */
  unet: {
    block: (level, depth) => (level === depth ? 'bottleneck' : `enc${level}`),
    pool: (level) => `pool${level}`,
    poolPadding: 'valid',
  },
  /** UNet++: node X^{i,0} is `x{i}_0`, pools `pool{i}`. */
  unetPlusPlus: {
    block: (level) => `x${level}_0`,
    pool: (level) => `pool${level}`,
    poolPadding: 'valid',
  },
  /** UNet 3+: the paper's 1-based X_En^s is `enc{s}`, the pool before it `pool{s-1}`. */
  unet3Plus: {
    block: (level) => `enc${level + 1}`,
    pool: (level) => `pool${level + 1}`,
    poolPadding: 'same',
  },
};

/** Options of {@link convBlockEncoder}. */
export interface ConvEncoderOptions extends ConvLayerOptions {
  /** Filters per level, shallow to deep: `filters.length − 1` poolings. */
  filters: number[];
  /** `'valid'` (the classic UNet: each 3×3 conv trims 2 pixels) or `'same'`. */
  padding: 'valid' | 'same';
  naming: ConvEncoderNaming;
}

/**
 * The plain conv-block encoder of the original papers: a conv block (2 × conv3×3 → [BN] → act
 * [→ dropout]) per level with a 2×2 max-pool between levels. Returns its pyramid: feature `i` is
 * the block at level `i` (stride 2^i, `filters[i]` channels); the deepest one is the bottleneck.
 * With `'valid'` padding the strides are nominal (the maps also shrink by the convolutions).
 */
export function convBlockEncoder(input: tf.SymbolicTensor, opts: ConvEncoderOptions): FeaturePyramid {
  const { filters, naming, padding, ...layers } = opts;
  const depth = filters.length - 1;
  const features: tf.SymbolicTensor[] = [];
  let x = input;
  for (let level = 0; level <= depth; level++) {
    if (level > 0) {
      x = tf.layers
        .maxPooling2d({ poolSize: 2, strides: 2, padding: naming.poolPadding, name: naming.pool(level - 1) })
        .apply(x) as tf.SymbolicTensor;
    }
    x = convBlock(x, { ...layers, filters: filters[level]!, padding, name: naming.block(level, depth) });
    features.push(x);
  }
  return { features, channels: [...filters], strides: filters.map((_, i) => 2 ** i) };
}
