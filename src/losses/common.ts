import * as tf from '@tensorflow/tfjs';
import { checkPair, withName } from '../util/outputs.js';
import { checkFiniteNumber, invalid } from '../util/validate.js';

/** A loss: `(yTrue, yPred) => scalar`, usable in `model.compile({ loss })` and custom loops. */
export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/** Options every loss factory accepts. */
export interface BaseLossOptions {
  /** `yPred` holds raw logits instead of probabilities (default false). */
  fromLogits?: boolean;
}

/** Clipping constant for probabilities: p is clipped to [EPSILON, 1 - EPSILON]. */
export const EPSILON = 1e-7;

/** Validates an array of class weights: finite and non-negative. */
export function checkWeightArray(where: string, name: string, weights: unknown): number[] {
  if (!Array.isArray(weights) || weights.length === 0) {
    throw invalid(where, name, 'a non-empty array of numbers', weights);
  }
  weights.forEach((w, i) => checkFiniteNumber(where, `${name}[${i}]`, w, { min: 0 }));
  if ((weights as number[]).every((w) => w === 0)) {
    throw new Error(`${where}: ${name} must not all be zero.`);
  }
  return weights as number[];
}

/** Checks a class-weight array against the number of classes seen at call time. */
export function checkWeightCount(where: string, weights: number[], expected: number, what: string): void {
  if (weights.length !== expected) {
    throw new Error(
      `${where}: classWeights has ${weights.length} entries but ${what} needs ${expected}.`,
    );
  }
}

/** Axes of all spatial dimensions (everything but batch axis 0 and the channel axis). */
export function spatialAxes(rank: number): number[] {
  const axes: number[] = [];
  for (let i = 1; i < rank - 1; i++) axes.push(i);
  return axes;
}

/** Builds the final LossFunction: validates, runs inside tf.tidy, names it. */
export function makeLoss(
  name: string,
  extraTrueChannels: number,
  body: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor,
): LossFunction {
  const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar => {
    checkPair(name, yTrue, yPred, extraTrueChannels);
    return tf.tidy(() => body(yTrue, yPred) as tf.Scalar);
  };
  return withName(fn, name);
}

/**
 * Weighted mean over classes of a [B, C] (or [C]) per-(image, class) score, then mean over the
 * remaining axis. `weights` (length C) default to equal.
 */
export function classWeightedMean(score: tf.Tensor, weights: number[] | undefined): tf.Scalar {
  if (!weights) return tf.mean(score);
  const w = tf.tensor1d(weights);
  const total = weights.reduce((a, b) => a + b, 0);
  return tf.mean(tf.div(tf.sum(tf.mul(score, w), -1), total));
}
