/**
 * Stock wasm kernels wrapped so that the backward pass can keep less (see gradients.ts):
 * `Reshape` records its input's shape on the op's attributes (its gradient then needs no saved
 * input), `Add` reports its second operand (a gradient that tfjs has just summed into another).
 */
import * as tf from '@tensorflow/tfjs';
import { noteGradientSummand, recordInputShape } from '../gradients.js';
import { type WasmBackend, original, wasmKernel } from './wasmUtil.js';

/** The stock `Reshape` (shares data), recording the input's shape. */
export function reshape(args: { inputs: { x: tf.TensorInfo }; backend: WasmBackend; attrs: { shape: number[] } }): tf.TensorInfo {
  recordInputShape(args.attrs, args.inputs.x.shape);
  return original(tf.Reshape)(args);
}

export const reshapeConfig = wasmKernel(tf.Reshape, reshape);

/** The stock `Add`, reporting its second operand: tfjs sums a tensor's gradients with add(current, dx). */
export function add(args: { inputs: { a: tf.TensorInfo; b: tf.TensorInfo }; backend: WasmBackend }): tf.TensorInfo {
  noteGradientSummand(args.inputs.b);
  return original(tf.Add)(args);
}

export const addConfig = wasmKernel(tf.Add, add);
