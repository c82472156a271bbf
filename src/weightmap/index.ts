export { unetWeightMap } from './unetWeightMap.js';
export type { LabelArray, UNetWeightMapOptions } from './unetWeightMap.js';
export { weightMapBatch } from './batch.js';
export type { WeightMapBatchOptions } from './batch.js';
