/**
 * `FusedBatchNorm` for the wasm backend (every batch-norm layer, in training and inference). The
 * stock kernel is a serial C++ loop with a division per element; here the per-channel affine map
 * y = x·s + t (s = scale / √(variance + ε), t = offset − mean·s) is applied by XNNPACK's 1×1
 * depthwise convolution with bias (one multiply-add pass, on the thread pool).
 *
 * x·s + t cancels when |mean| ≫ √variance; channels with |mean|·s > 256 keep the stock kernel.
 * Other ranks and layouts go to the stock kernel too.
 */
import * as tf from '@tensorflow/tfjs';
import { type WasmBackend, heapF32, original, wasmKernel } from './wasmUtil.js';

/** Largest |mean| / √(variance + ε) for which x·s + t is accurate enough (float32). */
const MAX_CENTRED_RATIO = 256;

export function fusedBatchNorm(args: {
  inputs: { x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; offset?: tf.TensorInfo; scale?: tf.TensorInfo };
  backend: WasmBackend;
  attrs: { varianceEpsilon: number };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs;
  const c = x.shape[3]!;
  const perChannel = (t: tf.TensorInfo | undefined) =>
    t === undefined || (t.dtype === 'float32' && t.shape.length === 1 && (t.shape[0] === c || t.shape[0] === 1));
  if (x.shape.length !== 4 || x.dtype !== 'float32' || ![mean, variance, offset, scale].every(perChannel)) {
    return original(tf.FusedBatchNorm)(args as never);
  }
  const m = heapF32(backend, mean);
  const v = heapF32(backend, variance);
  const o = offset === undefined ? null : heapF32(backend, offset);
  const g = scale === undefined ? null : heapF32(backend, scale);
  const at = (a: Float32Array, i: number) => (a.length === 1 ? a[0]! : a[i]!);
  const s = new Float32Array(c);
  const t = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const r = 1 / Math.sqrt(at(v, i) + attrs.varianceEpsilon);
    if (!(Math.abs(at(m, i)) * r <= MAX_CENTRED_RATIO)) return original(tf.FusedBatchNorm)(args as never);
    s[i] = (g === null ? 1 : at(g, i)) * r;
    t[i] = (o === null ? 0 : at(o, i)) - at(m, i) * s[i]!;
  }
  const filter = backend.makeOutput([1, 1, c, 1], 'float32');
  const bias = backend.makeOutput([c], 'float32');
  heapF32(backend, filter).set(s);
  heapF32(backend, bias).set(t);
  const out = original(tf.FusedDepthwiseConv2D)({
    inputs: { x, filter, bias },
    backend,
    attrs: { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC', activation: 'linear' },
  });
  backend.disposeData(filter.dataId);
  backend.disposeData(bias.dataId);
  return out;
}

export const fusedBatchNormConfig = wasmKernel(tf.FusedBatchNorm, fusedBatchNorm);
