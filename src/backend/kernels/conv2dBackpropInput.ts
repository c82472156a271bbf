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
import { addressOf, simdKernels } from './simd.js';
import {
  type WasmBackend,
  copyTensorBlocks,
  heapF32,
  matMulNN,
  original,
  conv2DGradInfo,
  type Conv2DGradAttrs,
  viewAs,
  wasmKernel,
} from './wasmUtil.js';

type Attrs = Conv2DGradAttrs & { inputShape: [number, number, number, number] };

/**
 * Transposes `count` matrices [rows, cols] of `src` (element offsets `srcAt(i)`) into [cols, rows]
 * at `dstAt(i)` of `dst`: in our wasm module where it runs, else in JavaScript.
 */
function transposeBlocks(
  backend: WasmBackend, src: tf.TensorInfo, dst: tf.TensorInfo, count: number, rows: number, cols: number,
  srcAt: (i: number) => number, dstAt: (i: number) => number,
): void {
  const simd = simdKernels(backend);
  if (simd !== null) {
    const s = addressOf(backend, src);
    const d = addressOf(backend, dst);
    for (let i = 0; i < count; i++) simd.to_planes(s + 4 * srcAt(i), rows, cols, d + 4 * dstAt(i), 4 * rows);
    return;
  }
  const sv = heapF32(backend, src);
  const dv = heapF32(backend, dst);
  for (let i = 0; i < count; i++) {
    const from = srcAt(i);
    const to = dstAt(i);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) dv[to + c * rows + r] = sv[from + r * cols + c]!;
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
  transposeBlocks(backend, filter, m, 1, taps, co, () => 0, () => 0);
  const n = b * oh * ow;
  const prod = matMulNN(backend, viewAs(dy, [n, co]), m); // [n, (kh,kw,i)]
  backend.disposeData(m.dataId);
  const out = backend.makeOutput(info.inShape, 'float32');
  const inW = info.inWidth;
  const run = kW * ci; // (kw, i) is contiguous in both layouts
  // For each image row of dy and each kh: ow runs, taps apart in prod, run apart in dx.
  for (let bb = 0; bb < b; bb++) {
    for (let oy = 0; oy < oh; oy++) {
      const pix = (bb * oh + oy) * ow;
      for (let kh = 0; kh < kH; kh++) {
        const dst = ((bb * info.inHeight + oy * kH + kh) * inW) * ci;
        copyTensorBlocks(backend, prod, taps, pix * taps + kh * run, out, run, dst, ow, run);
      }
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
  const info = conv2DGradInfo('Conv2DBackpropInput', attrs.inputShape, filter.shape, attrs, dy, filter);
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

  // rot[KH-1-kh, KW-1-kw, o, i] = w[kh, kw, i, o]: the filter rotated 180°, channels swapped.
  const rot = backend.makeOutput([kH, kW, co, ci], 'float32');
  transposeBlocks(backend, filter, rot, kH * kW, ci, co, (t) => t * ci * co, (t) => (kH * kW - 1 - t) * co * ci);

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
    heapF32(backend, spread).fill(0);
    // Columns ox whose spread position pl + ox·sW lies inside [0, wp).
    const ox0 = Math.max(0, Math.ceil(-pl / sW));
    const ox1 = Math.min(info.outWidth, Math.floor((wp - 1 - pl) / sW) + 1);
    for (let bb = 0; bb < info.batchSize; bb++) {
      for (let oy = 0; oy < info.outHeight; oy++) {
        const y = oy * sH + pt;
        if (y < 0 || y >= hp || ox1 <= ox0) continue;
        const src = ((bb * info.outHeight + oy) * info.outWidth + ox0) * co;
        const dst = ((bb * hp + y) * wp + pl + ox0 * sW) * co;
        copyTensorBlocks(backend, dy, co, src, spread, sW * co, dst, ox1 - ox0, co);
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
