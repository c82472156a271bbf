import * as tf from '@tensorflow/tfjs';
import type { LossFunction } from './common.js';
import { withName } from '../util/outputs.js';
import { checkFiniteNumber } from '../util/validate.js';

/** Checks that `loss` is callable and returns a scalar result tensor; used by combinators. */
export function callScalarLoss(
  where: string,
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
): tf.Scalar {
  const value = loss(yTrue, yPred);
  if (!(value instanceof tf.Tensor) || value.rank !== 0) {
    const got = value instanceof tf.Tensor ? `a tensor of shape [${value.shape}]` : String(value);
    throw new Error(
      `${where}: loss '${loss.name || 'anonymous'}' must return a scalar tf.Tensor, got ${got}.`,
    );
  }
  return value as tf.Scalar;
}

export function checkLossFunction(where: string, loss: unknown, label: string): LossFunction {
  if (typeof loss !== 'function') {
    throw new Error(`${where}: ${label} must be a loss function (yTrue, yPred) => scalar, got ${String(loss)}.`);
  }
  return loss as LossFunction;
}

/**
 * Weighted sum of losses, e.g. the UNet++ paper's BCE + Dice:
 * `combine([[losses.binaryCrossentropy(), 0.5], [losses.dice(), 1]])`.
 */
export function combine(terms: Array<[LossFunction, number]>): LossFunction {
  const where = 'combine';
  if (!Array.isArray(terms) || terms.length === 0) {
    throw new Error(`${where}: expected a non-empty array of [loss, weight] pairs.`);
  }
  const checked = terms.map((term, i) => {
    if (!Array.isArray(term) || term.length !== 2) {
      throw new Error(`${where}: entry ${i} must be a [loss, weight] pair.`);
    }
    const loss = checkLossFunction(where, term[0], `entry ${i}'s loss`);
    const weight = checkFiniteNumber(where, `entry ${i}'s weight`, term[1], { min: 0 });
    return [loss, weight] as const;
  });
  const name = checked.map(([l]) => l.name || 'loss').join('_plus_');
  const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar =>
    tf.tidy(() =>
      checked
        .map(([loss, w]) => tf.mul(callScalarLoss(where, loss, yTrue, yPred), w) as tf.Scalar)
        .reduce((a, b) => tf.add(a, b)),
    );
  return withName(fn, name);
}
