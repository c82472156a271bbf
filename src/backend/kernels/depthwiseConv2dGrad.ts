/**
 * The gradients of `depthwiseConv2d` for the wasm backend, which has neither kernel (so no model
 * with a DepthwiseConv2D layer, e.g. the MobileNetV2 encoder, could train on wasm).
 *
 * Filter f[kh,kw,c,q] (depth multiplier m, output channel c·m+q), stride s, padding (top, left):
 *   y[b,oy,ox,c·m+q] = Σ_{kh,kw} x[b, oy·s+kh−top, ox·s+kw−left, c] · f[kh,kw,c,q]
 *
 * - `DepthwiseConv2dNativeBackpropInput`: dx is a depthwise convolution (multiplier 1, over all
 *   c·m channels) of dy — spread by the strides and zero-padded — with the filter rotated by 180°,
 *   run by the stock wasm kernel (XNNPACK); with m > 1 the m channels of each input channel are
 *   summed afterwards. Stride 1 needs no copy of dy (the padding is handed to the convolution).
 * - `DepthwiseConv2dNativeBackpropFilter`: df[kh,kw,c·m+q] = Σ_{b,oy,ox} x[…, c] · dy[…, c·m+q], a
 *   per-channel correlation. For each tap and output row, the run of output pixels whose input
 *   pixel lies in the image is accumulated into float32 lanes (one per filter value) by a wasm
 *   SIMD routine working in place on the heap (depthwiseSimd.ts; m = 1), or by a JS loop
 *   (channels innermost over contiguous NHWC memory). The lanes are folded into float64 totals
 *   after every few output rows; the only temporaries are of filter size.
 *
 * Dilation rates above 1 are rejected (tfjs's own depthwiseConv2d gradient rejects them too).
 */
import * as tf from '@tensorflow/tfjs';
import { depthwiseTapKernel } from './depthwiseSimd.js';
import { WASM, type WasmBackend, canAlias, heapF32, original, requireFloat32 } from './wasmUtil.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface DepthwiseGradAttrs {
  strides: [number, number] | number;
  dilations?: [number, number] | number;
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

type Shape4 = [number, number, number, number];

