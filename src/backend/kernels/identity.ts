/**
 * `Identity` for the wasm backend without a copy: the output shares the input's data (reference
 * counted, as the cpu backend does). The stock kernel copies the whole tensor, and training calls
 * Identity hundreds of times per step (gradients of additions, optimizer bookkeeping).
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, original, wasmKernel } from './wasmUtil.js';

export function identity(args: { inputs: { x: tf.TensorInfo }; backend: WasmBackend }): tf.TensorInfo {
  const { x } = args.inputs;
  if (x.dtype === 'string') return original(tf.Identity)(args);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig = wasmKernel(tf.Identity, identity);
