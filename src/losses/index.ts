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
  binaryCrossentropy,
  categoricalCrossentropy,
  weightedCrossEntropy,
  dice,
  jaccard,
  tversky,
  focal,
  combine,
};
