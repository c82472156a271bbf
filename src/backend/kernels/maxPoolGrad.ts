/**
 * `MaxPoolGrad` for the wasm backend (every max-pool of the UNet family: 2×2, and UNet 3+'s 4×4,
 * 8×8, ... with 'same' padding). One pass: per output pixel the window is scanned with running
 * maxima for all channels at once (row-major, first maximum wins, as on the cpu backend; the stock
 * wasm kernel breaks ties differently), and dy is added to the winners (so overlapping windows
 * work too). In our wasm module (4 channels per SIMD lane group) where it runs, else in JavaScript.
 */
import * as tf from '@tensorflow/tfjs';
import { addressOf, simdKernels } from './simd.js';
import { type WasmBackend, heapF32, original, wasmKernel } from './wasmUtil.js';

export function maxPoolGrad(args: {
  inputs: { dy: tf.TensorInfo; input: tf.TensorInfo; output: tf.TensorInfo };
  backend: WasmBackend;
  attrs: {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    return original(tf.MaxPoolGrad)(args);
  }
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(input.shape, 'float32');
  const simd = simdKernels(backend);
  if (simd !== null) {
    simd.max_pool_grad(
      addressOf(backend, input), addressOf(backend, dy), addressOf(backend, out),
      batchSize, H, W, C, OH, OW, fh, fw, sh, sw, top, left,
    );
    return out;
  }
  const x = heapF32(backend, input); // after the only allocation
  const g = heapF32(backend, dy);
  const dx = heapF32(backend, out);
  dx.fill(0);
  const best = new Float32Array(C);
  const where = new Int32Array(C);
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = Math.max(0, oy * sh - top);
      const y1 = Math.min(H, oy * sh - top + fh);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = Math.max(0, ox * sw - left);
        const x1 = Math.min(W, ox * sw - left + fw);
        best.fill(-Infinity);
        where.fill(-1);
        for (let y = y0; y < y1; y++) {
          for (let xx = x0; xx < x1; xx++) {
            const base = ((b * H + y) * W + xx) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                where[c] = base + c;
              }
            }
          }
        }
        const o = ((b * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) {
          const w = where[c]!;
          if (w >= 0) dx[w] += g[o + c]!;
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig = wasmKernel(tf.MaxPoolGrad, maxPoolGrad);
