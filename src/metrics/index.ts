import * as tf from '@tensorflow/tfjs';
import {
  OutputMode,
  checkModeOption,
  checkPair,
  resolveMode,
  toProbabilities,
  unpackWeightChannel,
  withName,
} from '../util/outputs.js';
import { checkFiniteNumber, checkInteger } from '../util/validate.js';

/** Options of the hard segmentation metrics. */
export interface MetricOptions {
  /** 'binary' (sigmoid, thresholded), 'categorical' (softmax, argmax) or 'auto' (default: binary iff 1 channel). */
  mode?: OutputMode | 'auto';
  /** yPred holds logits (sigmoid / softmax applied before thresholding). Default false. */
  fromLogits?: boolean;
  /** Binary mode: a pixel is predicted positive when p > threshold (default 0.5). */
  threshold?: number;
  /** yTrue carries a packed weight-map channel last (as for weightedCrossEntropy({ weightMap: true })); it is dropped. */
  weightMap?: boolean;
}

export interface OverlapMetricOptions extends MetricOptions {
  /** The compile-able form returns this class's score instead of the mean over classes. */
  classIndex?: number;
  /** Leave class 0 (background) out of the mean (categorical mode). */
  ignoreBackground?: boolean;
  /** Name shown in fit logs (default 'dice' / 'iou', or e.g. 'dice_class1' with classIndex). */
  name?: string;
}

