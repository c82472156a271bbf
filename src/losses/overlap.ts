import * as tf from '@tensorflow/tfjs';
import {
  BaseLossOptions,
  EPSILON,
  LossFunction,
  checkWeightArray,
  checkWeightCount,
  classWeightedMean,
  makeLoss,
  spatialAxes,
} from './common.js';
import { OutputMode, checkModeOption, resolveMode, toProbabilities } from '../util/outputs.js';
import { checkFiniteNumber } from '../util/validate.js';

/** Options shared by the region-overlap losses (dice, jaccard, tversky). */
export interface OverlapLossOptions extends BaseLossOptions {
  /** 'binary' (sigmoid), 'categorical' (softmax) or 'auto' (default: binary iff 1 channel). */
  mode?: OutputMode | 'auto';
  /** Smoothing constant s added to numerator and denominator (default 1). */
  smooth?: number;
  /** Drop channel 0 (background) of a softmax output before averaging over classes. */
  ignoreBackground?: boolean;
  /**
   * Weights for the mean over classes, one per channel of yPred (with ignoreBackground, entry 0
   * is dropped with the background channel). Default: equal.
   */
  classWeights?: number[];
}

export interface DiceLossOptions extends OverlapLossOptions {
  /** Sum over the batch too (one score per class), then mean over classes. */
  batchDice?: boolean;
  /** Denominator Σp² + Σt² (V-Net) instead of Σp + Σt. */
  squared?: boolean;
}

export interface JaccardLossOptions extends OverlapLossOptions {
  /** Sum over the batch too (one score per class), then mean over classes. */
  batch?: boolean;
}

export interface TverskyLossOptions extends OverlapLossOptions {
  /** Sum over the batch too (one score per class), then mean over classes. */
  batch?: boolean;
  /** Weight of false positives Σp(1−t) (default 0.5). */
  alpha?: number;
  /** Weight of false negatives Σ(1−p)t (default 0.5). */
  beta?: number;
}

interface OverlapSums {
  /** Σ p·t */
  inter: tf.Tensor;
  /** Σ p (or Σ p²) */
  pred: tf.Tensor;
  /** Σ t (or Σ t²) */
  truth: tf.Tensor;
}

type OverlapScore = (s: OverlapSums, smooth: number) => { num: tf.Tensor; den: tf.Tensor };

/**
 * num / den, and 1 where den = 0 (empty prediction vs empty target with smooth = 0). A custom
 * gradient keeps the comparison out of the tape (tfjs has no gradient for `greater`) and gives
 * zero gradient where den = 0.
 */
const ratioWithGrad = (num: tf.Tensor, den: tf.Tensor, save: tf.GradSaveFunc) => {
  const nonEmpty = tf.cast(tf.greater(den, 0), 'float32');
  const inv = tf.div(nonEmpty, tf.maximum(den, EPSILON)); // 1/den, or 0 where den = 0
  save([num, inv]);
  return {
    value: tf.add(tf.mul(num, inv), tf.sub(1, nonEmpty)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [n, i] = saved;
      return [tf.mul(dy, i), tf.neg(tf.mul(dy, tf.mul(n, tf.square(i))))];
    },
  };
};
const safeRatio = tf.customGrad(
  ratioWithGrad as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as (num: tf.Tensor, den: tf.Tensor) => tf.Tensor;

/**
 * Shared factory: validates options, computes the per-(image, class) sums over pixels (or over
 * batch and pixels), turns them into a score with `score`, and returns 1 − weighted mean.
 */
function overlapLoss(
  name: string,
  options: OverlapLossOptions,
  batch: boolean,
  squared: boolean,
  score: OverlapScore,
): LossFunction {
  checkModeOption(name, options.mode);
  const fromLogits = options.fromLogits ?? false;
  const smooth = checkFiniteNumber(name, 'smooth', options.smooth ?? 1, { min: 0 });
  const ignoreBackground = options.ignoreBackground ?? false;
  const classWeights =
    options.classWeights === undefined
      ? undefined
      : checkWeightArray(name, 'classWeights', options.classWeights);
  return makeLoss(name, 0, (yTrue, yPred) => {
    const channels = yPred.shape[yPred.rank - 1];
    const mode = resolveMode(options.mode, channels);
    if (classWeights) checkWeightCount(name, classWeights, channels, `a ${channels}-channel output`);
    let p = toProbabilities(yPred, mode, fromLogits);
    let t = yTrue;
    let weights = classWeights;
    if (ignoreBackground) {
      if (mode !== 'categorical' || channels < 2) {
        throw new Error(
          `${name}: ignoreBackground drops channel 0 of a softmax output; it needs mode ` +
            `'categorical' and at least 2 channels (got mode '${mode}', ${channels} channel(s)).`,
        );
      }
      p = tf.slice(p, Array(p.rank).fill(0).map((_, i) => (i === p.rank - 1 ? 1 : 0)));
      t = tf.slice(t, Array(t.rank).fill(0).map((_, i) => (i === t.rank - 1 ? 1 : 0)));
      weights = weights?.slice(1);
      if (weights && weights.every((w) => w === 0)) {
        throw new Error(`${name}: classWeights for the non-background classes are all zero.`);
      }
    }
    const axes = batch ? [0, ...spatialAxes(p.rank)] : spatialAxes(p.rank);
    const sums: OverlapSums = {
      inter: tf.sum(tf.mul(p, t), axes),
      pred: tf.sum(squared ? tf.square(p) : p, axes),
      truth: tf.sum(squared ? tf.square(t) : t, axes),
    };
    const { num, den } = score(sums, smooth);
    return tf.sub(1, classWeightedMean(safeRatio(num, den), weights));
  });
}

/** Soft Dice loss: 1 − mean over (image, class) of (2Σpt + s) / (Σp + Σt + s). */
export function dice(options: DiceLossOptions = {}): LossFunction {
  return overlapLoss(
    'diceLoss',
    options,
    options.batchDice ?? false,
    options.squared ?? false,
    ({ inter, pred, truth }, s) => ({
      num: tf.add(tf.mul(inter, 2), s),
      den: tf.add(tf.add(pred, truth), s),
    }),
  );
}

/** Soft Jaccard (IoU) loss: 1 − (Σpt + s) / (Σp + Σt − Σpt + s). */
export function jaccard(options: JaccardLossOptions = {}): LossFunction {
  return overlapLoss('jaccardLoss', options, options.batch ?? false, false, ({ inter, pred, truth }, s) => ({
    num: tf.add(inter, s),
    den: tf.add(tf.sub(tf.add(pred, truth), inter), s),
  }));
}

/** Tversky loss: 1 − (Σpt + s) / (Σpt + α·Σp(1−t) + β·Σ(1−p)t + s). */
export function tversky(options: TverskyLossOptions = {}): LossFunction {
  const alpha = checkFiniteNumber('tverskyLoss', 'alpha', options.alpha ?? 0.5, { min: 0 });
  const beta = checkFiniteNumber('tverskyLoss', 'beta', options.beta ?? 0.5, { min: 0 });
  return overlapLoss('tverskyLoss', options, options.batch ?? false, false, ({ inter, pred, truth }, s) => {
    const fp = tf.sub(pred, inter); // Σ p(1−t)
    const fn = tf.sub(truth, inter); // Σ (1−p)t
    return {
      num: tf.add(inter, s),
      den: tf.add(tf.add(tf.add(inter, tf.mul(fp, alpha)), tf.mul(fn, beta)), s),
    };
  });
}
