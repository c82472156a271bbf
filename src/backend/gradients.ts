/**
 * Training on the wasm backend: cheaper gradients, and a backward pass that fits in wasm's 4 GiB.
 * tfjs keeps one gradient registry for all backends; everything here takes effect only while
 * 'wasm' is the active backend (other backends see the stock behaviour).
 *
 * Cheaper gradients (same formulas, fewer full-size passes):
 * - `Mean`, `Sum`: the stock gradients multiply dy by a freshly allocated `ones(x.shape)` (built
 *   in JavaScript and copied into the heap); here the (scaled) dy is tiled instead.
 * - `FusedBatchNorm` (NHWC, per-channel statistics): the stock gradient makes ~14 full-size
 *   passes; here dx = dy·(scale/√(var+ε)) is one 1×1 depthwise convolution and the statistics
 *   gradients come from two per-channel sums, Σdy and Σdy·x (Σdy·(x−mean) = Σdy·x − mean·Σdy).
 *
 * Memory. tfjs keeps every tensor saved for the backward pass, and every intermediate gradient,
 * until the whole backward pass ends: a batch-norm UNet then needs ~2× its forward activations.
 * - Leaner saving: `Relu` keeps its output instead of its input (step(relu(x)) = step(x); the
 *   next layer keeps the output anyway), and `Mean`, `Sum` and `Reshape` keep nothing (their
 *   gradient only needs the input's shape, which our kernels record on the op's attributes). A
 *   conv → batch norm → ReLU block then keeps 3 full-size tensors instead of 5 (the variance's
 *   squared deviations and the batch-norm output, held by Mean and by tf.batchNorm's Reshape, go).
 * - Progressive release: when the gradient of a tape node has run, the tensors saved for it and
 *   the gradients of its outputs are freed, instead of at the end of the backward pass; so is a
 *   gradient that tfjs has just added to another one of the same tensor (reported by our Add
 *   kernel). Only for first-order gradients, only tensors tfjs made for the backward pass (not a
 *   dy passed in).
 *   This relies on tfjs 4.22 internals (the engine's `state.gradientDepth` and `state.activeTape`,
 *   gradient functions called node by node in reverse tape order); test/backendMemory.test.ts
 *   pins them.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM } from './kernels/wasmUtil.js';

type GradFunc = tf.GradConfig['gradFunc'];

const onWasm = (): boolean => tf.getBackend() === WASM;

function whenWasm(stock: GradFunc, fast: GradFunc): GradFunc {
  return (dy, saved, attrs) => (onWasm() ? fast(dy, saved, attrs) : stock(dy, saved, attrs));
}

/** Attribute key under which our Mean / Sum / Reshape kernels record their input's shape. */
export const INPUT_SHAPE = Symbol('smtf.inputShape');

/**
 * Called by our kernels whose gradient only needs the input's shape: it is kept on the op's
 * attributes (the object that tfjs hands to both the kernel and the gradient), so the input
 * itself need not be saved.
 */
export function recordInputShape(attrs: unknown, shape: number[]): void {
  if (attrs !== null && typeof attrs === 'object') (attrs as Record<symbol, unknown>)[INPUT_SHAPE] = shape.slice();
}

/**
 * A gradient computed from dy and the input's recorded shape; when no shape was recorded (the
 * forward pass ran another backend's kernel, which saved x), the stock gradient.
 */
function fromInputShape(stock: GradFunc, grad: (dy: tf.Tensor, shape: number[], attrs: unknown) => tf.Tensor): GradFunc {
  return (dy, saved, attrs) => {
    const shape = (attrs as Record<symbol, number[] | undefined> | undefined)?.[INPUT_SHAPE];
    if (shape === undefined) return stock(dy, saved, attrs);
    return { x: () => grad(dy as tf.Tensor, shape, attrs) };
  };
}

/** Mean and Sum: dy (divided by the reduced size for Mean) tiled back over the reduced axes. */
function reduceGrad(kernel: 'Mean' | 'Sum') {
  return (dy: tf.Tensor, shape: number[], attrs: unknown): tf.Tensor => {
    const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, shape);
    const expanded = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const reps = shape.map((d, i) => (axes.includes(i) ? d : 1));
    const size = axes.reduce((n, a) => n * shape[a]!, 1);
    const g = kernel === 'Mean' ? tf.div(dy, size) : dy;
    return tf.tile(tf.reshape(g, expanded), reps);
  };
}

