import * as tf from '@tensorflow/tfjs';
import { Resize2D } from '../layers/resize.js';
import { upsampleBy } from '../layers/upsample.js';
import { initialKernel } from '../layers/initialization.js';

/** Options of {@link segmentationHead}. */
export interface SegmentationHeadOptions {
  numClasses: number;
  /** Any tfjs activation; `'linear'` gives logits. */
  activation: string;
  /** Square kernel size. Default 1. */
  kernelSize?: number;
  /** Default `'glorotUniform'` (segmentation_models.pytorch's head init, xavier_uniform). */
  kernelInitializer?: string;
  /** Name of the convolution. Without `activationName` and `upsample` it also applies the activation. */
  name: string;
  /**
   * Bilinear upsampling of the logits by this integer factor before the activation (the deep-
   * supervision heads of stages below full resolution). Default 1 (none).
   */
  upsample?: number;
  /** How to upsample: tfjs `UpSampling2D` (`'keras'`, UNet 3+) or PyTorch's bilinear rule (`'torch'`). Default `'keras'`. */
  upsampleRule?: 'keras' | 'torch';
  /** Name of the upsampling layer. Default `${name}_up`. */
  upsampleName?: string;
  /** A separate activation layer of this name (then it names the head's output). */
  activationName?: string;
}

/**
 * The output head: Conv2D k×k (with bias) to `numClasses`, optionally a bilinear upsampling of the
 * logits, then the activation. segmentation_models.pytorch's `SegmentationHead` is the 3×3 form
 * with a fused activation (`activation=None` there is `'linear'` here).
 */
export function segmentationHead(x: tf.SymbolicTensor, opts: SegmentationHeadOptions): tf.SymbolicTensor {
  const factor = opts.upsample ?? 1;
  const separate = opts.activationName !== undefined || factor > 1;
  let y = tf.layers
    .conv2d({
      filters: opts.numClasses,
      kernelSize: opts.kernelSize ?? 1,
      padding: 'same',
      activation: (separate ? 'linear' : opts.activation) as never,
      kernelInitializer: initialKernel(opts.kernelInitializer ?? 'glorotUniform') as never,
      name: opts.name,
    })
    .apply(x) as tf.SymbolicTensor;
  if (factor > 1) {
    const upName = opts.upsampleName ?? `${opts.name}_up`;
    y =
      opts.upsampleRule === 'torch'
        ? (new Resize2D({ scale: factor, interpolation: 'bilinear', name: upName }).apply(y) as tf.SymbolicTensor)
        : upsampleBy(y, factor, 'bilinear', upName);
  }
  if (!separate) return y;
  return tf.layers
    .activation({ activation: opts.activation as never, name: opts.activationName ?? `${opts.name}_activation` })
    .apply(y) as tf.SymbolicTensor;
}
