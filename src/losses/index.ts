import { binaryCrossentropy, categoricalCrossentropy, weightedCrossEntropy } from './crossEntropy.js';
import { dice, jaccard, tversky } from './overlap.js';
import { focal } from './focal.js';
import { combine } from './combine.js';

export type { BaseLossOptions, LossFunction } from './common.js';
export type { OutputMode } from '../util/outputs.js';
export type { WeightedCrossEntropyOptions } from './crossEntropy.js';
export type {
  DiceLossOptions,
  JaccardLossOptions,
  OverlapLossOptions,
  TverskyLossOptions,
} from './overlap.js';
export type { FocalLossOptions } from './focal.js';
export { deepSupervisionLosses } from './deepSupervision.js';

/** Loss factories. Each returns `(yTrue, yPred) => scalar`, usable in `model.compile({ loss })`. */
export const losses = {
  /** Binary cross-entropy for sigmoid outputs. */
  binaryCrossentropy,
  /** Categorical cross-entropy for softmax outputs with one-hot targets. */
  categoricalCrossentropy,
  /** Pixel-weighted cross-entropy (UNet paper, eq. 1): class weights and a packed weight map. */
  weightedCrossEntropy,
  /** Soft Dice loss, 1 − Dice. */
  dice,
  /** Soft Jaccard (IoU) loss, 1 − IoU. */
  jaccard,
  /** Tversky loss: Dice with separate weights for false positives and false negatives. */
  tversky,
  /** Focal loss, binary or categorical. */
  focal,
  /** A weighted sum of losses. */
  combine,
};
