/**
 * Memory of one training step, estimated from the model's layers before anything runs, and the
 * check `train()` makes against the backend's limit (wasm: a 4 GiB heap). Browser-safe.
 *
 * The estimate walks the layers, takes each layer's output size for the given input size and
 * multiplies it by the number of same-sized float32 tensors tfjs keeps alive per output element
 * at the peak of a step (the forward tensors the gradients need, plus one gradient per tensor:
 * tfjs holds every intermediate gradient until backprop ends). The factors were measured with
 * `tf.profile` on small models, one layer type at a time; against whole models they give the
 * step's peak tensor bytes within a few percent (docs/memory.md).
 *
 * On the wasm backend with this library's gradients (installed by `initBackend('wasm')`), the
 * backward pass frees what it saved for a layer, and that layer's output gradients, as soon as the
 * layer's gradient has run, so a step keeps far less: there every layer that costs anything
 * counts {@link WASM_LAYER_MEMORY_FACTOR} tensors per output element instead (measured as the wasm
 * heap's high-water mark; an upper bound on the models of docs/memory.md).
 */
import * as tf from '@tensorflow/tfjs';
import { wasmGradientsRegistered } from '../backend/gradients.js';

const F32 = 4;

/**
 * Tensors kept per output element at the peak of a training step, by layer class (measured; see
 * docs/memory.md). A convolution keeps its output and that output's gradient plus a workspace
 * copy; BatchNormalization in training mode is by far the most expensive (its moments and their
 * gradients are full-size tensors); views (Reshape, Flatten, InputLayer) cost nothing.
 */
export const LAYER_MEMORY_FACTORS: Readonly<Record<string, number>> = {
  InputLayer: 0,
  Reshape: 0,
  Flatten: 0,
  Conv2D: 3,
  DepthwiseConv2D: 3,
  SeparableConv2D: 4,
  Conv2DTranspose: 4,
  Dense: 3,
  BatchNormalization: 15.5,
  LayerNormalization: 15.5,
  Activation: 3,
  ReLU: 3,
  LeakyReLU: 3,
  ELU: 3,
  PReLU: 4,
  Softmax: 3,
  ThresholdedReLU: 3,
  Dropout: 5,
  SpatialDropout1D: 5,
  GaussianNoise: 3,
  MaxPooling2D: 3,
  AveragePooling2D: 3,
  GlobalMaxPooling2D: 3,
  GlobalAveragePooling2D: 3,
  UpSampling2D: 2,
  Concatenate: 3,
  Add: 2,
  Multiply: 3,
  Average: 3,
  ZeroPadding2D: 2,
  Cropping2D: 2,
  'SMTF>CenterCrop2D': 2,
  'SMTF>ClassGate': 2,
};

/** Factor of a layer class not in {@link LAYER_MEMORY_FACTORS}. */
export const DEFAULT_LAYER_MEMORY_FACTOR = 4;

/**
 * Tensors kept per output element of every layer that costs anything (a non-zero factor in
 * {@link LAYER_MEMORY_FACTORS}; twice for a layer with its own non-linear activation) on the wasm
 * backend with this library's gradients, which free saved tensors and gradients node by node.
 * Measured from the wasm heap's high-water mark over batch sizes (docs/memory.md): 0.8–1.4 for the
 * library's models, so 1.6 keeps the estimate above the real heap.
 */
export const WASM_LAYER_MEMORY_FACTOR = 1.6;

/**
 * Tensors kept per element of every segmentation output for its loss (BCE + Dice, the default,
 * measured at 36; custom losses vary) and the output head's activation.
 */
export const LOSS_MEMORY_FACTOR = 40;

/**
 * Per tfjs optimizer: its state (`slots`) and the temporaries of its update step (`update`), in
 * copies of the trainable weights. tfjs's Adam and Adamax compute the update of every weight inside
 * one scope, so their temporaries for all weights are alive together (measured with tf.profile).
 */
const OPTIMIZERS: Record<string, { slots: number; update: number }> = {
  sgd: { slots: 0, update: 0.2 },
  momentum: { slots: 1, update: 0.4 },
  adagrad: { slots: 1, update: 0.7 },
  adadelta: { slots: 2, update: 1.6 },
  adam: { slots: 2, update: 14 },
  adamax: { slots: 2, update: 10 },
  rmsprop: { slots: 3, update: 1.5 },
};

/**
 * Scratch memory of the backend's kernels that is not a tensor (the wasm backend's convolution
 * gradient buffers and XNNPACK's packed operands), added once.
 */
