/**
 * Our `Sum` and `Mean` kernels for the wasm backend.
 *
 * Reducing a float32 tensor over its *leading* axes (e.g. a [B,H,W,C] gradient over B,H,W: every
 * bias and batch-norm gradient, and whole-tensor losses) is a column sum of x viewed as [P, C].
 * The stock kernels first transpose the tensor so the reduced axes come last (~20× slower).
 * Here x is viewed as [P/h, h, 1, C] and averaged over windows of h rows by XNNPACK's average
 * pooling (vectorised over C); the P/h partial means are then summed in JS with float64
 * accumulators. When P has no divisor h ≥ 16 (≤ 1024), a plain JS column sum is used instead.
 * (A matMul ones[1,P]·x[P,C] is slower: XNNPACK repacks x, a fresh tensor, on every call.)
 * Other reductions go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { recordInputShape } from '../gradients.js';
import { type WasmBackend, heapF32, original, viewAs, wasmKernel } from './wasmUtil.js';

export interface ReduceArgs {
  inputs: { x: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { axis: number | number[]; keepDims: boolean };
}

export function reduceLeading(kernel: 'Sum' | 'Mean', args: ReduceArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  recordInputShape(attrs, x.shape); // lets the gradient do without a saved x
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).slice().sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || rank === 0 || !leading) return original(kernel)(args);
  const k = axes.length;
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(k).reduce((a, b) => a * b, 1);
  const outShape = attrs.keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k);
  if (rows === 0 || cols === 0) return original(kernel)(args);
  const window = poolWindow(rows);
  let partial: tf.TensorInfo | null = null;
  let partialRows = rows;
  let partialScale = 1;
  if (window >= MIN_WINDOW) {
    partialRows = rows / window;
    partialScale = window;
    partial = original('AvgPool')({
      inputs: { x: viewAs(x, [partialRows, window, 1, cols]) },
      backend,
      attrs: { filterSize: [window, 1], strides: [window, 1], pad: 'valid' },
    });
  }
  const out = backend.makeOutput(outShape, 'float32');
  const src = heapF32(backend, partial ?? x); // after the last allocation
  const acc = columnSums(src, partialRows, cols);
  if (partial !== null) backend.disposeData(partial.dataId);
  const scale = (kernel === 'Mean' ? 1 / rows : 1) * partialScale;
  const dst = heapF32(backend, out);
  for (let c = 0; c < cols; c++) dst[c] = acc[c]! * scale;
  return out;
}

const MIN_WINDOW = 16;
const MAX_WINDOW = 1024;

/** The largest divisor of `rows` that is at most MAX_WINDOW. */
function poolWindow(rows: number): number {
  for (let h = Math.min(MAX_WINDOW, rows); h > 1; h--) if (rows % h === 0) return h;
  return 1;
}

/** Column sums of src viewed as [rows, cols], with float64 accumulators. */
function columnSums(src: Float32Array, rows: number, cols: number): Float64Array {
  const acc = new Float64Array(cols);
  if (cols === 1) {
    let total = 0;
    for (let i = 0; i < rows; i++) total += src[i]!;
    acc[0] = total;
    return acc;
  }
  // Accumulate whole groups of rows at a time (a long, JIT-friendly inner loop even when cols is
  // small), then fold the group's lanes into the per-column totals.
  const group = Math.max(1, Math.floor(1024 / cols));
  const lanes = new Float64Array(group * cols);
  const full = Math.floor(rows / group) * group * cols;
  for (let o = 0; o < full; o += lanes.length) {
    for (let j = 0; j < lanes.length; j++) lanes[j] += src[o + j]!;
  }
  for (let j = 0; j < lanes.length; j++) acc[j % cols] += lanes[j]!;
  for (let o = full; o < rows * cols; o += cols) {
    for (let c = 0; c < cols; c++) acc[c] += src[o + c]!;
  }
  return acc;
}

export const sumConfig = wasmKernel(tf.Sum, (args: ReduceArgs) => reduceLeading('Sum', args));
export const meanConfig = wasmKernel(tf.Mean, (args: ReduceArgs) => reduceLeading('Mean', args));
