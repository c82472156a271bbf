import * as tf from '@tensorflow/tfjs';
import { BaseLossOptions, EPSILON, LossFunction, checkWeightArray, checkWeightCount, makeLoss } from './common.js';
import { OutputMode, checkModeOption, resolveMode } from '../util/outputs.js';
import { checkFiniteNumber } from '../util/validate.js';
import { categoricalLogProbabilities } from './crossEntropy.js';

/** Stable log σ(z) = min(z, 0) − log(1 + e^(−|z|)). */
function logSigmoid(z: tf.Tensor): tf.Tensor {
  return tf.sub(tf.minimum(z, 0), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}

export interface FocalLossOptions extends BaseLossOptions {
  /** 'binary' (sigmoid), 'categorical' (softmax) or 'auto' (default: binary iff 1 channel). */
  mode?: OutputMode | 'auto';
  /** Focusing parameter γ >= 0 (default 2). */
  gamma?: number;
  /**
   * Balance α (default 0.25). Binary: α for t = 1 and 1 − α for t = 0 (a number in [0, 1]).
   * Categorical: one number for every class, or an array α_c with one entry per channel.
   */
  alpha?: number | number[];
}

/**
 * Focal loss. Binary: mean over elements of −α_t (1−p_t)^γ log p_t. Categorical: mean over
 * pixels of −Σ_c α_c (1−p_c)^γ t_c log p_c.
 */
export function focal(options: FocalLossOptions = {}): LossFunction {
  const where = 'focalLoss';
  checkModeOption(where, options.mode);
  const fromLogits = options.fromLogits ?? false;
  const gamma = checkFiniteNumber(where, 'gamma', options.gamma ?? 2, { min: 0 });
  const alphaOpt = options.alpha ?? 0.25;
  if (Array.isArray(alphaOpt)) checkWeightArray(where, 'alpha', alphaOpt);
  else checkFiniteNumber(where, 'alpha', alphaOpt, { min: 0, max: 1 });

  return makeLoss(where, 0, (t, yPred) => {
    const channels = yPred.shape[yPred.rank - 1];
    const mode = resolveMode(options.mode, channels);
    if (mode === 'binary') {
      if (Array.isArray(alphaOpt)) {
        throw new Error(`${where}: in binary mode alpha must be one number in [0, 1].`);
      }
      let p: tf.Tensor;
      let q: tf.Tensor; // 1 − p
      let logP: tf.Tensor;
      let logQ: tf.Tensor;
      if (fromLogits) {
        p = tf.clipByValue(tf.sigmoid(yPred), EPSILON, 1);
        q = tf.clipByValue(tf.sigmoid(tf.neg(yPred)), EPSILON, 1);
        logP = logSigmoid(yPred);
        logQ = logSigmoid(tf.neg(yPred));
      } else {
        p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
        q = tf.sub(1, p);
        logP = tf.log(p);
        logQ = tf.log(q);
      }
      const pos = tf.mul(tf.mul(tf.mul(t, tf.pow(q, gamma)), logP), alphaOpt);
      const neg = tf.mul(tf.mul(tf.mul(tf.sub(1, t), tf.pow(p, gamma)), logQ), 1 - alphaOpt);
      return tf.neg(tf.mean(tf.add(pos, neg)));
    }
    let alpha: tf.Tensor | number = alphaOpt as number;
    if (Array.isArray(alphaOpt)) {
      checkWeightCount(where, alphaOpt, channels, `a ${channels}-channel output (alpha)`);
      alpha = tf.tensor1d(alphaOpt);
    }
    const logP = categoricalLogProbabilities(yPred, fromLogits);
    const p = fromLogits ? tf.exp(logP) : tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
    const factor = tf.pow(tf.clipByValue(tf.sub(1, p), EPSILON, 1), gamma);
    const perClass = tf.mul(tf.mul(tf.mul(factor, t), logP), alpha);
    return tf.neg(tf.mean(tf.sum(perClass, -1)));
  });
}
