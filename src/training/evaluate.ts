import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/dataset.js';
import { inputPreprocessor } from '../encoders/preprocess.js';
import { finalPrediction } from '../inference/finalPrediction.js';
import { hardenMasks } from '../metrics/index.js';

/** Dataset-level hard scores of a segmentation model. */
export interface SegmentationScores {
  /** Mean over classes of 2·TP / (2·TP + FP + FN) (foreground only for a 1-channel sigmoid output). */
  dice: number;
  /** Mean over classes of TP / (TP + FP + FN). */
  iou: number;
  /** Fraction of pixels whose predicted class equals the true class. */
  pixelAccuracy: number;
  /** Per-class Dice and IoU (index = class; a 1-channel model reports its foreground only). */
  perClass: { dice: number; iou: number }[];
  /** Pixels evaluated. */
  pixels: number;
}

/**
 * Counts TP/FP/FN per class over whole batches and turns them into Dice and IoU (a class absent
 * from both prediction and truth scores 1). Predictions are thresholded at 0.5 (1 channel) or
 * arg-maxed (several channels). Takes tensors, not a model: `evaluateSegmentation` feeds it the
 * model's final output.
 */
export class ScoreAccumulator {
  private tp: number[] = [];
  private fp: number[] = [];
  private fn: number[] = [];
  private correct = 0;
  private pixels = 0;

  /** Adds one batch: `yTrue` binary / one-hot targets and `yPred` probabilities, both NHWC. */
  add(yTrue: tf.Tensor, yPred: tf.Tensor): void {
    if (yTrue.shape.join() !== yPred.shape.join()) {
      throw new Error(`evaluate: target shape [${yTrue.shape}] differs from prediction shape [${yPred.shape}]`);
    }
    const channels = yPred.shape[yPred.rank - 1]!;
    const counts = tf.tidy(() => {
      const { truth: t, pred: p } = hardenMasks(yTrue, yPred, channels === 1 ? 'binary' : 'categorical');
      const axes = [...Array(yPred.rank - 1).keys()];
      const tp = tf.sum(tf.mul(t, p), axes);
      const fp = tf.sub(tf.sum(p, axes), tp);
      const fn = tf.sub(tf.sum(t, axes), tp);
      const agree = channels === 1 ? tf.sum(tf.equal(t, p).toFloat()) : tf.sum(tf.mul(t, p));
      return tf.concat([tp, fp, fn, agree.reshape([1])]);
    });
    const v = counts.dataSync();
    counts.dispose();
    for (let c = 0; c < channels; c++) {
      this.tp[c] = (this.tp[c] ?? 0) + v[c]!;
      this.fp[c] = (this.fp[c] ?? 0) + v[channels + c]!;
      this.fn[c] = (this.fn[c] ?? 0) + v[2 * channels + c]!;
    }
    this.correct += v[3 * channels]!;
    this.pixels += yPred.size / channels;
  }

  /** Dice, IoU and pixel accuracy of everything added so far. Throws when nothing was added. */
  scores(): SegmentationScores {
    if (this.pixels === 0) throw new Error('evaluate: no batches were evaluated');
    const perClass = this.tp.map((tp, c) => {
      const fp = this.fp[c]!;
      const fn = this.fn[c]!;
      const denom = tp + fp + fn;
      return { dice: denom === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn), iou: denom === 0 ? 1 : tp / denom };
    });
    const mean = (k: 'dice' | 'iou') => perClass.reduce((a, s) => a + s[k], 0) / perClass.length;
    return { dice: mean('dice'), iou: mean('iou'), pixelAccuracy: this.correct / this.pixels, perClass, pixels: this.pixels };
  }
}

/** Options of {@link evaluateSegmentation}. */
export interface EvaluateOptions {
  /**
   * Normalise the images with the encoder's statistics when the model has an ImageNet encoder
   * (`modelPreprocessing`; images in [0, 1]). Default true; false when the batches are already normalised.
   */
  preprocess?: boolean;
}

/**
 * Dataset-level hard Dice, IoU and pixel accuracy of `model` over `batches` (e.g.
 * `dataset.batches(8, { split: 'validation' })`). Disposes every batch it consumes.
 */
export function evaluateSegmentation(model: tf.LayersModel, batches: Iterable<Batch>, options: EvaluateOptions = {}): SegmentationScores {
  const preprocess = inputPreprocessor(model, options.preprocess, 'evaluateSegmentation');
  const acc = new ScoreAccumulator();
  for (const { xs, ys } of batches) {
    try {
      const out = (preprocess === null ? model.predict(xs) : tf.tidy(() => model.predict(preprocess(xs)))) as tf.Tensor | tf.Tensor[];
      const pred = finalPrediction(out);
      try {
        acc.add(ys, pred);
      } finally {
        tf.dispose(out);
      }
    } finally {
      tf.dispose([xs, ys]);
    }
  }
  return acc.scores();
}