export const KERNEL_WORKSPACE_BYTES = 96 * 1024 * 1024;

/** Options of {@link estimateTrainingMemory}. */
export interface TrainingMemoryOptions {
  /** Images in one forward/backward pass (the micro-batch when accumulating gradients). */
  batchSize: number;
  /** Input [height, width]; needed for models that accept any size. Default: the model's input size. */
  inputSize?: [number, number];
  /** Optimizer (instance or tfjs name) whose state is counted. Default Adam. */
  optimizer?: tf.Optimizer | string;
  /** Gradients are accumulated over micro-batches (one more weight-sized buffer). Default false. */
  accumulate?: boolean;
  /**
   * The backend whose step is estimated. Default: the active one (`tf.getBackend()`). On 'wasm'
   * with this library's gradients registered, the leaner backward pass is counted
   * ({@link WASM_LAYER_MEMORY_FACTOR}).
   */
  backend?: string;
}

/** The estimated memory of one training step, by part, in bytes. */
export interface TrainingMemoryEstimate {
  /**
   * Peak bytes of one training step: the larger of the forward/backward pass
   * (`perSampleBytes * batchSize + fixedBytes`) and the optimizer update (`updateBytes`).
   */
  bytes: number;
  /** Activations, their gradients and the loss's tensors of one image. */
  perSampleBytes: number;
  /**
   * Weights, their gradients, optimizer state, gradient accumulator and kernel workspace; on wasm
   * with the leaner backward pass at least `updateBytes` (the heap keeps the update's peak).
   */
  fixedBytes: number;
  /** The optimizer update: weights, gradients, optimizer state and the update's temporaries. */
  updateBytes: number;
  /** Bytes of the model's weights (trainable and not). */
  weightBytes: number;
  batchSize: number;
  inputSize: [number, number];
  /** Which backward pass was counted: tfjs's stock one, or the wasm backend's leaner one. */
  backprop: 'stock' | 'lean-wasm';
}

interface LayerNode {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[];
  inboundNodes?: { inboundLayers: LayerNode[] }[];
  countParams(): number;
}

function elementsPerSample(shape: tf.Shape): number {
  return shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
}

function firstShape(s: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(s[0]) ? s[0] : s) as tf.Shape;
}

/** The model's input [H, W], or the given size; throws when the model needs one and none is given. */
function resolveInputSize(model: tf.LayersModel, inputSize: [number, number] | undefined, where: string): [number, number] {
  const [, h, w] = model.inputs[0]!.shape;
  if (inputSize !== undefined) {
    if (!Array.isArray(inputSize) || inputSize.length !== 2 || !inputSize.every((v) => Number.isInteger(v) && v > 0)) {
      throw new Error(`${where}: inputSize must be [height, width] of positive integers, got ${JSON.stringify(inputSize)}.`);
    }
    return inputSize;
  }
  if (h == null || w == null) {
    throw new Error(`${where}: the model accepts any input size; pass inputSize [height, width] to estimate its memory.`);
  }
  return [h, w];
}

/** Output shape (batch 1) of every layer for an input of `size`, by layer name. */
function layerShapes(model: tf.LayersModel, size: [number, number]): Map<string, tf.Shape> {
  const shapes = new Map<string, tf.Shape>();
  for (const layer of model.layers as unknown as LayerNode[]) {
    const inbound = layer.inboundNodes?.[0]?.inboundLayers ?? [];
    if (inbound.length === 0) {
      const s = model.inputs[0]!.shape;
      shapes.set(layer.name, [1, size[0], size[1], ...s.slice(3)] as tf.Shape);
      continue;
    }
    const ins = inbound.map((l) => shapes.get(l.name)!);
    const out = layer.computeOutputShape(ins.length === 1 ? ins[0]! : ins);
    shapes.set(layer.name, firstShape(out));
  }
  return shapes;
}

function optimizerCost(optimizer: tf.Optimizer | string | undefined): { slots: number; update: number } {
  const name = optimizer === undefined ? 'adam' : (typeof optimizer === 'string' ? optimizer : optimizer.getClassName()).toLowerCase().replace('optimizer', '');
  return OPTIMIZERS[name] ?? OPTIMIZERS['adam']!;
}

