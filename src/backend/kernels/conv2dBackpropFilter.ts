/**
 * `Conv2DBackpropFilter` for the wasm backend (the stock backend has none, so nothing trains).
 *
 * dW[kh,kw,ci,co] = Σ_n patch(x)[n,(kh,kw,ci)] · dy[n,co]  (n = batch × output pixel)
 *
 * The textbook way (im2col, then matMul with transposeA) runs at ~1/10 of the speed of a plain
 * matMul on wasm, so both of our paths only use non-transposed matMuls (XNNPACK, full speed):
 *
 * - stride 1 ("shifted windows"): x is copied once into a zero-padded channel-major buffer
 *   xp[ci, B, Hp, Wp], dy once into dyp[B, Hp, Wp, co] (zero outside the output grid). For each tap
 *   (kh, kw), the rows of xp shifted by kh·Wp + kw elements *are* the transposed patch rows, so
 *   dW[kh,kw] = xp_shifted[ci, B·Hp·Wp] · dyp — a matMul on a zero-copy view of xp. (Shifted reads
 *   that run past a row land on positions where dyp is zero.)
 * - otherwise: the transposed patch matrix A[(kh,kw,ci), n] is built in JS (one channel-major copy
 *   of x, then contiguous row copies) and multiplied by dy[n, co], in chunks of output rows so A
 *   stays bounded.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type WasmBackend,
  aliasF32,
  canAlias,
  heapF32,
  releaseAlias,
  matMulNN,
  requireChannelsLast,
  requireFloat32,
  scratchF32,
  viewAs,
  wasmKernel,
} from './wasmUtil.js';

/** Upper bound on the patch matrix of one chunk, in floats (default 2^24 floats = 64 MiB). */
let maxPatchFloats = 1 << 24;

/** Largest (padded grid) / (output grid) ratio for which the stride-1 shifted path is used. */
const SHIFTED_MAX_OVERHEAD = 1.35;

/** Sets the chunk bound (tests use a small one to exercise the chunked path); returns the old one. */
export function setPatchChunkLimit(floats: number): number {
  if (!Number.isInteger(floats) || floats < 1) {
    throw new Error(`setPatchChunkLimit: expected a positive integer number of floats, got ${floats}.`);
  }
  const old = maxPatchFloats;
  maxPatchFloats = floats;
  return old;
}

export interface PatchGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/**
 * x[B,H,W,C] -> xc[C,B,H,W], in JS scratch memory (so a later wasm heap growth cannot detach it).
 */
export function toChannelMajor(x: Float32Array, pixels: number, channels: number): Float32Array {
  const xc = scratchF32(x.length);
  if (channels === 1) {
    xc.set(x);
    return xc;
  }
  for (let p = 0, base = 0; p < pixels; p++, base += channels) {
    for (let c = 0, dst = p; c < channels; c++, dst += pixels) xc[dst] = x[base + c];
  }
  return xc;
}

/**
 * Fills a[(kh,kw,c), n] for the output rows r0 <= r < r1 (r = b*outH + oy; n counts from r0*outW),
 * reading the channel-major input xc[C,B,H,W]. Out-of-image taps are zero.
 */
