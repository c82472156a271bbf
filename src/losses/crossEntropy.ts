import * as tf from '@tensorflow/tfjs';
import { BaseLossOptions, EPSILON, LossFunction, checkWeightArray, checkWeightCount, makeLoss } from './common.js';
import { OutputMode, checkModeOption, resolveMode, unpackWeightChannel } from '../util/outputs.js';

/**
 * Element-wise binary cross-entropy. Probabilities are clipped to [ε, 1−ε]; logits use the
 * stable form max(z,0) − z·t + log(1 + e^(−|z|)).
 */
export function binaryCrossEntropyElementwise(
  t: tf.Tensor,
  yPred: tf.Tensor,
  fromLogits: boolean,
): tf.Tensor {
  if (fromLogits) {
    const z = yPred;
    return tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
  }
  const p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
  return tf.neg(
    tf.add(tf.mul(t, tf.log(p)), tf.mul(tf.sub(1, t), tf.log(tf.sub(1, p)))),
  );
}

/** log p over the last axis for softmax outputs (log-softmax for logits, clipped log otherwise). */
export function categoricalLogProbabilities(yPred: tf.Tensor, fromLogits: boolean): tf.Tensor {
  return fromLogits ? tf.logSoftmax(yPred, -1) : tf.log(tf.clipByValue(yPred, EPSILON, 1 - EPSILON));
}

/** Per-pixel categorical cross-entropy −Σ_c t_c log p_c (last axis reduced). */
export function categoricalCrossEntropyPixelwise(
  t: tf.Tensor,
  yPred: tf.Tensor,
  fromLogits: boolean,
): tf.Tensor {
  return tf.neg(tf.sum(tf.mul(t, categoricalLogProbabilities(yPred, fromLogits)), -1));
}

/** Binary cross-entropy: mean over all elements. Sigmoid outputs (any number of channels). */
export function binaryCrossentropy(options: BaseLossOptions = {}): LossFunction {
  const fromLogits = options.fromLogits ?? false;
  return makeLoss('binaryCrossentropy', 0, (t, p) =>
    tf.mean(binaryCrossEntropyElementwise(t, p, fromLogits)),
  );
}

/** Categorical cross-entropy: mean over pixels of −Σ_c t_c log p_c. Softmax outputs, one-hot yTrue. */
export function categoricalCrossentropy(options: BaseLossOptions = {}): LossFunction {
  const fromLogits = options.fromLogits ?? false;
  return makeLoss('categoricalCrossentropy', 0, (t, p) =>
    tf.mean(categoricalCrossEntropyPixelwise(t, p, fromLogits)),
  );
}

export interface WeightedCrossEntropyOptions extends BaseLossOptions {
  /** 'binary' (sigmoid), 'categorical' (softmax) or 'auto' (default: binary iff 1 channel). */
  mode?: OutputMode | 'auto';
  /**
   * Per-class weights: binary mode [background, foreground]; categorical mode one per channel.
   * 'balanced': N / (numClasses · N_c) computed per batch (a class absent from the batch gets 0).
   * Default: all ones.
   */
  classWeights?: number[] | 'balanced';
  /** The last channel of yTrue is a per-pixel weight map; the other channels are the target. */
  weightMap?: boolean;
}

/**
 * Per-class weight, evaluated at every position of `t` (binary: element-wise; categorical:
 * per pixel with the channel axis reduced). Soft targets interpolate linearly.
 */
function classWeightTensor(
  t: tf.Tensor,
  mode: OutputMode,
  classWeights: number[] | 'balanced',
): tf.Tensor {
  const channels = t.shape[t.rank - 1];
  if (mode === 'binary') {
    let w0: tf.Tensor;
    let w1: tf.Tensor;
    if (classWeights === 'balanced') {
      const n = t.size;
      const n1 = tf.sum(t);
      [w0, w1] = [balancedWeight(n, tf.sub(n, n1), 2), balancedWeight(n, n1, 2)];
    } else {
      checkWeightCount('weightedCrossEntropy', classWeights, 2, 'binary mode ([background, foreground])');
      [w0, w1] = [tf.scalar(classWeights[0]), tf.scalar(classWeights[1])];
    }
    return tf.add(tf.mul(tf.sub(1, t), w0), tf.mul(t, w1));
  }
  let perClass: tf.Tensor;
  if (classWeights === 'balanced') {
    const pixels = t.size / channels;
    const counts = tf.sum(tf.reshape(t, [-1, channels]), 0);
    perClass = balancedWeight(pixels, counts, channels);
  } else {
    checkWeightCount('weightedCrossEntropy', classWeights, channels, `a ${channels}-channel output`);
    perClass = tf.tensor1d(classWeights);
  }
  return tf.sum(tf.mul(t, perClass), -1);
}

/** N / (k · N_c), and 0 where N_c = 0 (no pixel of that class can use the weight then). */
function balancedWeight(n: number, nc: tf.Tensor, k: number): tf.Tensor {
  const safe = tf.maximum(nc, EPSILON);
  return tf.where(tf.greater(nc, 0), tf.div(n / k, safe), tf.zerosLike(nc));
}

/**
 * Weighted cross-entropy (UNet paper eq. 1): mean over pixels of w(x)·CE(x), with
 * w(x) = classWeight[label(x)] × map(x). No normalisation by Σw.
 */
export function weightedCrossEntropy(options: WeightedCrossEntropyOptions = {}): LossFunction {
  const where = 'weightedCrossEntropy';
  const fromLogits = options.fromLogits ?? false;
  checkModeOption(where, options.mode);
  const { classWeights } = options;
  if (classWeights !== undefined && classWeights !== 'balanced') {
    checkWeightArray(where, 'classWeights', classWeights);
  }
  const packed = options.weightMap ?? false;
  return makeLoss(where, packed ? 1 : 0, (yTrue, yPred) => {
    const mode = resolveMode(options.mode, yPred.shape[yPred.rank - 1]);
    const { target, weights } = packed
      ? unpackWeightChannel(yTrue)
      : { target: yTrue, weights: undefined };
    let ce =
      mode === 'binary'
        ? binaryCrossEntropyElementwise(target, yPred, fromLogits)
        : categoricalCrossEntropyPixelwise(target, yPred, fromLogits);
    if (classWeights !== undefined) ce = tf.mul(ce, classWeightTensor(target, mode, classWeights));
    if (weights) ce = tf.mul(ce, mode === 'binary' ? weights : tf.squeeze(weights, [weights.rank - 1]));
    return tf.mean(ce);
  });
}
