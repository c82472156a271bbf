import * as tf from '@tensorflow/tfjs';

/** A loss of one output: `(yTrue, yPred) → scalar`. */
export type OutputLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/**
 * One loss per output of a deep-supervised model, with the weights baked in (TF.js ignores
 * `lossWeights` in `compile`): the k-th function returns `weights[k] × loss(yTrue, yPred)`.
 *
 * `weights` is either the number of outputs (equal weights 1, as in the UNet++ paper) or one
 * weight per output (finite, ≥ 0, at least one > 0). The functions are named `ds_loss_0`,
 * `ds_loss_1`, ... and must be given in the model's output order:
 *
 * ```ts
 * model.compile({ optimizer: 'adam', loss: deepSupervisionLosses(bce, model.outputs.length) });
 * ```
 *
 * `loss` must return a scalar (TF.js's per-output losses are scalars); anything else throws.
 */
export function deepSupervisionLosses(
  loss: OutputLoss,
  weights: number[] | number,
): Array<(yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar> {
  if (typeof loss !== 'function') {
    throw new Error('deepSupervisionLosses: loss must be a function (yTrue, yPred) => scalar tensor');
  }
  let ws: number[];
  if (typeof weights === 'number') {
    if (!Number.isInteger(weights) || weights < 1) {
      throw new Error(
        `deepSupervisionLosses: the number of outputs must be an integer >= 1, got ${weights} ` +
          '(or pass one weight per output as an array)',
      );
    }
    ws = new Array<number>(weights).fill(1);
  } else if (Array.isArray(weights)) {
    if (weights.length === 0) {
      throw new Error('deepSupervisionLosses: weights must list one weight per output, got an empty array');
    }
    const bad = weights.findIndex((w) => typeof w !== 'number' || !Number.isFinite(w) || w < 0);
    if (bad !== -1) {
      throw new Error(
        `deepSupervisionLosses: every weight must be a finite number >= 0, got ${String(weights[bad])} at index ${bad}`,
      );
    }
    if (!weights.some((w) => w > 0)) {
      throw new Error('deepSupervisionLosses: at least one weight must be > 0 (all are 0: nothing would be trained)');
    }
    ws = [...weights];
  } else {
    throw new Error(
      `deepSupervisionLosses: weights must be a number of outputs or an array of weights, got ${String(weights)}`,
    );
  }
  return ws.map((w, k) => {
    const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar =>
      tf.tidy(() => {
        const value = loss(yTrue, yPred);
        if (!(value instanceof tf.Tensor) || value.rank !== 0) {
          const shape = value instanceof tf.Tensor ? `shape [${value.shape.join(', ')}]` : `a ${typeof value}`;
          throw new Error(
            `deepSupervisionLosses: the loss of output ${k} returned ${shape}; per-output losses must ` +
              'return scalars (reduce it, e.g. with tf.mean)',
          );
        }
        return tf.mul(value, w) as tf.Scalar;
      });
    Object.defineProperty(fn, 'name', { value: `ds_loss_${k}` });
    return fn;
  });
}
