/**
 * `Slice` for the wasm backend (the centre crops of the classic UNet, and the gradient of every
 * split). The stock kernel copies one innermost row (= C elements) at a time; here trailing
 * dimensions taken whole are merged into one contiguous run, so a crop of an NHWC map copies whole
 * image rows.
 */
import * as tf from '@tensorflow/tfjs';
import { type TypedData, type WasmBackend, original, wasmKernel } from './wasmUtil.js';

export function sliceInto(x: TypedData, shape: number[], begin: number[], size: number[], out: TypedData): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0]!;
    return;
  }
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1]! * shape[d + 1]!;
  // The contiguous run: trailing whole dimensions, plus the first partial one (from the end).
  let first = rank - 1; // outermost dimension inside the run
  let run = size[rank - 1]!;
  while (first > 0 && size[first] === shape[first]) {
    first--;
    run *= size[first]!;
  }
  let offset = 0;
  for (let d = 0; d < rank; d++) offset += begin[d]! * strides[d]!;
  const outer = size.slice(0, first);
  const count = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(first).fill(0);
  for (let n = 0, dst = 0; n < count; n++, dst += run) {
    let src = offset;
    for (let d = 0; d < first; d++) src += idx[d]! * strides[d]!;
    out.set(x.subarray(src, src + run), dst);
    for (let d = first - 1; d >= 0; d--) {
      if (++idx[d]! < outer[d]!) break;
      idx[d] = 0;
    }
  }
}

export function slice(args: {
  inputs: { x: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { begin: number | number[]; size: number | number[] };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string' || x.dtype === 'complex64') return original(tf.Slice)(args);
  const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size) as [number[], number[]];
  const out = backend.makeOutput(size, x.dtype);
  if (size.every((s) => s > 0)) {
    sliceInto(backend.typedArrayFromHeap(x) as TypedData, x.shape, begin, size, backend.typedArrayFromHeap(out) as TypedData);
  }
  return out;
}

export const sliceConfig = wasmKernel(tf.Slice, slice);