function fusedBatchNormGrad(stock: GradFunc): GradFunc {
  return (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as (tf.Tensor | undefined)[];
    const c = x!.shape[3];
    const perChannel = (t: tf.Tensor | undefined) => t === undefined || (t.rank === 1 && t.size === c);
    if (x!.rank !== 4 || x!.dtype !== 'float32' || ![mean, variance, scale].every(perChannel)) {
      return stock(dy, saved, attrs);
    }
    const d = dy as tf.Tensor4D;
    const axes = [0, 1, 2];
    // Per-channel quantities only: the full-size product dy·x must not outlive this call.
    const [rstd, scaledRstd, sumDy, sumDyXmu] = tf.tidy(() => {
      const r = tf.rsqrt(tf.add(variance!, (attrs as { varianceEpsilon: number }).varianceEpsilon));
      const s = tf.sum(d, axes);
      return [r, scale === undefined ? r : tf.mul(r, scale), s, tf.sub(tf.sum(tf.mul(d, x!), axes), tf.mul(mean!, s))];
    }) as tf.Tensor[];
    return {
      x: () => tf.depthwiseConv2d(d, tf.reshape(scaledRstd!, [1, 1, c!, 1]) as tf.Tensor4D, 1, 'valid'),
      mean: () => tf.neg(tf.mul(scaledRstd!, sumDy!)),
      variance: () => tf.mul(tf.mul(tf.mul(tf.square(rstd!), scaledRstd!), -0.5), sumDyXmu!),
      scale: () => tf.mul(rstd!, sumDyXmu!),
      offset: () => tf.clone(sumDy!),
    };
  };
}

/** Relu: dy·step(saved), where saved is the output on wasm and the input elsewhere (same mask; the stock formula). */
const reluGrad: GradFunc = (dy, saved) => {
  const [s] = saved as tf.Tensor[];
  return { x: () => tf.mul(dy as tf.Tensor, tf.cast(tf.step(s!), 'float32')) };
};

/** A gradient config whose saved tensors depend on the active backend at forward time. */
function withSaving(
  config: tf.GradConfig,
  gradFunc: GradFunc,
  onWasmSave: { inputsToSave: string[]; outputsToSave: boolean[] },
): tf.GradConfig {
  const out = { ...config, gradFunc };
  Object.defineProperty(out, 'inputsToSave', { get: () => (onWasm() ? onWasmSave.inputsToSave : config.inputsToSave), enumerable: true });
  Object.defineProperty(out, 'outputsToSave', { get: () => (onWasm() ? onWasmSave.outputsToSave : config.outputsToSave), enumerable: true });
  return out;
}

const NOTHING = { inputsToSave: [], outputsToSave: [] };

interface TapeNode {
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
}
interface EngineState {
  gradientDepth: number;
  activeTape: TapeNode[] | null;
}

/**
 * The newest tensor id of the forward pass whose tape is being back-propagated: gradients with a
 * larger id were made by this backward pass (a dy passed in by the caller predates the forward).
 */
let tapeSeen: TapeNode[] | null = null;
let newestForwardId = Infinity;

function newestIdOf(tape: TapeNode[] | null): number {
  if (tape !== tapeSeen) {
    tapeSeen = tape;
    handedOut.clear();
    newestForwardId = tape === null ? Infinity : -1;
    for (const node of tape ?? []) {
      for (const t of node.outputs) newestForwardId = Math.max(newestForwardId, t.id);
      for (const t of node.saved ?? []) newestForwardId = Math.max(newestForwardId, t?.id ?? -1);
    }
  }
  return newestForwardId;
}

/** Tensors of the last tape node whose gradient ran: freed when the next one starts. */
let pending: tf.Tensor[] = [];

/**
 * Input gradients our wrapped gradient functions handed out in this backward pass, by data id.
 * tfjs adds a second gradient of the same tensor to the first (`add(current, dx)`) and keeps dx
 * until the pass ends; our Add kernel reports such a dx (`noteGradientSummand`) so it is freed too.
 */