/** The convolution's geometry, after checking what the kernels support and the shape of dy. */
function depthwiseInfo(
  kernel: string,
  inShape: Shape4,
  filterShape: Shape4,
  dyShape: number[],
  attrs: DepthwiseGradAttrs,
): tf.backend_util.Conv2DInfo {
  const dilations = attrs.dilations ?? 1;
  const [dH, dW] = typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dH !== 1 || dW !== 1) {
    throw new Error(
      `${kernel} (wasm): dilation rates other than 1 are not supported (got [${dH}, ${dW}]); ` +
        'use dilationRate 1 for layers you train.',
    );
  }
  if (inShape[3] !== filterShape[2]) {
    throw new Error(
      `${kernel} (wasm): the input has ${inShape[3]} channels but the filter [${filterShape}] expects ` +
        `${filterShape[2]} (filter shape is [height, width, inChannels, depthMultiplier]).`,
    );
  }
  const info = tf.backend_util.computeConv2DInfo(
    inShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true,
  );
  const expected = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (dyShape.length !== 4 || dyShape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${kernel} (wasm): dy has shape [${dyShape}] but an input of shape [${inShape}] with filter ` +
        `[${filterShape}] gives outputs of shape [${expected}].`,
    );
  }
  return info;
}

export function depthwiseConv2dBackpropInput(args: {
  inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
  backend: WasmBackend;
  attrs: DepthwiseGradAttrs & { inputShape: Shape4 };
}): tf.TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropInput';
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireFloat32(kernel, dy, filter);
  const info = depthwiseInfo(kernel, attrs.inputShape, filter.shape as Shape4, dy.shape, attrs);
  const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const C = info.inChannels;
  const CM = info.outChannels;
  const m = CM / C;

  // The filter rotated by 180°, as a multiplier-1 filter over the c·m channels of dy: the
  // [c, q] block of a tap is already laid out as channel c·m + q, so only the taps are reversed.
  const taps = kH * kW;
  const rot = backend.makeOutput([kH, kW, CM, 1], 'float32');
  {
    const w = heapF32(backend, filter);
    const r = heapF32(backend, rot);
    for (let t = 0; t < taps; t++) r.set(w.subarray(t * CM, (t + 1) * CM), (taps - 1 - t) * CM);
  }

  // Zero padding of the (spread) dy so that a 'valid' correlation with the rotated filter is dx.
  const pt = kH - 1 - info.padInfo.top;
  const pl = kW - 1 - info.padInfo.left;
  const pb = H + kH - 1 - pt - ((OH - 1) * sH + 1);
  const pr = W + kW - 1 - pl - ((OW - 1) * sW + 1);
  const depthwise = original('DepthwiseConv2dNative');
  let full: tf.TensorInfo; // [B, H, W, CM]
  if (sH === 1 && sW === 1 && pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0) {
    full = depthwise({
      inputs: { x: dy, filter: rot },
      backend,
      attrs: { strides: 1, dilations: 1, pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]] },
    });
  } else {
    const spread = spreadPadded(backend, dy, B, OH, OW, CM, sH, sW, pt, pl, H + kH - 1, W + kW - 1);
    full = depthwise({
      inputs: { x: spread, filter: rot },
      backend,
      attrs: { strides: 1, dilations: 1, pad: 'valid' },
    });
    backend.disposeData(spread.dataId);
  }
  backend.disposeData(rot.dataId);
  if (m === 1) return full;

  const out = backend.makeOutput(info.inShape, 'float32');
  const src = heapF32(backend, full);
  const dst = heapF32(backend, out);
  for (let p = 0, s = 0, d = 0; p < B * H * W; p++) {
    for (let c = 0; c < C; c++, d++) {
      let sum = 0;
      for (let q = 0; q < m; q++, s++) sum += src[s]!;
      dst[d] = sum;
    }
  }
  backend.disposeData(full.dataId);
  return out;
}

/**
 * dy[B, OH, OW, ch] placed at rows pt + oy·sH and columns pl + ox·sW of a zero [B, hp, wp, ch]
 * grid (pixels that fall outside it are dropped: they meet no input pixel).
 */
function spreadPadded(
  backend: WasmBackend, dy: tf.TensorInfo,
  B: number, OH: number, OW: number, ch: number,
  sH: number, sW: number, pt: number, pl: number, hp: number, wp: number,
): tf.TensorInfo {
  const spread = backend.makeOutput([B, hp, wp, ch], 'float32');
  const d = heapF32(backend, spread);
  const g = heapF32(backend, dy);
  d.fill(0);
  const ox0 = Math.max(0, Math.ceil(-pl / sW));
  const ox1 = Math.min(OW, Math.floor((wp - 1 - pl) / sW) + 1);
  for (let b = 0; b < B; b++) {
    for (let oy = 0; oy < OH; oy++) {
      const y = oy * sH + pt;
      if (y < 0 || y >= hp) continue;
      const srcRow = (b * OH + oy) * OW;
      const dstRow = (b * hp + y) * wp + pl;
      for (let ox = ox0; ox < ox1; ox++) {
        const s = (srcRow + ox) * ch;
        d.set(g.subarray(s, s + ch), (dstRow + ox * sW) * ch);
      }
    }
  }
  return spread;
}

/** Output rows (of all images) accumulated in float32 before folding into the float64 totals. */
const ROWS_PER_CHUNK = 8;

/**
 * Calls `run(lane, xo, go, n)` for every filter tap and output row of rows [r0, r1) (r = b·OH + oy)
 * with the n output pixels whose input pixel for that tap lies inside the image: their products
 * x[xo + i·sW·C + c] · dy[go + i·CM + c·m + q] belong to lanes lane + c·m + q.
 */
function forEachRun(
  info: tf.backend_util.Conv2DInfo,
  r0: number,
  r1: number,
  run: (lane: number, xo: number, go: number, n: number) => void,
): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: kH, filterWidth: kW, strideHeight: sH, strideWidth: sW } = info;
  const { top, left } = info.padInfo;
  const C = info.inChannels;
  const CM = info.outChannels;
  for (let r = r0; r < r1; r++) {
    const b = Math.floor(r / OH);
    const oy = r - b * OH;
    for (let kh = 0; kh < kH; kh++) {
      const iy = oy * sH + kh - top;
      if (iy < 0 || iy >= H) continue;
      for (let kw = 0; kw < kW; kw++) {
        const shift = kw - left;
        const ox0 = Math.min(OW, Math.max(0, Math.ceil(-shift / sW)));
        const ox1 = Math.min(OW, Math.floor((W - 1 - shift) / sW) + 1);
        if (ox1 <= ox0) continue;
        const xo = ((b * H + iy) * W + ox0 * sW + shift) * C;
        run((kh * kW + kw) * CM, xo, (r * OW + ox0) * CM, ox1 - ox0);
      }
    }
  }
}

export function depthwiseConv2dBackpropFilter(args: {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: WasmBackend;
  attrs: DepthwiseGradAttrs & { filterShape: Shape4 };
}): tf.TensorInfo {
  const kernel = 'DepthwiseConv2dNativeBackpropFilter';
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireFloat32(kernel, x, dy);
  const info = depthwiseInfo(kernel, x.shape as Shape4, attrs.filterShape, dy.shape, attrs);
  const C = info.inChannels;
  const CM = info.outChannels;
  const m = CM / C;
  const xStep = info.strideWidth * C;
  const size = info.filterHeight * info.filterWidth * CM;
  const rows = info.batchSize * info.outHeight;

  const out = backend.makeOutput(attrs.filterShape, 'float32');
  const simd = m === 1 && canAlias(backend) ? depthwiseTapKernel(backend) : null;
  // The SIMD routine accumulates in the wasm heap; the JS loop in a JS array.
  const heapLanes = simd === null ? null : backend.makeOutput([size], 'float32');
  const xv = heapF32(backend, x); // after the last allocation
  const g = heapF32(backend, dy);
  const lanes = heapLanes === null ? new Float32Array(size) : heapF32(backend, heapLanes);
  const total = new Float64Array(size);

  let run: (lane: number, xo: number, go: number, n: number) => void;
  if (simd !== null) {
    const byteOffset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    const [lp, xp, gp] = [byteOffset(heapLanes!), byteOffset(x), byteOffset(dy)];
    const vectors = C >> 2;
    run = (lane, xo, go, n) => {
      simd(lp + 4 * lane, xp + 4 * xo, gp + 4 * go, n, 4 * xStep, 4 * CM, vectors);
      for (let c = vectors << 2; c < C; c++) { // the last C mod 4 channels
        let sum = 0;
        for (let i = 0; i < n; i++) sum += xv[xo + i * xStep + c]! * g[go + i * CM + c]!;
        lanes[lane + c] += sum;
      }
    };
  } else {
    run = (lane, xo, go, n) => {
      for (let i = 0; i < n; i++, xo += xStep, go += CM) {
        if (m === 1) {
          for (let c = 0; c < C; c++) lanes[lane + c] += xv[xo + c]! * g[go + c]!;
        } else {
          for (let c = 0, j = 0; c < C; c++) {
            const v = xv[xo + c]!;
            for (let q = 0; q < m; q++, j++) lanes[lane + j] += v * g[go + j]!;
          }
        }
      }
    };
  }
  for (let r0 = 0; r0 < rows; r0 += ROWS_PER_CHUNK) {
    lanes.fill(0);
    forEachRun(info, r0, Math.min(rows, r0 + ROWS_PER_CHUNK), run);
    for (let i = 0; i < size; i++) total[i] += lanes[i]!;
  }
  if (heapLanes !== null) backend.disposeData(heapLanes.dataId);
  heapF32(backend, out).set(total);
  return out;
}

/** Both kernels, for `registerWasmKernels`. */
export const depthwiseConv2dGradWasmKernels: tf.KernelConfig[] = [
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    backendName: WASM,
    kernelFunc: depthwiseConv2dBackpropInput as unknown as tf.KernelFunc,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    backendName: WASM,
    kernelFunc: depthwiseConv2dBackpropFilter as unknown as tf.KernelFunc,
  },
];
