/**
 * `Conv2DBackpropFilter` for the wasm backend (the stock backend has none, so nothing trains).
 *
 * dW[kh,kw,ci,co] = Σ_n patch(x)[n,(kh,kw,ci)] · dy[n,co]  (n = batch × output pixel)
 *
 * The textbook way (im2col, then matMul with transposeA) runs at ~1/10 of the speed of a plain
 * matMul on wasm, so both of our paths only use non-transposed matMuls (XNNPACK, full speed):
 *
 * - stride 1 ("shifted windows"): x is copied into a zero-padded channel-major buffer
 *   xp[ci, rows of the padded grid], dy into dyp[rows of the padded grid, co] (zero outside the
 *   output grid). For each tap (kh, kw), the rows of xp shifted by kh·Wp + kw elements *are* the
 *   transposed patch rows, so dW[kh,kw] = xp_shifted[ci, pixels] · dyp — a matMul on a zero-copy
 *   view of xp. (Shifted reads that run past a row land on positions where dyp is zero.)
 * - otherwise: the transposed patch matrix A[(kh,kw,ci), n] is built (from a channel-major copy
 *   of x) and multiplied by dy[n, co].
 *
 * Memory: both paths work through the batch in pieces of bounded size: the stride-1 path in units
 * of one image, or of a band of output rows of one image (with its kH−1 halo rows), grouped to
 * about `shiftedMaxPixels` padded pixels; the other path in groups of images whose patch matrix
 * and channel-major copy stay under `maxPatchFloats`, or in row chunks of one image. So the
 * temporaries do not grow with batch × image size, and XNNPACK's GEMM keeps a reduction length
 * it runs fast at. The copies run in our wasm module (simd.ts) where it is available.
 */
import * as tf from '@tensorflow/tfjs';
import { type SimdKernels, addressOf, simdKernels } from './simd.js';
import {
  type WasmBackend,
  aliasF32,
  canAlias,
  heapF32,
  releaseAlias,
  matMulNN,
  conv2DGradInfo,
  type Conv2DGradAttrs,
  wasmKernel,
} from './wasmUtil.js';
import { checkInteger } from '../../util/validate.js';

/** Upper bound on a patch matrix (and on a channel-major copy of x), in floats (2^24 = 64 MiB). */
let maxPatchFloats = 1 << 24;

/** Largest (padded grid) / (output grid) ratio for which the stride-1 shifted path is used. */
const SHIFTED_MAX_OVERHEAD = 1.35;

/** Sets the chunk bound (tests use a small one to exercise the chunked path); returns the old one. */
export function setPatchChunkLimit(floats: number): number {
  const old = maxPatchFloats;
  maxPatchFloats = checkInteger('setPatchChunkLimit', 'floats', floats);
  return old;
}

/**
 * Padded pixels per group of the stride-1 path: XNNPACK's GEMM slows down when the reduction (the
 * pixel count) gets very long, and this also bounds the path's temporary buffers.
 */
let shiftedMaxPixels = 20000;

