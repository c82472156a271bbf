/**
 * A fast `Conv2DBackpropInput` for the wasm backend (replaces the stock one, which runs at
 * ~1.5-3 GFLOP/s). It is the input gradient of conv2d and also the forward pass of
 * conv2dTranspose.
 *
 * - stride == kernel size, no padding (the 2×2/stride-2 transposed convolution of UNet decoders):
 *   the taps do not overlap, so dx is one plain matMul dy[n,co] · W'[co,(kh,kw,ci)] followed by a
 *   row shuffle in JS.
 * - otherwise: dx = conv2d(dy', rot180(W) with in/out channels swapped), on XNNPACK. For stride 1
 *   dy' = dy with explicit padding handled by the conv itself; for larger strides (or padding
 *   larger than the kernel) dy' is built in JS by spreading dy with zeros and padding it.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type WasmBackend,
  heapF32,
  matMulNN,
  original,
  requireChannelsLast,
  requireFloat32,
  viewAs,
  wasmKernel,
} from './wasmUtil.js';

type Attrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
};

/** w[kh,kw,ci,co] -> r[KH-1-kh, KW-1-kw, co, ci] (rotated 180°, channels swapped). */
function rotateFilter(w: Float32Array, r: Float32Array, kH: number, kW: number, ci: number, co: number): void {
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const src = (kh * kW + kw) * ci * co;
      const dst = ((kH - 1 - kh) * kW + (kW - 1 - kw)) * co * ci;
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) r[dst + o * ci + i] = w[src + i * co + o];
      }
    }
  }
}

/** Non-overlapping case (stride == kernel, no padding): one matMul, then a row shuffle. */
function backpropInputNoOverlap(
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  backend: WasmBackend,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: b, outHeight: oh, outWidth: ow, filterHeight: kH, filterWidth: kW } = info;
  const ci = info.inChannels;
  const co = info.outChannels;
  const taps = kH * kW * ci;
  // m[o, (kh,kw,i)] = w[kh,kw,i,o]
  const m = backend.makeOutput([co, taps], 'float32');
  {
    const w = heapF32(backend, filter);
    const mv = heapF32(backend, m);
    for (let t = 0; t < taps; t++) {
      for (let o = 0; o < co; o++) mv[o * taps + t] = w[t * co + o];
    }
  }
  const n = b * oh * ow;
  const prod = matMulNN(backend, viewAs(dy, [n, co]), m); // [n, (kh,kw,i)]
  backend.disposeData(m.dataId);
  const out = backend.makeOutput(info.inShape, 'float32');
  const p = heapF32(backend, prod);
  const dx = heapF32(backend, out);
  const inW = info.inWidth;
  const run = kW * ci; // (kw, i) is contiguous in both layouts
  for (let pix = 0; pix < n; pix++) {
    const bb = Math.floor(pix / (oh * ow));
    const rem = pix - bb * oh * ow;
    const oy = Math.floor(rem / ow);
    const ox = rem - oy * ow;
    for (let kh = 0; kh < kH; kh++) {
      const src = pix * taps + kh * run;
      const dst = ((bb * info.inHeight + oy * kH + kh) * inW + ox * kW) * ci;
      dx.set(p.subarray(src, src + run), dst);
    }
  }
  backend.disposeData(prod.dataId);
  return out;
}

export function conv2dBackpropInput(args: {
  inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
  backend: WasmBackend;
  attrs: Attrs;
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireFloat32('Conv2DBackpropInput', dy, filter);
  requireChannelsLast('Conv2DBackpropInput', attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const ci = info.inChannels;
  const co = info.outChannels;
  if (dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth || dy.shape[3] !== co) {
    throw new Error(
      `Conv2DBackpropInput (wasm): dy has shape [${dy.shape}] but an input of shape ` +
        `[${attrs.inputShape}] with filter [${filter.shape}] gives [${info.outShape}].`,
    );
  }
  const { top, left } = info.padInfo;
  if (
    sH === kH && sW === kW && top === 0 && left === 0 &&
    info.inHeight === info.outHeight * sH && info.inWidth === info.outWidth * sW
  ) {
    return backpropInputNoOverlap(dy, filter, backend, info);
  }

  const rot = backend.makeOutput([kH, kW, co, ci], 'float32');
  rotateFilter(heapF32(backend, filter), heapF32(backend, rot), kH, kW, ci, co);

  // Padding of the (zero-spread) dy so that a 'valid' correlation with rot gives dx exactly.
  const pt = kH - 1 - top;
  const pl = kW - 1 - left;
  const spreadH = (info.outHeight - 1) * sH + 1;
  const spreadW = (info.outWidth - 1) * sW + 1;
  const pb = info.inHeight + kH - 1 - pt - spreadH;
  const pr = info.inWidth + kW - 1 - pl - spreadW;
  const conv2d = original('Conv2D');
  let result: tf.TensorInfo;
  if (sH === 1 && sW === 1 && pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0) {
    result = conv2d({
      inputs: { x: dy, filter: rot },
      backend,
      attrs: { strides: 1, dilations: 1, pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC' },
    });
  } else {
    // Build dy' [B, inH+kH-1, inW+kW-1, co] in JS: dy spread by the strides, shifted by (pt, pl).
    const hp = info.inHeight + kH - 1;
    const wp = info.inWidth + kW - 1;
    const spread = backend.makeOutput([info.batchSize, hp, wp, co], 'float32');
    const d = heapF32(backend, spread);
    const g = heapF32(backend, dy);
    d.fill(0);
    for (let bb = 0; bb < info.batchSize; bb++) {
      for (let oy = 0; oy < info.outHeight; oy++) {
        const y = oy * sH + pt;
        if (y < 0 || y >= hp) continue;
        for (let ox = 0; ox < info.outWidth; ox++) {
          const xx = ox * sW + pl;
          if (xx < 0 || xx >= wp) continue;
          const src = ((bb * info.outHeight + oy) * info.outWidth + ox) * co;
          d.set(g.subarray(src, src + co), ((bb * hp + y) * wp + xx) * co);
        }
      }
    }
    result = conv2d({
      inputs: { x: spread, filter: rot },
      backend,
      attrs: { strides: 1, dilations: 1, pad: 'valid', dataFormat: 'NHWC' },
    });
    backend.disposeData(spread.dataId);
  }
  backend.disposeData(rot.dataId);
  return result;
}

export const conv2dBackpropInputConfig = wasmKernel(tf.Conv2DBackpropInput, conv2dBackpropInput);
