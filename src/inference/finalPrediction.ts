import type * as tf from '@tensorflow/tfjs';

/**
 * The final segmentation output of a model's prediction: the prediction itself for a
 * single-output model, the first output for a multi-output one (deep supervision and the UNet 3+
 * classification head list the final output first). Browser-safe.
 */
export function finalPrediction(out: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(out) ? out[0]! : out;
}
