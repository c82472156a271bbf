import * as tf from '@tensorflow/tfjs';
import { checkFiniteNumber } from '../util/validate.js';

/** A loss: `(yTrue, yPred) => scalar`, usable in `model.compile({ loss })` and custom loops. */
export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/**
 * How the model output is interpreted. 'binary': sigmoid outputs (1 channel, or several
 * independent channels). 'categorical': softmax over the last axis with one-hot `yTrue`.
 * 'auto' (default where offered): 'binary' when the output has 1 channel, else 'categorical'.
 */
export type OutputMode = 'binary' | 'categorical';

/** Options every loss factory accepts. */
export interface BaseLossOptions {
  /** `yPred` holds raw logits instead of probabilities (default false). */
  fromLogits?: boolean;
}

/** Clipping constant for probabilities: p is clipped to [EPSILON, 1 - EPSILON]. */
export const EPSILON = 1e-7;

/** Gives a function a readable `.name` (tfjs-layers logs metrics under `fn.name`). */
export function withName<F extends Function>(fn: F, name: string): F {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return fn;
}

/** Resolves 'auto' (or undefined) to a concrete mode from the channel count. */
export function resolveMode(mode: OutputMode | 'auto' | undefined, channels: number): OutputMode {
  if (mode === undefined || mode === 'auto') return channels === 1 ? 'binary' : 'categorical';
  return mode;
}

export function checkModeOption(where: string, mode: unknown): void {
  if (mode !== undefined && mode !== 'auto' && mode !== 'binary' && mode !== 'categorical') {
    throw new Error(
      `${where}: mode must be 'binary', 'categorical' or 'auto', got ${JSON.stringify(mode)}.`,
    );
  }
}

/** Validates an array of class weights: finite and non-negative. */
export function checkWeightArray(where: string, name: string, weights: unknown): number[] {
  if (!Array.isArray(weights) || weights.length === 0) {
    throw new Error(`${where}: ${name} must be a non-empty array of numbers, got ${String(weights)}.`);
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

/**
 * Validates a (yTrue, yPred) pair: tensors, float32, same rank >= 2, same shape except that
 * yTrue may carry `extraTrueChannels` more channels on the last axis (the packed weight map).
 */
export function checkPair(
  where: string,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  extraTrueChannels = 0,
): void {
  if (!(yTrue instanceof tf.Tensor) || !(yPred instanceof tf.Tensor)) {
    throw new Error(`${where}: yTrue and yPred must both be tf.Tensor objects.`);
  }
  if (yTrue.dtype !== 'float32' || yPred.dtype !== 'float32') {
    throw new Error(
      `${where}: yTrue (dtype ${yTrue.dtype}, shape [${yTrue.shape}]) and yPred (dtype ` +
        `${yPred.dtype}, shape [${yPred.shape}]) must both be float32; cast with ` +
        `tf.cast(t, 'float32').`,
    );
  }
  const rankOk = yPred.rank >= 2 && yTrue.rank === yPred.rank;
  const expectedTrue = yPred.shape.slice();
  expectedTrue[expectedTrue.length - 1] += extraTrueChannels;
  const shapeOk = rankOk && expectedTrue.every((d, i) => d === yTrue.shape[i]);
  if (!shapeOk) {
    const note =
      extraTrueChannels > 0
        ? ` (with weightMap: true, yTrue must have yPred's shape plus ${extraTrueChannels} ` +
          `channel for the packed weight map, i.e. [${expectedTrue}])`
        : ' (they must be equal; tensors are NHWC with channels last)';
    throw new Error(
      `${where}: yTrue shape [${yTrue.shape}] does not match yPred shape [${yPred.shape}]${note}.`,
    );
  }
}

/** Axes of all spatial dimensions (everything but batch axis 0 and the channel axis). */
export function spatialAxes(rank: number): number[] {
  const axes: number[] = [];
  for (let i = 1; i < rank - 1; i++) axes.push(i);
  return axes;
}

/** Probabilities from `yPred`: sigmoid / softmax when `fromLogits`, else as given. */
export function toProbabilities(yPred: tf.Tensor, mode: OutputMode, fromLogits: boolean): tf.Tensor {
  if (!fromLogits) return yPred;
  return mode === 'binary' ? tf.sigmoid(yPred) : tf.softmax(yPred, -1);
}

/** Splits a packed yTrue ([..., C + 1]) into target ([..., C]) and weight map ([..., 1]). */
export function unpackWeightChannel(yTrue: tf.Tensor): { target: tf.Tensor; weights: tf.Tensor } {
  const c = yTrue.shape[yTrue.rank - 1];
  const [target, weights] = tf.split(yTrue, [c - 1, 1], -1);
  return { target, weights };
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
