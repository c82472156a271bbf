/**
 * Shared body of our `Sum` and `Mean` kernels for the wasm backend.
 *
 * Reducing a float32 tensor over its *leading* axes (e.g. a [B,H,W,C] gradient over B,H,W: every
 * bias and batch-norm gradient, and whole-tensor losses) is a column sum of x viewed as [P, C]:
 * one streaming pass in JS with float64 accumulators. The stock kernels first transpose the tensor
 * so the reduced axes come last (~20× slower). (A matMul ones[1,P]·x[P,C] is fast only when XNNPACK
 * has x packed already; for the fresh tensors of a train step, packing costs more than this loop.)
 * Other reductions go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, heapF32, original } from './wasmUtil.js';

export interface ReduceArgs {
  inputs: { x: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { axis: number | number[]; keepDims: boolean };
}

export function reduceLeading(kernel: 'Sum' | 'Mean', args: ReduceArgs): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).slice().sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || rank === 0 || !leading) return original(kernel)(args);
  const k = axes.length;
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  const cols = x.shape.slice(k).reduce((a, b) => a * b, 1);
  const outShape = attrs.keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k);
  if (rows === 0 || cols === 0) return original(kernel)(args);
  const out = backend.makeOutput(outShape, 'float32');
  const src = heapF32(backend, x); // after the only allocation
  const acc = new Float64Array(cols);
  if (cols === 1) {
    let total = 0;
    for (let i = 0; i < rows; i++) total += src[i];
    acc[0] = total;
  } else {
    // Accumulate whole groups of rows at a time (a long, JIT-friendly inner loop even when
    // cols is small), then fold the group's lanes into the per-column totals.
    const group = Math.max(1, Math.floor(1024 / cols));
    const lanes = new Float64Array(group * cols);
    const full = Math.floor(rows / group) * group * cols;
    for (let o = 0; o < full; o += lanes.length) {
      for (let j = 0; j < lanes.length; j++) lanes[j] += src[o + j];
    }
    for (let j = 0; j < lanes.length; j++) acc[j % cols] += lanes[j];
    for (let o = full; o < rows * cols; o += cols) {
      for (let c = 0; c < cols; c++) acc[c] += src[o + c];
    }
  }
  const scale = kernel === 'Mean' ? 1 / rows : 1;
  const dst = heapF32(backend, out);
  for (let c = 0; c < cols; c++) dst[c] = acc[c] * scale;
  return out;
}
