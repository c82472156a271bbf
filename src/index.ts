// Public API of segmentation-models-tfjs (browser-safe; Node-only parts are added by src/node.ts).

// Registry and models
export { createModel, listModels, registerModel, resolveModelName, getModelSpec, type ModelSpec } from './registry.js';
export { buildUNet, unetOutputSize, unetValidInputSize, type UNetOptions } from './models/unet.js';
export { buildUNetPadded, type UNetPaddedOptions } from './models/unetPadded.js';
// Models: UNet++
export {
  buildUNetPlusPlus,
  pruneUNetPlusPlus,
  unetPlusPlusHeadName,
  type UNetPlusPlusOptions,
} from './models/unetPlusPlus.js';
// UNet 3+ (full-scale skips, deep supervision, classification-guided module)
export {
  buildUNet3Plus,
  cgmTargets,
  unet3PlusOutputNames,
  CGM_OUTPUT_NAME,
  type UNet3PlusOptions,
  type CgmTargetsOptions,
} from './models/unet3plus.js';
export { ClassGate, type ClassGateActivation, type ClassGateConfig } from './layers/classGate.js';
export { type CommonModelOptions, type InputShape } from './models/options.js';

// Layers
export { convBlock, type ConvBlockOptions } from './layers/convBlock.js';
export { CenterCrop2D } from './layers/centerCrop.js';
export { upsample2x, type UpsamplingMode, type UpsampleOptions } from './layers/upsample.js';

// Summary
export { paramCounts, summarize, formatCount, type ParamCounts, type ModelSummary, type SummaryRow } from './summary.js';

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

// --- Data, augmentation, synthetic data, tiled inference (area: data) ---
export { createRng, type Rng } from './data/rng.js';
export type { SegmentationSample } from './data/sample.js';
export {
  reflectIndex, resizeBilinear, resizeNearest, crop, flipHorizontal, flipVertical, rotate90,
} from './data/pixels.js';
export {
  augmentSample, elasticDisplacement, bicubicUpsampleGrid, warpSample,
  type AugmentOptions, type ElasticOptions, type DisplacementField,
} from './data/augment.js';
export {
  createSegmentationDataset, SegmentationDataset, batchSamples, splitSamples, maskToTarget, checkMaskValues,
  type Batch, type BatchOptions, type DatasetOptions, type TargetOptions, type TargetFn,
} from './data/dataset.js';
export {
  syntheticCells, cellRadius, type SyntheticCellsOptions, type SyntheticSample, type SyntheticCell,
} from './data/synthetic.js';
export { predictTiled, downsamplingFactor, type TiledOptions } from './inference/tiled.js';

// Training, evaluation and pictures of results (browser-safe)
export { train, type TrainOptions, type TrainResult, type EpochLogs } from './training/train.js';
export { evaluateSegmentation, ScoreAccumulator, type SegmentationScores } from './training/evaluate.js';
export { trainingCurveSvg } from './training/curve.js';
export { classMap, overlayMask, PALETTE, type OverlayImage } from './inference/overlay.js';

// --- backend: backend selection and fast wasm kernels (src/backend/) ---
export { initBackend, BACKEND_CHOICES } from './backend/initBackend.js';
export type { BackendChoice, InitBackendOptions } from './backend/initBackend.js';
export { registerWasmKernels, WASM_KERNELS } from './backend/registerWasmKernels.js';
export { wasmBackendInfo, MAX_WASM_THREADS, WASM_MEMORY_LIMIT_BYTES, type WasmBackendInfo } from './backend/wasmInfo.js';