const handedOut = new Map<object, tf.Tensor>();

/** Called by our wasm Add kernel with its second operand. */
export function noteGradientSummand(b: tf.TensorInfo): void {
  if (handedOut.size === 0) return;
  // Only while the backward pass that handed them out runs (its forward tape is still active).
  if ((tf.engine().state as unknown as EngineState).activeTape !== tapeSeen) {
    handedOut.clear();
    return;
  }
  const t = handedOut.get(b.dataId);
  if (t === undefined) return;
  handedOut.delete(b.dataId);
  pending.push(t);
}

function releasePending(): void {
  for (const t of pending) t.dispose();
  pending = [];
}

/**
 * Wraps a gradient function so that, on wasm and for first-order gradients, the node's saved
 * tensors and output gradients are freed as soon as the next node's gradient starts (by then
 * all of this node's input gradients have been computed).
 */
function releasing(gradFunc: GradFunc): GradFunc {
  return (dy, saved, attrs) => {
    const state = tf.engine().state as unknown as EngineState;
    if (!onWasm() || state.gradientDepth !== 0) {
      pending = [];
      return gradFunc(dy, saved, attrs);
    }
    releasePending();
    const dys = (Array.isArray(dy) ? dy : [dy]).filter((t): t is tf.Tensor => t instanceof tf.Tensor);
    const grads = gradFunc(dy, saved, attrs);
    // Saved tensors are the engine's own clones; output gradients only if this pass made them.
    for (const t of saved) if (t !== undefined && t !== null && !(t instanceof tf.Variable)) pending.push(t);
    const forward = newestIdOf(state.activeTape);
    for (const t of dys) if (t.id > forward) pending.push(t);
    // An input gradient that is one of the dys themselves must outlive them: hand out a copy.
    const out: Record<string, () => tf.Tensor> = {};
    for (const [name, f] of Object.entries(grads)) {
      out[name] = () => {
        const f0 = f();
        const g = dys.includes(f0) ? tf.clone(f0) : f0;
        handedOut.set(g.dataId, g);
        return g;
      };
    }
    return out;
  };
}

let registered = false;

/** Whether {@link registerWasmGradients} ran: wasm training steps then free memory node by node. */
export function wasmGradientsRegistered(): boolean {
  return registered;
}

/** Installs the wasm gradients and the progressive release (idempotent; called by registerWasmKernels). */
export function registerWasmGradients(): void {
  if (registered) return;
  const fast: Record<string, (stock: tf.GradConfig) => tf.GradConfig> = {
    // (These three work on any backend once our kernel recorded the shape, else they are stock.)
    [tf.Mean]: (s) => withSaving(s, fromInputShape(s.gradFunc, reduceGrad('Mean')), NOTHING),
    [tf.Sum]: (s) => withSaving(s, fromInputShape(s.gradFunc, reduceGrad('Sum')), NOTHING),
    [tf.Reshape]: (s) => withSaving(s, fromInputShape(s.gradFunc, (dy, shape) => tf.reshape(dy, shape)), NOTHING),
    [tf.FusedBatchNorm]: (s) => ({ ...s, gradFunc: whenWasm(s.gradFunc, fusedBatchNormGrad(s.gradFunc)) }),
    [tf.Relu]: (s) => withSaving(s, reluGrad, { inputsToSave: [], outputsToSave: [true] }),
  };
  for (const [name, make] of Object.entries(fast)) {
    const stock = tf.getGradient(name);
    if (stock !== undefined) tf.registerGradient(make(stock));
  }
  // Every registered gradient (kernel names are the string exports of tfjs-core).
  const names = new Set((Object.values(tf) as unknown[]).filter((v): v is string => typeof v === 'string'));
  for (const name of names) {
    const config = tf.getGradient(name);
    if (config === undefined || config.kernelName !== name) continue;
    const wrapped = Object.create(Object.getPrototypeOf(config) as object, Object.getOwnPropertyDescriptors(config)) as tf.GradConfig;
    Object.defineProperty(wrapped, 'gradFunc', { value: releasing(config.gradFunc), enumerable: true });
    tf.registerGradient(wrapped);
  }
  registered = true;
}
