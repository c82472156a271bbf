// Public API of segmentation-models-tfjs (browser-safe; Node-only parts are added by src/node.ts).

// Registry and models
export {
  createModel, createModelAsync, listModels, registerModel, resolveModelName, getModelSpec,
  type ModelSpec, type EncoderWeightsOption,
} from './registry.js';
export {
  buildUNet,
  unetOutputSize,
  unetValidInputSize,
  smpUnetModel,
  smpSegmentationHead,
  type UNetOptions,
  type PyramidHeadOptions,
} from './models/unet.js';
export { buildUNetPadded, type UNetPaddedOptions } from './models/unetPadded.js';
// Models: UNet++
export {
  buildUNetPlusPlus,
  pruneUNetPlusPlus,
  unetPlusPlusHeadName,
  smpUnetPlusPlusModel,
  type UNetPlusPlusOptions,
} from './models/unetPlusPlus.js';
// UNet 3+ (full-scale skips, deep supervision, classification-guided module)
export {
  buildUNet3Plus,
  cgmTargets,
  unet3PlusOutputNames,
  CGM_OUTPUT_NAME,
  unet3PlusModel,
  resolveUNet3PlusExtras,
  type UNet3PlusExtras,
  type UNet3PlusModelOptions,
  type UNet3PlusOptions,
  type CgmTargetsOptions,
} from './models/unet3plus.js';
// Any of the above on an ImageNet encoder: createModel(name, { encoder: 'resnet34', ... })
export {
  buildEncoderModel,
  encoderModelOptionKeys,
  ENCODER_ARCHITECTURES,
  ENCODER_MODEL_INPUT,
  DEFAULT_ENCODER_DEPTH,
  ENCODER_UNET3PLUS_CAT_CHANNELS,
  type EncoderArchitecture,
  type EncoderModelOptions,
  type ResolvedEncoderModelOptions,
} from './models/encoderModels.js';
export { ClassGate, type ClassGateActivation, type ClassGateConfig } from './layers/classGate.js';
export { type CommonModelOptions, type InputShape } from './models/options.js';
export { checkInputSize, INPUT_SIZE_RULES, type InputSizeRule, type InputSizeRuleKind } from './models/inputSize.js';
// What a model is (architecture, encoder, output roles, options), stored in its metadata
export {
  modelInfo,
  setModelInfo,
  finishModel,
  finalOutputIndex,
  describeModelInfo,
  MODEL_INFO_KEY,
  PLAIN_ENCODER,
  OUTPUT_ROLES,
  type ModelInfo,
  type ModelDescription,
  type OutputInfo,
  type OutputRole,
} from './models/info.js';

// Encoders, decoders and heads: the parts every model is composed of
export type {
  FeaturePyramid, EncoderSpec, EncoderBuildOptions, EncoderPreprocessing, PretrainedWeights, SmpEncoderModule, SmpStateEntry,
} from './encoders/types.js';
export { convBlockEncoder, CONV_ENCODER_NAMING, type ConvEncoderNaming, type ConvEncoderOptions } from './encoders/convBlocks.js';
export { freezeEncoder, unfreezeEncoder, encoderLayers, encoderLayerNames } from './encoders/freeze.js';
export { unetDecoder, smpUnetDecoder, type UNetDecoderOptions } from './decoders/unet.js';
export {
  unetPlusPlusDecoder,
  smpUnetPlusPlusDecoder,
  type UNetPlusPlusDecoderOptions,
  type SmpUnetPlusPlusNodes,
} from './decoders/unetPlusPlus.js';
export { unet3PlusDecoder, type UNet3PlusDecoderOptions, type UNet3PlusStages } from './decoders/unet3plus.js';
export {
  resolveSmpDecoderOptions,
  conv2dReLU,
  smpDecoderBlock,
  SMP_DECODER_CHANNELS,
  SMP_DECODER_OPTION_KEYS,
  type SmpDecoderOptions,
  type ResolvedSmpDecoderOptions,
  type SmpDecoderBlockOptions,
} from './decoders/modules.js';
export { segmentationHead, type SegmentationHeadOptions } from './heads/segmentation.js';
export { cgmBranch, gateByClass } from './heads/classification.js';

// Layers
export { convBlock, type ConvBlockOptions } from './layers/convBlock.js';
export { CenterCrop2D } from './layers/centerCrop.js';
export { upsample2x, type UpsamplingMode, type UpsampleOptions } from './layers/upsample.js';
export { Resize2D, RESIZE_INTERPOLATIONS, type Resize2DConfig, type ResizeInterpolation } from './layers/resize.js';
export { InputSizeCheck, inputSizeChecked, checkModelInputSize, type InputSizeCheckConfig } from './layers/inputSizeCheck.js';
export { type ConvLayerOptions } from './layers/convBlock.js';

// Summary
export { paramCounts, summarize, formatCount, type ParamCounts, type ModelSummary, type SummaryRow } from './summary.js';

// --- Losses, metrics and the UNet paper's weight maps ---
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

// --- Data, augmentation, synthetic data, tiled inference ---
export { createRng, type Rng } from './data/rng.js';
export type { PixelArray, SegmentationSample } from './data/sample.js';
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
export { optimizeForInference, type OptimizeForInferenceOptions } from './inference/optimize.js';