export function fillPatchesTransposed(
  g: PatchGeometry,
  xc: Float32Array,
  a: Float32Array,
  r0: number,
  r1: number,
): void {
  const { batch, inH, inW, inC, kH, kW, strideH, strideW, dilationH, dilationW, padTop, padLeft, outH, outW } = g;
  const cols = (r1 - r0) * outW;
  const planeSize = batch * inH * inW;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const shiftX = kw * dilationW - padLeft;
      // Output columns whose tap lands inside the image: 0 <= ox*strideW + shiftX < inW.
      const ox0 = Math.min(outW, Math.max(0, Math.ceil(-shiftX / strideW)));
      const ox1 = Math.max(ox0, Math.min(outW, Math.floor((inW - 1 - shiftX) / strideW) + 1));
      for (let c = 0; c < inC; c++) {
        const rowBase = ((kh * kW + kw) * inC + c) * cols;
        const plane = c * planeSize;
        for (let r = r0; r < r1; r++) {
          const b = Math.floor(r / outH);
          const oy = r - b * outH;
          const dst = rowBase + (r - r0) * outW;
          const iy = oy * strideH + kh * dilationH - padTop;
          if (iy < 0 || iy >= inH) {
            a.fill(0, dst, dst + outW);
            continue;
          }
          if (ox0 > 0) a.fill(0, dst, dst + ox0);
          if (ox1 < outW) a.fill(0, dst + ox1, dst + outW);
          const src = plane + (b * inH + iy) * inW + shiftX;
          if (strideW === 1) {
            a.set(xc.subarray(src + ox0, src + ox1), dst + ox0);
          } else {
            for (let ox = ox0, s = src + ox0 * strideW; ox < ox1; ox++, s += strideW) a[dst + ox] = xc[s];
          }
        }
      }
    }
  }
}

/**
 * Images per group of the stride-1 path: XNNPACK's GEMM slows down when the reduction (the pixel
 * count) gets very long, so dW is accumulated over groups of about `shiftedMaxPixels` pixels.
 */
let shiftedMaxPixels = 20000;

/** Test/tuning hook: sets the pixel budget of one group of the stride-1 path; returns the old one. */
export function setShiftedGroupPixels(pixels: number): number {
  if (!Number.isInteger(pixels) || pixels < 1) {
    throw new Error(`setShiftedGroupPixels: expected a positive integer, got ${pixels}.`);
  }
  const old = shiftedMaxPixels;
  shiftedMaxPixels = pixels;
  return old;
}

/** The stride-1 path (see the file comment), over groups of whole images. */
function filterGradShifted(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: PatchGeometry,
  padBottom: number,
  padRight: number,
  outC: number,
  filterShape: [number, number, number, number],
): tf.TensorInfo {
  const { batch, inH, inW, inC, kH, kW, padTop, padLeft, outH, outW } = g;
  const hp = inH + padTop + padBottom;
  const wp = inW + padLeft + padRight;
  // Valid outputs only read rows of their own image, so images can be grouped freely.
  const group = Math.max(1, Math.min(batch, Math.floor(shiftedMaxPixels / (hp * wp))));
  const groups = Math.ceil(batch / group);
  const plane = group * hp * wp;
  const margin = (kH - 1) * wp + (kW - 1); // the largest shift; read past the last channel
  const xp = backend.makeOutput([inC * plane + margin], 'float32');
  const out = backend.makeOutput(filterShape, 'float32');
  const block = inC * outC;
  const acc = groups > 1 ? new Float32Array(kH * kW * block) : null;
  for (let b0 = 0; b0 < batch; b0 += group) {
    const nb = Math.min(group, batch - b0);
    // A new dyp per group: the matMul caches its packed right operand by tensor id, so refilling
    // one buffer would silently reuse the first group's packing.
    const dyp = backend.makeOutput([plane, outC], 'float32');
    const src = heapF32(backend, x);
    const xv = heapF32(backend, xp);
    const dv = heapF32(backend, dyp);
    const gv = heapF32(backend, dy);
    xv.fill(0);
    dv.fill(0);
    for (let b = 0; b < nb; b++) {
      for (let y = 0; y < inH; y++) {
        const rowBase = (b * hp + y + padTop) * wp + padLeft;
        const srcRow = ((b0 + b) * inH + y) * inW * inC;
        for (let xx = 0; xx < inW; xx++) {
          const s = srcRow + xx * inC;
          for (let c = 0, d = rowBase + xx; c < inC; c++, d += plane) xv[d] = src[s + c]!;
        }
      }
      const run = outW * outC;
      for (let y = 0; y < outH; y++) {
        const s = ((b0 + b) * outH + y) * run;
        dv.set(gv.subarray(s, s + run), (b * hp + y) * wp * outC);
      }
    }
    // A short last group leaves zeros in dyp's tail, so it contributes nothing there.
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        const shifted = aliasF32(backend, xp, kh * wp + kw, [inC, plane]);
        const prod = matMulNN(backend, shifted, dyp);
        releaseAlias(backend, shifted);
        const p = heapF32(backend, prod);
        const at = (kh * kW + kw) * block;
        if (acc === null) {
          heapF32(backend, out).set(p, at);
        } else {
          for (let i = 0; i < block; i++) acc[at + i] += p[i]!;
        }
        backend.disposeData(prod.dataId);
      }
    }
    backend.disposeData(dyp.dataId);
  }
  if (acc !== null) heapF32(backend, out).set(acc);
  backend.disposeData(xp.dataId);
  return out;
}

