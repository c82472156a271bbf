/**
 * UNet++ decoders over a {@link FeaturePyramid}:
 * - {@link unetPlusPlusDecoder}: the paper's nested dense skip pathways (Zhou et al., 2018) over
 *   every feature, f0 included; nodes `x{i}_{j}`.
 * - {@link smpUnetPlusPlusDecoder}: segmentation_models.pytorch's `UnetPlusPlusDecoder` over
 *   f1 … f_D; nodes `decoder.blocks.x_{d}_{l}` (SMP module paths).
 */
import * as tf from '@tensorflow/tfjs';
import type { FeaturePyramid } from '../encoders/types.js';
import { convBlock, type ConvLayerOptions } from '../layers/convBlock.js';
import { upsample2x, type UpsamplingMode } from '../layers/upsample.js';
import { smpDecoderBlock, type ResolvedSmpDecoderOptions } from './modules.js';
import { checkDecoderDepth } from './unet.js';

/** Options of {@link unetPlusPlusDecoder}. */
export interface UNetPlusPlusDecoderOptions extends ConvLayerOptions {
  upsampling: UpsamplingMode;
}

/**
 * The UNet++ decoder of the paper. X^{i,0} = features[i]; every decoder node is
 * X^{i,j} = convBlock(concat[X^{i,0}, …, X^{i,j−1}, up(X^{i+1,j−1})]) with `channels[i]` filters,
 * built column by column. Layer names: the block `x{i}_{j}`, its upsampling `x{i}_{j}_up`, its
 * concatenation `x{i}_{j}_concat`. `'transpose'` upsampling is a 2×2 stride-2 Conv2DTranspose to
 * `channels[i]` (the original Keras code); `'bilinear'`/`'nearest'` keep the deeper node's channels.
 *
 * Returns the top row X^{0,0} … X^{0,L} (all at stride 1; X^{0,0} is features[0]).
 */
export function unetPlusPlusDecoder(pyramid: FeaturePyramid, opts: UNetPlusPlusDecoderOptions): tf.SymbolicTensor[] {
  const { features, channels } = pyramid;
  const { upsampling, ...layers } = opts;
  const depth = features.length - 1;
  // nodes[i][j] = X^{i,j}
  const nodes: tf.SymbolicTensor[][] = features.map((f) => [f]);
  for (let j = 1; j <= depth; j++) {
    for (let i = 0; i + j <= depth; i++) {
      const up = upsample2x(nodes[i + 1]![j - 1]!, {
        mode: upsampling,
        filters: channels[i]!,
        kernelInitializer: opts.kernelInitializer,
        name: `x${i}_${j}_up`,
      });
      const cat = tf.layers
        .concatenate({ axis: -1, name: `x${i}_${j}_concat` })
        .apply([...nodes[i]!.slice(0, j), up]) as tf.SymbolicTensor;
      nodes[i]![j] = convBlock(cat, { ...layers, filters: channels[i]!, padding: 'same', name: `x${i}_${j}` });
    }
  }
  return nodes[0]!;
}

/** What {@link smpUnetPlusPlusDecoder} returns. */
export interface SmpUnetPlusPlusNodes {
  /** x_0_{D−1}: the final stride-1 map (`decoderChannels[D−1]` channels). */
  output: tf.SymbolicTensor;
  /**
   * The stride-2 nodes x_0_{D−2}, x_1_{D−2}, …, x_{D−2}_{D−2}: the paper's X^{0,D−1} … X^{0,1}
   * (the deepest nesting first), for deep supervision. Empty at depth 1.
   */
  stride2: tf.SymbolicTensor[];
}

/**
 * segmentation_models.pytorch's `UnetPlusPlusDecoder`. With F = [f_D, …, f_1] (f0 is dropped) and
 * SMP's channel lists `in = [c_D, dec_0 … dec_{D−2}]`, `skip = [c_{D−1} … c_1, 0]`, `out = dec`:
 *
 * - x_l_l = B(F[l], F[l+1]) for l = 0 … D−2 (first column of every level);
 * - x_d_l = B(x_d_{l−1}, cat[x_{d+1}_l, …, x_l_l, F[l+1]]) for 0 ≤ d < l ≤ D−2;
 * - x_0_{D−1} = B(x_0_{D−2}) with no skip: the output.
 *
 * B = {@link smpDecoderBlock} with exact ×2 upsampling (`scale_factor=2`), so H and W must be
 * divisible by 2^D. Node x_d_l has `out_l` channels for d = 0 and `skip_l` otherwise. SMP's
 * center block is never applied by its UnetPlusPlus forward and is not built here.
 */
export function smpUnetPlusPlusDecoder(pyramid: FeaturePyramid, opts: ResolvedSmpDecoderOptions): SmpUnetPlusPlusNodes {
  const depth = pyramid.features.length - 1;
  checkDecoderDepth('UnetPlusPlus', depth, opts.decoderChannels);
  const F = pyramid.features.slice(1).reverse();
  const skipChannels = [...pyramid.channels.slice(1).reverse().slice(1), 0];
  const nodes = new Map<string, tf.SymbolicTensor>();
  const block = (d: number, l: number, x: tf.SymbolicTensor, skips: tf.SymbolicTensor[]) => {
    const name = `x_${d}_${l}`;
    const y = smpDecoderBlock(x, skips, {
      filters: d === 0 ? opts.decoderChannels[l]! : skipChannels[l]!,
      batchNorm: opts.decoderBatchNorm,
      interpolation: opts.decoderInterpolation,
      name: `decoder.blocks.${name}`,
      scale: 2,
    });
    nodes.set(name, y);
    return y;
  };
  // SMP's forward order: column by column (l = d + offset).
  for (let offset = 0; offset < depth - 1; offset++) {
    for (let d = 0; d < depth - 1 - offset; d++) {
      const l = d + offset;
      if (offset === 0) {
        block(d, l, F[d]!, [F[d + 1]!]);
      } else {
        const dense = Array.from({ length: l - d }, (_, k) => nodes.get(`x_${d + 1 + k}_${l}`)!);
        block(d, l, nodes.get(`x_${d}_${l - 1}`)!, [...dense, F[l + 1]!]);
      }
    }
  }
  const last = depth - 1;
  const output = block(0, last, depth === 1 ? F[0]! : nodes.get(`x_0_${last - 1}`)!, []);
  const stride2 = depth === 1 ? [] : Array.from({ length: depth - 1 }, (_, d) => nodes.get(`x_${d}_${depth - 2}`)!);
  return { output, stride2 };
}
