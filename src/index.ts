// Public API (browser-safe). Node-only parts are added by src/node.ts.

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
