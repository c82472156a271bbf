/**
 * `SplitV` for the wasm backend (the gradient of concatenate, i.e. of every UNet skip connection).
 * The stock kernel slices each piece with a generic strided loop; here every piece is a run of
 * contiguous copies: for each index of the dimensions before `axis`, one block of
 * size[i] × (product of the dimensions after `axis`) elements.
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, copyTensorBlocks, wasmKernel } from './wasmUtil.js';

export function splitV(args: {
  inputs: { x: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { numOrSizeSplits: number[] | number; axis: number };
}): tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    throw new Error(`SplitV (wasm): dtype ${x.dtype} is not supported by the wasm backend; use float32, int32 or bool.`);
  }
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis) as number[];
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const rowLen = x.shape[axis] * inner;
  const outs = sizes.map((s) => {
    const shape = x.shape.slice();
    shape[axis] = s;
    return backend.makeOutput(shape, x.dtype);
  });
  let offset = 0;
  sizes.forEach((s, i) => {
    const len = s * inner;
    if (len > 0 && outer > 0) copyTensorBlocks(backend, x, rowLen, offset, outs[i]!, len, 0, outer, len);
    offset += len;
  });
  return outs;
}

export const splitVConfig = wasmKernel(tf.SplitV, splitV);
