import * as tf from '@tensorflow/tfjs';
import type { LossFunction } from './common.js';
import { withName } from '../util/outputs.js';
import { checkFiniteNumber, checkInteger } from '../util/validate.js';
import { callScalarLoss, checkLossFunction } from './combine.js';

/**
 * Per-output loss list for a deep-supervision model (UNet++, UNet 3+), with the output weights
 * baked in because TF.js ignores `lossWeights`:
 * `model.compile({ optimizer, loss: deepSupervisionLosses(lossFn, 4) })`.
 *
 * - `deepSupervisionLosses(loss, count)`: `count` outputs, each weighted 1/count (the total
 *   loss is then the mean of the per-output losses).
 * - `deepSupervisionLosses(loss, weights)`: one output per weight, each loss multiplied by it.
 * - `deepSupervisionLosses(loss, weights, count)`: as above, and checks weights.length === count.
 *
 * Weights must be finite, non-negative and not all zero. Each returned function returns a scalar.
 */
export function deepSupervisionLosses(
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor,
  weightsOrCount: number[] | number,
  numOutputs?: number,
): LossFunction[] {
  const where = 'deepSupervisionLosses';
  checkLossFunction(where, loss, 'loss');
  const checkCount = (n: unknown, label: string): number => checkInteger(where, label, n);
  let weights: number[];
  if (typeof weightsOrCount === 'number') {
    const n = checkCount(weightsOrCount, 'the number of outputs');
    if (numOutputs !== undefined && checkCount(numOutputs, 'numOutputs') !== n) {
      throw new Error(`${where}: got count ${n} and numOutputs ${numOutputs}; they must agree.`);
    }
    weights = Array(n).fill(1 / n);
  } else if (Array.isArray(weightsOrCount)) {
    if (weightsOrCount.length === 0) throw new Error(`${where}: weights must not be empty.`);
    weightsOrCount.forEach((w, i) => checkFiniteNumber(where, `weights[${i}]`, w, { min: 0 }));
    if (weightsOrCount.every((w) => w === 0)) {
      throw new Error(`${where}: weights must not all be zero (no output would be trained).`);
    }
    if (numOutputs !== undefined && weightsOrCount.length !== checkCount(numOutputs, 'numOutputs')) {
      throw new Error(
        `${where}: ${weightsOrCount.length} weights given for a model with ${numOutputs} outputs; ` +
          'pass exactly one weight per output.',
      );
    }
    weights = weightsOrCount.slice();
  } else {
    throw new Error(
      `${where}: second argument must be the number of outputs or an array of per-output weights, ` +
        `got ${String(weightsOrCount)}.`,
    );
  }
  const base = loss.name || 'loss';
  return weights.map((w, i) =>
    withName(
      (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar =>
        tf.tidy(() => tf.mul(callScalarLoss(where, loss, yTrue, yPred), w) as tf.Scalar),
      `${base}_output${i}`,
    ),
  );
}
