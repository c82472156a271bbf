/**
 * The UNet 3+ decoder (Huang et al., ICASSP 2020) over a {@link FeaturePyramid}: full-scale skip
 * connections, every decoder stage fuses every scale.
 */
import * as tf from '@tensorflow/tfjs';
import type { FeaturePyramid } from '../encoders/types.js';
import { convBlock, type ConvLayerOptions } from '../layers/convBlock.js';
import { upsampleBy } from '../layers/upsample.js';

/** Options of {@link unet3PlusDecoder}. */
export interface UNet3PlusDecoderOptions extends ConvLayerOptions {
  /** Channels of each of the `n` inputs of a decoder stage (the paper's CatChannels). */
  catChannels: number;
  /**
   * First pyramid feature used: 0 (the plain encoder: every feature, full-resolution top stage) or
   * 1 (an ImageNet encoder: f0 is the input itself and is left out, as segmentation_models.pytorch's
   * decoders do; the top stage is at stride 2).
   */
  firstFeature: 0 | 1;
  /** BatchNormalization epsilon of the units. Default tfjs's 1e-3; encoder models use PyTorch's 1e-5. */
  batchNormEpsilon?: number;
}

/** The decoder stages, shallow → deep. */
export interface UNet3PlusStages {
  /**
   * `stages[k−1]` is the paper's X_De^k for k = 1 … n (n = the number of features used): the fused
   * stage maps, and `stages[n−1]` = the deepest feature (the bottleneck, X_En^n).
   */
  stages: tf.SymbolicTensor[];
  /** Stride of each stage relative to the input (`pyramid.strides`). */
  strides: number[];
}

/**
 * Let S_1 … S_n be the features used (`pyramid.features[firstFeature …]`, each at twice the
 * stride of the previous). Stage d = n−1 … 1 fuses all n scales, each through a conv unit
 * (conv3×3 → `catChannels` → [BN] → act) named `dec{d}_enc{s}` / `dec{d}_dec{s}`:
 * - s < d: S_s max-pooled by 2^{d−s} (`…_pool`, kernel = stride, `'same'` = PyTorch's ceil_mode);
 * - s = d: S_d;
 * - s > d: stage s (S_n for s = n) upsampled bilinearly by 2^{s−d} (`…_up`).
 * They are concatenated (`dec{d}_concat`) and fused by one more unit to `n · catChannels` channels
 * (`dec{d}_fuse`). Indices are 1-based over the used features, so with `firstFeature` 1 they equal
 * the pyramid's: stage d is at stride 2^d.
 */
export function unet3PlusDecoder(pyramid: FeaturePyramid, opts: UNet3PlusDecoderOptions): UNet3PlusStages {
  const sources = pyramid.features.slice(opts.firstFeature);
  const n = sources.length;
  if (n < 2) {
    throw new Error(
      `UNet 3+ decoder: needs at least 2 features from f${opts.firstFeature} on, the pyramid has ${pyramid.features.length} in all`,
    );
  }
  const layers: ConvLayerOptions = {
    batchNorm: opts.batchNorm,
    batchNormMomentum: opts.batchNormMomentum,
    activation: opts.activation,
    dropout: opts.dropout,
    kernelInitializer: opts.kernelInitializer,
  };
  const convUnit = (x: tf.SymbolicTensor, filters: number, name: string) =>
    convBlock(x, { ...layers, batchNormEpsilon: opts.batchNormEpsilon, filters, convs: 1, padding: 'same', name });
  const pool = (x: tf.SymbolicTensor, factor: number, name: string) =>
    tf.layers.maxPooling2d({ poolSize: factor, strides: factor, padding: 'same', name }).apply(x) as tf.SymbolicTensor;

  // enc[s] = S_s and dec[d] = X_De^d, 1-based; the deepest feature serves as dec[n].
  const enc = [undefined, ...sources];
  const dec: tf.SymbolicTensor[] = [];
  dec[n] = enc[n]!;
  for (let d = n - 1; d >= 1; d--) {
    const parts: tf.SymbolicTensor[] = [];
    for (let s = 1; s <= n; s++) {
      if (s < d) {
        const tag = `dec${d}_enc${s}`;
        parts.push(convUnit(pool(enc[s]!, 2 ** (d - s), `${tag}_pool`), opts.catChannels, tag));
      } else if (s === d) {
        parts.push(convUnit(enc[s]!, opts.catChannels, `dec${d}_enc${s}`));
      } else {
        const tag = `dec${d}_dec${s}`;
        parts.push(convUnit(upsampleBy(dec[s]!, 2 ** (s - d), 'bilinear', `${tag}_up`), opts.catChannels, tag));
      }
    }
    const cat = tf.layers.concatenate({ axis: -1, name: `dec${d}_concat` }).apply(parts) as tf.SymbolicTensor;
    dec[d] = convUnit(cat, opts.catChannels * n, `dec${d}_fuse`);
  }
  return { stages: dec.slice(1), strides: pyramid.strides.slice(opts.firstFeature) };
}
