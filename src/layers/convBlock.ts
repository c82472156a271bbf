import * as tf from '@tensorflow/tfjs';
import { initialKernel } from './initialization.js';

/** Options of {@link convBlock}: `convs` × (Conv2D k×k → BatchNormalization → activation [→ Dropout]). */
export interface ConvBlockOptions {
  /** Output channels of every convolution in the block. */
  filters: number;
  /** Square kernel size. Default 3. */
  kernelSize?: number;
  /** Number of conv → BN → activation units. Default 2. */
  convs?: number;
  /** `'valid'` (the classic UNet) or `'same'`. Default `'same'`. */
  padding?: 'valid' | 'same';
  /** Insert BatchNormalization after each convolution. Default true. */
  batchNorm?: boolean;
  /**
   * Momentum of the BatchNormalization moving statistics (Keras convention: moving =
   * momentum · moving + (1 − momentum) · batch). Default 0.9 = PyTorch's momentum 0.1.
   */
  batchNormMomentum?: number;
  /** Any tfjs activation name. Default `'relu'`. */
  activation?: string;
  /** Dropout rate after each activation; 0 disables it. Default 0. */
  dropout?: number;
  /** Kernel initializer name. Default `'heNormal'` (the UNet paper's). */
  kernelInitializer?: string;
  /** Convolution bias. Default true. */
  useBias?: boolean;
  /** BatchNormalization epsilon. Default tfjs's 1e-3 (PyTorch's is 1e-5). */
  batchNormEpsilon?: number;
  /** Layer name prefix; layers are named `${name}_conv1`, `${name}_bn1`, `${name}_act1`, ... */
  name: string;
}

/** Default momentum of the BatchNormalization layers the library builds: Keras 0.9 = PyTorch's 0.1. */
export const DEFAULT_BATCH_NORM_MOMENTUM = 0.9;

/** The per-layer choices a model's conv blocks share. */
export type ConvLayerOptions = Required<Pick<ConvBlockOptions, 'batchNorm' | 'activation' | 'dropout' | 'kernelInitializer'>> &
  Pick<ConvBlockOptions, 'batchNormMomentum'>;

/**
 * A stack of `convs` × (Conv2D → [BatchNormalization] → activation → [Dropout]) applied to a
 * symbolic tensor. Layer names are deterministic, so weights can be matched across models.
 */
export function convBlock(x: tf.SymbolicTensor, opts: ConvBlockOptions): tf.SymbolicTensor {
  const {
    filters,
    kernelSize = 3,
    convs = 2,
    padding = 'same',
    batchNorm = true,
    batchNormMomentum = DEFAULT_BATCH_NORM_MOMENTUM,
    activation = 'relu',
    dropout = 0,
    kernelInitializer = 'heNormal',
    useBias = true,
    batchNormEpsilon,
    name,
  } = opts;
  let y = x;
  for (let i = 1; i <= convs; i++) {
    y = tf.layers
      .conv2d({
        filters,
        kernelSize,
        padding,
        useBias,
        kernelInitializer: initialKernel(kernelInitializer) as never,
        name: `${name}_conv${i}`,
      })
      .apply(y) as tf.SymbolicTensor;
    if (batchNorm) {
      y = tf.layers
        .batchNormalization({ axis: -1, epsilon: batchNormEpsilon, momentum: batchNormMomentum, name: `${name}_bn${i}` })
        .apply(y) as tf.SymbolicTensor;
    }
    y = tf.layers.activation({ activation: activation as never, name: `${name}_act${i}` }).apply(y) as tf.SymbolicTensor;
    if (dropout > 0) {
      y = tf.layers.dropout({ rate: dropout, name: `${name}_drop${i}` }).apply(y) as tf.SymbolicTensor;
    }
  }
  return y;
}
