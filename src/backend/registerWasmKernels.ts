/**
 * Registers this library's kernels for the tfjs `wasm` backend, replacing stock ones where ours are
 * faster. Idempotent. Called by `initBackend`; call it yourself only if you set the wasm backend up
 * without `initBackend` (after `import '@tensorflow/tfjs-backend-wasm'`).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterConfig } from './kernels/conv2dBackpropFilter.js';
import { conv2dBackpropInputConfig } from './kernels/conv2dBackpropInput.js';
import { concatConfig } from './kernels/concat.js';
import { depthwiseConv2dGradWasmKernels } from './kernels/depthwiseConv2dGrad.js';
import { castConfig, identityConfig } from './kernels/identity.js';
import { addConfig, reshapeConfig } from './kernels/recording.js';
import { fusedBatchNormConfig } from './kernels/batchNorm.js';
import { maxPoolGradConfig } from './kernels/maxPoolGrad.js';
import { resizeGradWasmKernels } from './kernels/resizeGrad.js';
import { sliceConfig } from './kernels/slice.js';
import { meanConfig, sumConfig } from './kernels/reduceLeading.js';
import { splitVConfig } from './kernels/splitV.js';
import { tileConfig } from './kernels/tile.js';
import { WASM, captureOriginal } from './kernels/wasmUtil.js';
import { registerWasmGradients } from './gradients.js';

/** Kernels we add or replace on wasm. */
export const WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  tileConfig,
  splitVConfig,
  concatConfig,
  identityConfig,
  sumConfig,
  meanConfig,
  sliceConfig,
  maxPoolGradConfig,
  castConfig,
  fusedBatchNormConfig,
  reshapeConfig,
  addConfig,
  ...resizeGradWasmKernels,
  ...depthwiseConv2dGradWasmKernels,
];

/** Stock wasm kernels our kernels call into; captured before anything is replaced. */
const BUILDING_BLOCKS = ['BatchMatMul', 'Conv2D', 'AvgPool', 'FusedDepthwiseConv2D'];

let registered = false;

/** Registers this library's kernels for the `wasm` backend (training kernels and fixes; `initBackend` calls it) and returns their names. Throws when the wasm backend is not loaded. */
export function registerWasmKernels(): string[] {
  if (registered) return WASM_KERNELS.map((k) => k.kernelName);
  if (tf.getKernel('Conv2D', WASM) === undefined) {
    throw new Error(
      "registerWasmKernels: the tfjs wasm backend is not loaded; import '@tensorflow/tfjs-backend-wasm' " +
        "first (initBackend('wasm') does both).",
    );
  }
  for (const name of BUILDING_BLOCKS) captureOriginal(name);
  for (const config of WASM_KERNELS) {
    captureOriginal(config.kernelName);
    const stock = tf.getKernel(config.kernelName, WASM);
    if (stock !== undefined) tf.unregisterKernel(config.kernelName, WASM);
    // Keep the stock kernel's setup (it binds its wasm function when the backend initialises):
    // our kernel falls back to the stock one for cases it does not handle.
    tf.registerKernel({ ...config, setupFunc: stock?.setupFunc });
  }
  registerWasmGradients();
  registered = true;
  return WASM_KERNELS.map((k) => k.kernelName);
}