function layerFactor(layer: LayerNode, lean: boolean): number {
  const cls = layer.getClassName();
  let f = LAYER_MEMORY_FACTORS[cls] ?? DEFAULT_LAYER_MEMORY_FACTOR;
  const cfg = layer.getConfig();
  if (cls === 'Activation' && cfg['activation'] === 'linear') f = 0;
  // A layer with its own non-linear activation (e.g. a head conv with sigmoid) adds one.
  if (cls !== 'Activation' && typeof cfg['activation'] === 'string' && cfg['activation'] !== 'linear') {
    f += LAYER_MEMORY_FACTORS['Activation']!;
  }
  if ((cls === 'Dropout' || cls === 'SpatialDropout1D') && !(Number(cfg['rate']) > 0)) f = 0;
  if (lean && f > 0) {
    const ownActivation = cls !== 'Activation' && typeof cfg['activation'] === 'string' && cfg['activation'] !== 'linear';
    return WASM_LAYER_MEMORY_FACTOR * (ownActivation ? 2 : 1);
  }
  return f;
}

/**
 * Estimates the peak memory of one training step (forward, backward, optimizer update) of `model`
 * for `batchSize` images of `inputSize`, from its layers' output sizes. Float32 throughout.
 */
export function estimateTrainingMemory(model: tf.LayersModel, options: TrainingMemoryOptions): TrainingMemoryEstimate {
  const where = 'estimateTrainingMemory';
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${where}: batchSize must be an integer >= 1, got ${String(batchSize)}.`);
  const inputSize = resolveInputSize(model, options.inputSize, where);
  const shapes = layerShapes(model, inputSize);
  const lean = (options.backend ?? tf.getBackend()) === 'wasm' && wasmGradientsRegistered();
  let perSample = 0;
  for (const layer of model.layers as unknown as LayerNode[]) {
    perSample += layerFactor(layer, lean) * elementsPerSample(shapes.get(layer.name)!) * F32;
  }
  // Losses of the segmentation outputs, and the batch itself (images and targets, twice for the
  // augmentation copies).
  const outputLayers = new Set(model.outputLayers.map((l) => l.name));
  let outputElements = 0;
  for (const name of outputLayers) {
    const s = shapes.get(name)!;
    if (s.length === 4) outputElements += elementsPerSample(s);
  }
  perSample += LOSS_MEMORY_FACTOR * outputElements * F32;
  perSample += 2 * (elementsPerSample(shapes.get(model.layers[0]!.name)!) + outputElements) * F32;
  const params = model.countParams();
  const trainable = model.trainableWeights.reduce((a, w) => a + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  const weightBytes = params * F32;
  const optimizer = optimizerCost(options.optimizer);
  // Kept through the step: weights, optimizer state, the gradients (and their accumulator).
  const persistent = weightBytes + (optimizer.slots + 1 + (options.accumulate ? 1 : 0)) * trainable * F32;
  const updateBytes = Math.ceil(persistent + optimizer.update * trainable * F32);
  // On wasm the heap a step reaches does not go back below the optimizer update's peak (measured:
  // an ImageNet-encoder model's heap at batch 1 is its update peak, and each image adds on top), so
  // there the update counts as fixed memory beside the activations.
  const fixedBytes = Math.max(Math.ceil(persistent + KERNEL_WORKSPACE_BYTES), lean ? updateBytes : 0);
  const perSampleBytes = Math.ceil(perSample);
  return {
    bytes: Math.max(perSampleBytes * batchSize + fixedBytes, updateBytes),
    perSampleBytes,
    fixedBytes,
    updateBytes,
    weightBytes,
    batchSize,
    inputSize,
    backprop: lean ? 'lean-wasm' : 'stock',
  };
}

/** The wasm backend's heap ceiling: 4 GiB less one 64 KiB page (its `getHeapMax()`). */
export const WASM_HEAP_LIMIT = 4 * 1024 ** 3 - 64 * 1024;

/**
 * The memory limit `train()` checks a step against by default: the wasm heap on 'wasm', none on
 * other backends (their limits are the machine's or the GPU driver's; pass `memoryLimit`).
 */
export function defaultMemoryLimit(backend: string = tf.getBackend()): number | null {
  return backend === 'wasm' ? WASM_HEAP_LIMIT : null;
}

/** Formats bytes as GiB/MiB with one decimal. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** Largest batch whose estimate fits in `available` bytes (0 when not even one image does). */
export function largestBatchThatFits(estimate: TrainingMemoryEstimate, available: number): number {
  if (estimate.updateBytes > available) return 0;
  if (estimate.perSampleBytes <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.max(0, Math.floor((available - estimate.fixedBytes) / estimate.perSampleBytes));
}
