/** `Sum` for the wasm backend: leading-axes reductions as one matMul (see reduceLeading.ts). */
import * as tf from '@tensorflow/tfjs';
import { type ReduceArgs, reduceLeading } from './reduceLeading.js';
import { WASM } from './wasmUtil.js';

export const sumConfig: tf.KernelConfig = {
  kernelName: tf.Sum,
  backendName: WASM,
  kernelFunc: ((args: ReduceArgs) => reduceLeading('Sum', args)) as unknown as tf.KernelFunc,
};