export function conv2dBackpropFilter(args: {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: WasmBackend;
  attrs: {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireFloat32('Conv2DBackpropFilter', x, dy);
  requireChannelsLast('Conv2DBackpropFilter', attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const g: PatchGeometry = {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    dilationH: 1,
    dilationW: 1,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    outH: info.outHeight,
    outW: info.outWidth,
  };
  const outC = info.outChannels;
  if (dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== outC) {
    throw new Error(
      `Conv2DBackpropFilter (wasm): dy has shape [${dy.shape}] but x [${x.shape}] with filter ` +
        `[${attrs.filterShape}] gives outputs of shape [${g.batch},${g.outH},${g.outW},${outC}].`,
    );
  }
  const { bottom, right } = info.padInfo;
  const paddedPlane = (g.inH + g.padTop + bottom) * (g.inW + g.padLeft + right);
  if (
    g.strideH === 1 && g.strideW === 1 && g.padTop >= 0 && g.padLeft >= 0 && bottom >= 0 && right >= 0 &&
    // The shifted path multiplies over the whole padded grid: worth it while the padding is thin
    // (measured: faster at 16×16 and up, slower at 8×8 with a 3×3 kernel).
    paddedPlane <= SHIFTED_MAX_OVERHEAD * g.outH * g.outW &&
    canAlias(backend)
  ) {
    return filterGradShifted(backend, x, dy, g, bottom, right, outC, attrs.filterShape);
  }
  const patchRows = g.kH * g.kW * g.inC;
  const totalRows = g.batch * g.outH;
  const rowsPerChunk = Math.max(1, Math.min(totalRows, Math.floor(maxPatchFloats / (patchRows * g.outW))));
  const xc = toChannelMajor(heapF32(backend, x), g.batch * g.inH * g.inW, g.inC);

  if (rowsPerChunk === totalRows) {
    const n = totalRows * g.outW;
    const a = backend.makeOutput([patchRows, n], 'float32');
    fillPatchesTransposed(g, xc, heapF32(backend, a), 0, totalRows);
    const prod = matMulNN(backend, a, viewAs(dy, [n, outC]));
    backend.disposeData(a.dataId);
    return viewAs(prod, attrs.filterShape); // takes over prod's reference
  }

  const out = backend.makeOutput(attrs.filterShape, 'float32');
  const acc = new Float32Array(patchRows * outC);
  for (let r0 = 0; r0 < totalRows; r0 += rowsPerChunk) {
    const r1 = Math.min(totalRows, r0 + rowsPerChunk);
    const n = (r1 - r0) * g.outW;
    const a = backend.makeOutput([patchRows, n], 'float32');
    const dyChunk = backend.makeOutput([n, outC], 'float32');
    heapF32(backend, dyChunk).set(heapF32(backend, dy).subarray(r0 * g.outW * outC, r1 * g.outW * outC));
    fillPatchesTransposed(g, xc, heapF32(backend, a), r0, r1);
    const prod = matMulNN(backend, a, dyChunk);
    const p = heapF32(backend, prod);
    for (let i = 0; i < acc.length; i++) acc[i] += p[i];
    backend.disposeData(a.dataId);
    backend.disposeData(dyChunk.dataId);
    backend.disposeData(prod.dataId);
  }
  heapF32(backend, out).set(acc);
  return out;
}

export const conv2dBackpropFilterConfig = wasmKernel(tf.Conv2DBackpropFilter, conv2dBackpropFilter);
