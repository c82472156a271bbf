/**
 * `Concat` for the wasm backend (every UNet skip connection): for each index of the dimensions
 * before `axis`, each input contributes one contiguous block, copied with `set` (memcpy speed).
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, copyTensorBlocks, original, wasmKernel } from './wasmUtil.js';

export function concat(args: {
  inputs: tf.TensorInfo[];
  backend: WasmBackend;
  attrs: { axis: number };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const first = inputs[0];
  if (first === undefined || inputs.some((t) => t.dtype !== first.dtype) || first.dtype === 'string' || first.dtype === 'complex64') {
    return original(tf.Concat)(args as never);
  }
  const axis = tf.util.parseAxisParam(attrs.axis, first.shape)[0];
  tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  const out = backend.makeOutput(outShape, first.dtype);
  const outer = outShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const rowLen = outShape.slice(axis).reduce((a, b) => a * b, 1);
  let offset = 0;
  for (const t of inputs) {
    const len = t.shape.slice(axis).reduce((a, b) => a * b, 1);
    if (len === 0) continue;
    copyTensorBlocks(backend, t, len, 0, out, rowLen, offset, outer, len);
    offset += len;
  }
  return out;
}

export const concatConfig = wasmKernel(tf.Concat, concat);
