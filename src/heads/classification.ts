import * as tf from '@tensorflow/tfjs';
import { ClassGate, type ClassGateActivation } from '../layers/classGate.js';
import { initialKernel } from '../layers/initialization.js';

/** Name of the `cls` output of a model with the classification-guided module. */
export const CGM_OUTPUT_NAME = 'cls';

/**
 * UNet 3+'s classification-guided module (CGM) on the deepest feature map: Dropout(0.5) → 1×1 conv
 * to 2 → global max-pool → sigmoid. Output `cls` `[B, 2]` = [P(no object), P(object)].
 */
export function cgmBranch(deepest: tf.SymbolicTensor, opts: { kernelInitializer: string }): tf.SymbolicTensor {
  let c = tf.layers.dropout({ rate: 0.5, name: 'cls_dropout' }).apply(deepest) as tf.SymbolicTensor;
  c = tf.layers
    .conv2d({ filters: 2, kernelSize: 1, kernelInitializer: initialKernel(opts.kernelInitializer) as never, name: 'cls_conv' })
    .apply(c) as tf.SymbolicTensor;
  c = tf.layers.globalMaxPooling2d({ name: 'cls_pool' }).apply(c) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: 'sigmoid', name: CGM_OUTPUT_NAME }).apply(c) as tf.SymbolicTensor;
}

/**
 * Gates every segmentation map with the CGM's decision ({@link ClassGate}: identity in training,
 * empty images become background at inference). `names[i]` names the gate of `seg[i]`.
 */
export function gateByClass(
  seg: tf.SymbolicTensor[],
  cls: tf.SymbolicTensor,
  activation: ClassGateActivation,
  names: string[],
): tf.SymbolicTensor[] {
  return seg.map(
    (y, i) => new ClassGate({ activation, name: names[i]! }).apply([y, cls]) as tf.SymbolicTensor,
  );
}

/** Options of {@link cgmTargets}. */
export interface CgmTargetsOptions {
  /** A pixel is "object" when a non-background value exceeds this. Default 0.5. */
  threshold?: number;
}

/**
 * Targets of the CGM's `cls` output from a batch of masks `[B, H, W, C]`: `[B, 2]` float32 one-hot
 * `[empty, object]`, where an image holds an object when any pixel is non-background:
 * - `C = 1` (binary masks, or integer class maps with 0 = background): any value > `threshold`;
 * - `C > 1` (one-hot, channel 0 = background): any value of channels 1.. > `threshold`.
 */
export function cgmTargets(masks: tf.Tensor, opts: CgmTargetsOptions = {}): tf.Tensor2D {
  if (!(masks instanceof tf.Tensor) || masks.rank !== 4) {
    const shape = masks instanceof tf.Tensor ? JSON.stringify(masks.shape) : typeof masks;
    throw new Error(`cgmTargets: masks must be a [batch, height, width, channels] tensor, got ${shape}`);
  }
  const threshold = opts.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new Error(`cgmTargets: threshold must be a finite number, got ${String(threshold)}`);
  }
  const [b, h, w, c] = masks.shape as [number, number, number, number];
  if (c < 1) throw new Error('cgmTargets: masks have no channels');
  return tf.tidy(() => {
    const foreground = c === 1 ? masks : tf.slice(masks, [0, 0, 0, 1], [b, h, w, c - 1]);
    const peak = tf.max(tf.reshape(tf.cast(foreground, 'float32'), [b, -1]), 1);
    const object = tf.cast(tf.greater(peak, threshold), 'int32');
    return tf.oneHot(object, 2).cast('float32') as tf.Tensor2D;
  });
}
