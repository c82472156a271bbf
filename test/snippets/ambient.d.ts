// Names a TypeScript code block in README.md or docs/ may use without defining them, so that a
// short fragment ("then call train(model, data)") still type-checks against the real API. A block
// that uses any of these is type-checked only; a block that uses none of them is also run.

/** A model built earlier in the page. */
declare const model: import('@tensorflow/tfjs').LayersModel;
/** A batch of images `[B, H, W, C]` in [0, 1]. */
declare const images: import('@tensorflow/tfjs').Tensor4D;
/** The matching masks `[B, H, W, K]`. */
declare const masks: import('@tensorflow/tfjs').Tensor4D;
/** One batch or image tensor to predict on. */
declare const x: import('@tensorflow/tfjs').Tensor4D;
/** One image `[H, W, C]`. */
declare const image: import('@tensorflow/tfjs').Tensor3D;
/** Instance labels `[B, H, W]` (0 = background, 1..K = objects). */
declare const instances: import('@tensorflow/tfjs').Tensor3D;
/** A dataset built earlier in the page. */
declare const data: import('segmentation-models-tfjs').SegmentationDataset;