/** A metric usable in `model.compile({ metrics })` and as a plain function. */
export interface SegmentationMetric {
  (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  /** Per-class scores as a 1-D tensor (length = number of channels); the caller disposes it. */
  perClass(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D;
  /** Per-class scores as plain numbers. */
  perClassValues(yTrue: tf.Tensor, yPred: tf.Tensor): number[];
}

interface HardMasks {
  truth: tf.Tensor; // 0/1 float, [..., C]
  pred: tf.Tensor; // 0/1 float, [..., C]
  mode: OutputMode;
}

function validateMetricOptions(where: string, options: MetricOptions): number {
  checkModeOption(where, options.mode);
  return checkFiniteNumber(where, 'threshold', options.threshold ?? 0.5, { min: 0, max: 1 });
}

/** Validates the pair and returns hard 0/1 masks for truth and prediction. */
function hardMasks(
  where: string,
  options: MetricOptions,
  threshold: number,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
): HardMasks {
  checkPair(where, yTrue, yPred, options.weightMap ? 1 : 0);
  const target = options.weightMap ? unpackWeightChannel(yTrue).target : yTrue;
  const channels = yPred.shape[yPred.rank - 1];
  const mode = resolveMode(options.mode, channels);
  const p = toProbabilities(yPred, mode, options.fromLogits ?? false);
  return { ...hardenMasks(target, p, mode, threshold), mode };
}

/**
 * Hard 0/1 masks of a target and a probability map (NHWC, same shape): truth > 0.5 and
 * prediction > `threshold` per channel in binary mode, one-hot arg-max in categorical mode.
 * No validation: callers check shapes. Used by the metrics and by `evaluateSegmentation`.
 */
export function hardenMasks(
  target: tf.Tensor,
  probabilities: tf.Tensor,
  mode: OutputMode,
  threshold = 0.5,
): { truth: tf.Tensor; pred: tf.Tensor } {
  if (mode === 'binary') {
    return {
      truth: tf.cast(tf.greater(target, 0.5), 'float32'),
      pred: tf.cast(tf.greater(probabilities, threshold), 'float32'),
    };
  }
  const channels = probabilities.shape[probabilities.rank - 1]!;
  const hot = (x: tf.Tensor) => tf.cast(tf.oneHot(tf.argMax(x, -1), channels), 'float32');
  return { truth: hot(target), pred: hot(probabilities) };
}

type Score = (inter: tf.Tensor, pred: tf.Tensor, truth: tf.Tensor) => { num: tf.Tensor; den: tf.Tensor };

function overlapMetric(
  defaultName: string,
  score: Score,
  options: OverlapMetricOptions,
): SegmentationMetric {
  const threshold = validateMetricOptions(defaultName, options);
  const { classIndex } = options;
  if (classIndex !== undefined) checkInteger(defaultName, 'classIndex', classIndex, 0);
  const name =
    options.name ?? (classIndex === undefined ? defaultName : `${defaultName}_class${classIndex}`);

  const perClassTensor = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D =>
    tf.tidy(() => {
      const { truth, pred } = hardMasks(name, options, threshold, yTrue, yPred);
      const channels = pred.shape[pred.rank - 1];
      const flatT = tf.reshape(truth, [-1, channels]);
      const flatP = tf.reshape(pred, [-1, channels]);
      const { num, den } = score(tf.sum(tf.mul(flatT, flatP), 0), tf.sum(flatP, 0), tf.sum(flatT, 0));
      // Empty prediction vs empty target scores 1.
      return tf.where(tf.greater(den, 0), tf.div(num, tf.maximum(den, 1)), tf.onesLike(den)) as tf.Tensor1D;
    });

  const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar => {
    const channels = yPred.shape[yPred.rank - 1];
    if (classIndex !== undefined && classIndex >= channels) {
      throw new Error(`${name}: classIndex ${classIndex} is out of range for ${channels} channel(s).`);
    }
    if (options.ignoreBackground && (resolveMode(options.mode, channels) !== 'categorical' || channels < 2)) {
      throw new Error(`${name}: ignoreBackground needs a softmax (categorical) output with at least 2 channels.`);
    }
    return tf.tidy(() => {
      const scores = perClassTensor(yTrue, yPred);
      if (classIndex !== undefined) return tf.reshape(tf.slice(scores, [classIndex], [1]), []) as tf.Scalar;
      const kept = options.ignoreBackground ? tf.slice(scores, [1]) : scores;
      return tf.mean(kept) as tf.Scalar;
    });
  };
  const metric = withName(fn, name) as SegmentationMetric;
  metric.perClass = perClassTensor;
  metric.perClassValues = (yTrue, yPred) => {
    const t = perClassTensor(yTrue, yPred);
    const values = Array.from(t.dataSync());
    t.dispose();
    return values;
  };
  return metric;
}

/** Hard Dice: per class 2|P∩T| / (|P| + |T|) over all pixels of the batch; empty vs empty = 1. */
function dice(options: OverlapMetricOptions = {}): SegmentationMetric {
  return overlapMetric('dice', (inter, pred, truth) => ({ num: tf.mul(inter, 2), den: tf.add(pred, truth) }), options);
}

/** Hard IoU: per class |P∩T| / |P∪T| over all pixels of the batch; empty vs empty = 1. */
function iou(options: OverlapMetricOptions = {}): SegmentationMetric {
  return overlapMetric('iou', (inter, pred, truth) => ({ num: inter, den: tf.sub(tf.add(pred, truth), inter) }), options);
}

/**
 * Pixel accuracy: binary mode, the fraction of elements where the thresholded prediction equals
 * the target; categorical mode, the fraction of pixels whose argmax matches.
 */
function pixelAccuracy(options: MetricOptions & { name?: string } = {}): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
  const name = options.name ?? 'pixel_accuracy';
  const threshold = validateMetricOptions(name, options);
  const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar =>
    tf.tidy(() => {
      const { truth, pred, mode } = hardMasks(name, options, threshold, yTrue, yPred);
      const correct =
        mode === 'binary' ? tf.equal(truth, pred) : tf.equal(tf.argMax(truth, -1), tf.argMax(pred, -1));
      return tf.mean(tf.cast(correct, 'float32')) as tf.Scalar;
    });
  return withName(fn, name);
}

/** Metric factories, usable in `model.compile({ metrics: [metrics.dice(), ...] })`. */
export const metrics = {
  /** Hard Dice per class (thresholded or arg-maxed predictions), averaged over classes. */
  dice,
  /** Hard IoU per class, averaged over classes. */
  iou,
  /** The fraction of pixels whose predicted class is right. */
  pixelAccuracy,
};