// Training, evaluation and pictures of results (browser-safe)
export { train, type TrainOptions, type TrainResult, type EpochLogs } from './training/train.js';
export {
  estimateTrainingMemory, largestBatchThatFits, defaultMemoryLimit, WASM_HEAP_LIMIT, LAYER_MEMORY_FACTORS,
  DEFAULT_LAYER_MEMORY_FACTOR, LOSS_MEMORY_FACTOR, KERNEL_WORKSPACE_BYTES, WASM_LAYER_MEMORY_FACTOR,
  type TrainingMemoryOptions, type TrainingMemoryEstimate,
} from './training/memory.js';
export { evaluateSegmentation, ScoreAccumulator, type SegmentationScores, type EvaluateOptions } from './training/evaluate.js';
export { trainingCurveSvg } from './training/curve.js';
export { classMap, classMapAsync, overlayMask, PALETTE, type ClassMap, type OverlayImage } from './inference/overlay.js';

// --- backend: backend selection and fast wasm kernels (src/backend/) ---
export { initBackend, backendInfo, BACKEND_CHOICES } from './backend/initBackend.js';
export type { BackendChoice, BackendInfo, InitBackendOptions } from './backend/initBackend.js';
export type { WebGPUAdapterInfo } from './backend/webgpu.js';
export { registerWasmKernels, WASM_KERNELS } from './backend/registerWasmKernels.js';
export { wasmBackendInfo, MAX_WASM_THREADS, WASM_MEMORY_LIMIT_BYTES, type WasmBackendInfo } from './backend/wasmInfo.js';
export { guardWasmAllocations, WasmOutOfMemoryError } from './backend/wasmGuard.js';
export { recoverWasmBackend, isWasmAbort, explainWasmFailure } from './backend/recover.js';
// Importing the library replaces tfjs's wrong cpu resize gradient kernels (docs/backend.md).
import './backend/kernels/resizeGrad.js';

// --- Weights interop: safetensors, SMP checkpoints, pretrained weight downloads (src/io/) ---
export {
  readSafetensors, readSafetensorsHeader, writeSafetensors, openSafetensors, bytesByteSource, blobByteSource,
  f16BitsToFloat, floatToF16Bits, bf16BitsToFloat, floatToBf16Bits, SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsDtype, type SafetensorsTensor, type SafetensorsFile, type SafetensorsHeader,
  type SafetensorsHeaderEntry, type ReadSafetensorsOptions, type SafetensorsData, type SafetensorsInput,
  type SafetensorsInputs, type ByteSource, type SafetensorsReader,
} from './io/safetensors.js';
export {
  fetchWeights, fetchPretrainedFile, pretrainedFileUrl, pretrainedFileCachePath, weightsCacheDir,
  DEFAULT_HUB_URL, HUB_URL_ENV, CACHE_DIR_ENV,
  type WeightsSource, type FetchWeightsOptions, type PretrainedFileSpec, type PretrainedFileOptions,
  type DownloadProgress,
} from './io/weightsCache.js';
export { type ProgressStream } from './io/localFiles.js';
export {
  readSmpCheckpoint, SMP_CONFIG_FILE, SMP_WEIGHTS_FILE,
  type SmpCheckpoint, type SmpCheckpointSource, type SmpCheckpointFiles, type ReadSmpCheckpointOptions,
} from './io/smpCheckpoint.js';
// segmentation_models.pytorch models in and out (docs/from-pytorch.md)
export {
  loadSmpModel, smpCheckpointToModel, smpModelFiles, saveSmpModel, describeSmpModel,
  type LoadSmpModelOptions, type SmpImportResult, type SmpModelFilesOptions, type SaveSmpModelOptions,
} from './io/smpModel.js';
export {
  parseSmpConfig, smpConfigToModelOptions, smpStateDictLayout, smpUnusedPrefixes,
  SMP_ARCHITECTURES, SMP_CONFIG_DEFAULTS,
  type SmpArchitecture, type SmpModelConfig, type SmpModelOptions, type SmpLayoutEntry, type SmpEntryRole,
  type SmpFinalActivation,
} from './io/smpConfig.js';
export { pythonJsonDumps, pythonFloatRepr } from './io/pythonJson.js';
// Pretrained encoder weights (createModel(name, { encoder, encoderWeights: 'imagenet' }))
export {
  loadEncoderWeights, fetchEncoderWeights, adaptFirstConvWeight, checkEncoderWeightsFile,
  type EncoderWeights, type LoadEncoderWeightsOptions, type LoadEncoderWeightsResult,
} from './io/encoderWeights.js';

// --- encoders: ImageNet encoders as in segmentation_models.pytorch, PyTorch state dicts ---
export {
  listEncoders,
  getEncoderSpec,
  encoderPreprocessing,
  IMAGENET_PREPROCESSING,
} from './encoders/index.js';
export {
  modelPreprocessing,
  preprocessInput,
  channelStatistics,
  normalizeChannels,
  type InputNormalization,
} from './encoders/preprocess.js';
export {
  stateDictMapping,
  modelStateDict,
  loadStateDict,
  type StateDict,
  type TorchTensor,
  type StateDictMapping,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from './io/stateDict.js';
