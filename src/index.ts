// Public API of segmentation-models-tfjs.

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
export { type CommonModelOptions, type InputShape } from './models/options.js';

// Layers
export { convBlock, type ConvBlockOptions } from './layers/convBlock.js';
export { CenterCrop2D } from './layers/centerCrop.js';
export { upsample2x, type UpsamplingMode, type UpsampleOptions } from './layers/upsample.js';

// Summary
export { paramCounts, summarize, formatCount, type ParamCounts, type ModelSummary, type SummaryRow } from './summary.js';

// Losses: deep supervision
export { deepSupervisionLosses, type OutputLoss } from './losses/deepSupervision.js';
