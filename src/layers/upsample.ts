import * as tf from '@tensorflow/tfjs';
import { initialKernel } from './initialization.js';

/** How a decoder doubles the spatial size. */
export type UpsamplingMode = 'transpose' | 'bilinear' | 'nearest';
export const UPSAMPLING_MODES: readonly UpsamplingMode[] = ['transpose', 'bilinear', 'nearest'];

/** Options of {@link upsample2x}. */
export interface UpsampleOptions {
  mode: UpsamplingMode;
  /** Output channels of the 2×2 up-convolution (`'transpose'` only). */
  filters: number;
  kernelInitializer?: string;
  name: string;
}

/**
 * Doubles height and width.
 * - `'transpose'`: Conv2DTranspose 2×2, stride 2, to `filters` channels (the papers' up-conv).
 * - `'bilinear'` / `'nearest'`: a parameter-free ×2 resize that keeps the channel count
 *   (tfjs `UpSampling2D`; bilinear uses TensorFlow's `align_corners=False` sampling).
 */
export function upsample2x(x: tf.SymbolicTensor, opts: UpsampleOptions): tf.SymbolicTensor {
  const { mode, filters, kernelInitializer = 'heNormal', name } = opts;
  if (mode === 'transpose') {
    return tf.layers
      .conv2dTranspose({
        filters,
        kernelSize: 2,
        strides: 2,
        padding: 'valid',
        kernelInitializer: initialKernel(kernelInitializer) as never,
        name,
      })
      .apply(x) as tf.SymbolicTensor;
  }
  return upsampleBy(x, 2, mode, name);
}

/** Parameter-free resize by an integer `factor` (`'bilinear'` or `'nearest'`). */
export function upsampleBy(
  x: tf.SymbolicTensor,
  factor: number,
  mode: 'bilinear' | 'nearest',
  name: string,
): tf.SymbolicTensor {
  return tf.layers.upSampling2d({ size: [factor, factor], interpolation: mode, name }).apply(x) as tf.SymbolicTensor;
}
