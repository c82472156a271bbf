/**
 * `Identity` and same-dtype `Cast` for the wasm backend without a copy: the output shares the
 * input's data (reference counted, as the cpu backend does). The stock kernels copy the whole
 * tensor, and training calls them hundreds of times per step (gradients of additions, optimizer
 * bookkeeping, the `cast(step(x))` of every ReLU gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, original, wasmKernel } from './wasmUtil.js';

function share(x: tf.TensorInfo, backend: WasmBackend): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function identity(args: { inputs: { x: tf.TensorInfo }; backend: WasmBackend }): tf.TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === 'string') return original(tf.Identity)(args);
  return share(x, args.backend);
}

export function cast(args: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: { dtype: tf.DataType } }): tf.TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== args.attrs.dtype || x.dtype === 'string') return original(tf.Cast)(args);
  return share(x, args.backend);
}

export const identityConfig = wasmKernel(tf.Identity, identity);
export const castConfig = wasmKernel(tf.Cast, cast);