/** Test/tuning hook: sets the pixel budget of one group of the stride-1 path; returns the old one. */
export function setShiftedGroupPixels(pixels: number): number {
  const old = shiftedMaxPixels;
  shiftedMaxPixels = checkInteger('setShiftedGroupPixels', 'pixels', pixels);
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
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

/** Adds the floats of `p` to `acc` (the result of one piece of the batch). */
function accumulate(acc: Float32Array, p: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += p[i]!;
}

/** x[p, c] → dst[c * plane + p] for p < n (element offsets), in wasm or in JavaScript. */
function toPlanes(
  backend: WasmBackend, simd: SimdKernels | null, x: tf.TensorInfo, src: number, n: number, c: number,
  dst: tf.TensorInfo, at: number, plane: number,
): void {
  if (simd !== null) {
    simd.to_planes(addressOf(backend, x) + 4 * src, n, c, addressOf(backend, dst) + 4 * at, 4 * plane);
    return;
  }
  const xv = heapF32(backend, x);
  const dv = heapF32(backend, dst);
  for (let p = 0, s = src; p < n; p++, s += c) {
    for (let k = 0, d = at + p; k < c; k++, d += plane) dv[d] = xv[s + k]!;
  }
}

/** One unit of the stride-1 path: output rows [y0, y1) of image b. */
interface Unit {
  b: number;
  y0: number;
  y1: number;
}

/** The stride-1 path (see the file comment), over groups of units of about shiftedMaxPixels. */
function filterGradShifted(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: PatchGeometry,
  padRight: number,
  outC: number,
  filterShape: [number, number, number, number],
): tf.TensorInfo {
  const { batch, inH, inW, inC, kH, kW, padTop, padLeft, outH, outW } = g;
  const wp = inW + padLeft + padRight;
  const halo = kH - 1;
  // Units: whole images where one fits the budget, else bands of output rows.
  const bandRows = Math.max(1, Math.min(outH, Math.floor(shiftedMaxPixels / wp) - halo));
  const groups: Unit[][] = [];
  let current: Unit[] = [];
  let pixels = 0;
  for (let b = 0; b < batch; b++) {
    for (let y0 = 0; y0 < outH; y0 += bandRows) {
      const unit = { b, y0, y1: Math.min(outH, y0 + bandRows) };
      const unitPixels = (unit.y1 - unit.y0 + halo) * wp;
      if (current.length > 0 && pixels + unitPixels > shiftedMaxPixels) {
        groups.push(current);
        current = [];
        pixels = 0;
      }
      current.push(unit);
      pixels += unitPixels;
    }
  }
  groups.push(current);
  const planeOf = (units: Unit[]) => units.reduce((n, u) => n + (u.y1 - u.y0 + halo) * wp, 0);
  const maxPlane = Math.max(...groups.map(planeOf));
  const margin = (kH - 1) * wp + (kW - 1); // the largest shift; read past the last channel
  const simd = simdKernels(backend);
  const xp = backend.makeOutput([inC * maxPlane + margin], 'float32');
  const out = backend.makeOutput(filterShape, 'float32');
  const block = inC * outC;
  const acc = groups.length > 1 ? new Float32Array(kH * kW * block) : null;
  const run = outW * outC;
  for (const units of groups) {
    const plane = planeOf(units);
    // A new dyp per group: the matMul caches its packed right operand by tensor id, so refilling
    // one buffer would silently reuse the first group's packing.
    const dyp = backend.makeOutput([plane, outC], 'float32');
    heapF32(backend, xp).fill(0);
    heapF32(backend, dyp).fill(0);
    let row = 0; // first padded-grid row of the unit in xp / dyp
    for (const { b, y0, y1 } of units) {
      // Padded rows y0 .. y1 + halo of the image (padded row r = input row r − padTop).
      for (let r = y0; r < y1 + halo; r++) {
        const iy = r - padTop;
        if (iy < 0 || iy >= inH) continue;
        toPlanes(backend, simd, x, ((b * inH + iy) * inW) * inC, inW, inC, xp, (row + r - y0) * wp + padLeft, plane);
      }
      const rows = y1 - y0;
      const from = (b * outH + y0) * run;
      if (simd !== null) {
        simd.copy_blocks(addressOf(backend, dy) + 4 * from, 4 * run, addressOf(backend, dyp) + 4 * row * wp * outC, 4 * wp * outC, rows, 4 * run);
      } else {
        const gv = heapF32(backend, dy);
        const dv = heapF32(backend, dyp);
        for (let i = 0; i < rows; i++) dv.set(gv.subarray(from + i * run, from + (i + 1) * run), (row + i) * wp * outC);
      }
      row += rows + halo;
    }
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        // This group's channel planes are `plane` apart in xp (sized for the largest group).
        const shifted = aliasF32(backend, xp, kh * wp + kw, [inC, plane]);
        const prod = matMulNN(backend, shifted, dyp);
        releaseAlias(backend, shifted);
        const p = heapF32(backend, prod);
        const at = (kh * kW + kw) * block;
        if (acc === null) {
          heapF32(backend, out).set(p, at);
        } else {
          accumulate(acc.subarray(at, at + block), p);
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

/**
 * Fills a[(kh,kw,c), n] for the output rows r0 <= r < r1 of the images held in xc (r = b*outH + oy
 * over those images; n counts from r0*outW), from the channel-major xc[C, images, H, W]. Out-of-
 * image taps are zero. `copy(src, srcRow, srcCol, dst, rows, n)` copies `rows` rows of `n`
 * elements (element offsets; source rows srcRow apart with elements srcCol apart, destination rows
 * outW apart).
 */
export function fillPatchesTransposed(
  g: PatchGeometry,
  a: Float32Array,
  r0: number,
  r1: number,
  copy: (src: number, srcRow: number, srcCol: number, dst: number, rows: number, n: number) => void,
): void {
  const { batch, inH, inW, inC, kH, kW, strideH, strideW, padTop, padLeft, outH, outW } = g;
  const cols = (r1 - r0) * outW;
  const planeSize = batch * inH * inW;
  for (let kh = 0; kh < kH; kh++) {
    const shiftY = kh - padTop;
    // Output rows whose tap lands inside the image: 0 <= oy*strideH + shiftY < inH.
    const oyLo = Math.min(outH, Math.max(0, Math.ceil(-shiftY / strideH)));
    const oyHi = Math.max(oyLo, Math.min(outH, Math.floor((inH - 1 - shiftY) / strideH) + 1));
    for (let kw = 0; kw < kW; kw++) {
      const shiftX = kw - padLeft;
      const ox0 = Math.min(outW, Math.max(0, Math.ceil(-shiftX / strideW)));
      const ox1 = Math.max(ox0, Math.min(outW, Math.floor((inW - 1 - shiftX) / strideW) + 1));
      for (let c = 0; c < inC; c++) {
        const rowBase = ((kh * kW + kw) * inC + c) * cols;
        a.fill(0, rowBase, rowBase + cols);
        if (ox1 === ox0) continue;
        // One block per image: rows r0..r1 of the chunk that belong to image b.
        for (let r = r0; r < r1;) {
          const b = Math.floor(r / outH);
          const end = Math.min(r1, (b + 1) * outH);
          const oy0 = Math.max(r - b * outH, oyLo);
          const oy1 = Math.min(end - b * outH, oyHi);
          if (oy1 > oy0) {
            const src = c * planeSize + (b * inH + oy0 * strideH + shiftY) * inW + ox0 * strideW + shiftX;
            copy(src, strideH * inW, strideW, rowBase + (b * outH + oy0 - r0) * outW + ox0, oy1 - oy0, ox1 - ox0);
          }
          r = end;
        }
      }
    }
  }
}

/** The strided path (see the file comment), in groups of images / row chunks of bounded size. */
function filterGradPatches(
  backend: WasmBackend,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  g: PatchGeometry,
  outC: number,
  filterShape: [number, number, number, number],
): tf.TensorInfo {
  const { batch, inH, inW, inC, kH, kW, outH, outW } = g;
  const patchRows = kH * kW * inC;
  const perImage = Math.max(patchRows * outH * outW, inC * inH * inW);
  const group = Math.max(1, Math.min(batch, Math.floor(maxPatchFloats / perImage)));
  const rowsPerChunk = group > 1 ? group * outH : Math.max(1, Math.min(outH, Math.floor(maxPatchFloats / (patchRows * outW))));
  const simd = simdKernels(backend);
  const alias = canAlias(backend);
  const single = group === batch && rowsPerChunk === batch * outH;
  const acc = single ? null : new Float32Array(patchRows * outC);
  let result: tf.TensorInfo | null = null;
  for (let b0 = 0; b0 < batch; b0 += group) {
    const nb = Math.min(group, batch - b0);
    const local: PatchGeometry = { ...g, batch: nb };
    const planeSize = nb * inH * inW;
    const xc = backend.makeOutput([inC * planeSize], 'float32');
    for (let b = 0; b < nb; b++) {
      toPlanes(backend, simd, x, (b0 + b) * inH * inW * inC, inH * inW, inC, xc, b * inH * inW, planeSize);
    }
    for (let r0 = 0; r0 < nb * outH; r0 += rowsPerChunk) {
      const r1 = Math.min(nb * outH, r0 + rowsPerChunk);
      const n = (r1 - r0) * outW;
      const a = backend.makeOutput([patchRows, n], 'float32');
      const first = (b0 * outH + r0) * outW * outC; // the chunk's rows of dy
      const dyChunk = alias ? aliasF32(backend, dy, first, [n, outC]) : backend.makeOutput([n, outC], 'float32');
      if (!alias) heapF32(backend, dyChunk).set(heapF32(backend, dy).subarray(first, first + n * outC));
      if (simd !== null) {
        const xa = addressOf(backend, xc);
        const aa = addressOf(backend, a);
        fillPatchesTransposed(local, heapF32(backend, a), r0, r1, (src, srcRow, srcCol, dst, rows, cnt) =>
          simd.gather(xa + 4 * src, 4 * srcRow, 4 * srcCol, aa + 4 * dst, 4 * outW, rows, cnt),
        );
      } else {
        const xv = heapF32(backend, xc);
        const av = heapF32(backend, a);
        fillPatchesTransposed(local, av, r0, r1, (src, srcRow, srcCol, dst, rows, cnt) => {
          for (let i = 0; i < rows; i++) {
            for (let j = 0, s = src + i * srcRow, d = dst + i * outW; j < cnt; j++, s += srcCol) av[d + j] = xv[s]!;
          }
        });
      }
      const prod = matMulNN(backend, a, dyChunk);
      backend.disposeData(a.dataId);
      if (alias) releaseAlias(backend, dyChunk);
      else backend.disposeData(dyChunk.dataId);
      if (acc === null) {
        result = prod;
      } else {
        accumulate(acc, heapF32(backend, prod));
        backend.disposeData(prod.dataId);
      }
    }
    backend.disposeData(xc.dataId);
  }
  if (acc === null) return { dataId: result!.dataId, shape: filterShape, dtype: 'float32' }; // takes over prod's reference
  const out = backend.makeOutput(filterShape, 'float32');
  heapF32(backend, out).set(acc);
  return out;
}

export function conv2dBackpropFilter(args: {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: WasmBackend;
  attrs: Conv2DGradAttrs & { filterShape: [number, number, number, number] };
}): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const info = conv2DGradInfo('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs, x, dy);
  const g: PatchGeometry = {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
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
    return filterGradShifted(backend, x, dy, g, right, outC, attrs.filterShape);
  }
  return filterGradPatches(backend, x, dy, g, outC, attrs.filterShape);
}

export const conv2dBackpropFilterConfig = wasmKernel(tf.Conv2DBackpropFilter, conv2dBackpropFilter);
