/**
 * `Slice` for the wasm backend (the centre crops of the classic UNet, and the gradient of every
 * split). The stock kernel copies one innermost row (= C elements) at a time; here trailing
 * dimensions taken whole are merged into one contiguous run, so a crop of an NHWC map copies whole
 * image rows, and runs along the next dimension out are copied by one call of our wasm module.
 */
import * as tf from '@tensorflow/tfjs';
import { addressOf, simdKernels } from './simd.js';
import { type TypedData, type WasmBackend, copyBlocks, original, wasmKernel } from './wasmUtil.js';

/**
 * Calls `copy(src, srcStride, dst, rows, run)` for every group of `rows` contiguous runs of `run`
 * elements that the slice consists of (element offsets; the runs of a group are `srcStride` apart
 * in x and back to back in the output).
 */
export function sliceRuns(
  shape: number[],
  begin: number[],
  size: number[],
  copy: (src: number, srcStride: number, dst: number, rows: number, run: number) => void,
): void {
  const rank = shape.length;
  if (rank === 0) {
    copy(0, 1, 0, 1, 1);
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
  if (first === 0) {
    copy(offset, run, 0, 1, run);
    return;
  }
  // Runs along dimension first-1 form one group; iterate over the dimensions before it.
  const rowsDim = first - 1;
  const rows = size[rowsDim]!;
  const outer = size.slice(0, rowsDim);
  const count = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(rowsDim).fill(0);
  for (let n = 0, dst = 0; n < count; n++, dst += rows * run) {
    let src = offset;
    for (let d = 0; d < rowsDim; d++) src += idx[d]! * strides[d]!;
    copy(src, strides[rowsDim]!, dst, rows, run);
    for (let d = rowsDim - 1; d >= 0; d--) {
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
  if (!size.every((s) => s > 0)) return out;
  const simd = x.dtype === 'bool' ? null : simdKernels(backend);
  if (simd !== null) {
    const xa = addressOf(backend, x);
    const oa = addressOf(backend, out);
    sliceRuns(x.shape, begin, size, (src, stride, dst, rows, run) =>
      simd.copy_blocks(xa + 4 * src, 4 * stride, oa + 4 * dst, 4 * run, rows, 4 * run),
    );
  } else {
    const xv = backend.typedArrayFromHeap(x) as TypedData;
    const ov = backend.typedArrayFromHeap(out) as TypedData;
    sliceRuns(x.shape, begin, size, (src, stride, dst, rows, run) => copyBlocks(xv, stride, src, ov, run, dst, rows, run));
  }
  return out;
}

export const sliceConfig = wasmKernel(tf.Slice, slice);
