/** `Mean` for the wasm backend: leading-axes reductions as one matMul (see reduceLeading.ts). */
import * as tf from '@tensorflow/tfjs';
import { type ReduceArgs, reduceLeading } from './reduceLeading.js';
import { WASM } from './wasmUtil.js';

export const meanConfig: tf.KernelConfig = {
  kernelName: tf.Mean,
  backendName: WASM,
  kernelFunc: ((args: ReduceArgs) => reduceLeading('Mean', args)) as unknown as tf.KernelFunc,
};
