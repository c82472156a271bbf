// Public API: re-exports only.

// --- Losses, metrics and the UNet paper's weight maps (issue 5, branch `losses`) ---
export { losses, deepSupervisionLosses } from './losses/index.js';
export type {
  BaseLossOptions,
  DiceLossOptions,
  FocalLossOptions,
  JaccardLossOptions,
  LossFunction,
  OutputMode,
  OverlapLossOptions,
  TverskyLossOptions,
  WeightedCrossEntropyOptions,
} from './losses/index.js';
export { metrics } from './metrics/index.js';
export type { MetricOptions, OverlapMetricOptions, SegmentationMetric } from './metrics/index.js';
export { unetWeightMap, weightMapBatch } from './weightmap/index.js';
export type { LabelArray, UNetWeightMapOptions, WeightMapBatchOptions } from './weightmap/index.js';
// --- end losses ---
