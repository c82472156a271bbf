/**
 * `ResizeBilinearGrad` and `ResizeNearestNeighborGrad` for the tfjs `cpu` and `wasm` backends,
 * replacing tfjs 4.22's kernels, which are wrong:
 * - cpu `ResizeNearestNeighborGrad` reads dy at the images' batch offset, so with batch > 1 it
 *   mixes images (or reads past dy's end and returns NaN when dy is smaller than the images);
 * - cpu `ResizeBilinearGrad` returns its result as `[batch, width, height, depth]` (a crash on
 *   non-square inputs);
 * - no backend's gradient reads `halfPixelCenters` (they all differentiate the
 *   `halfPixelCenters=false` resize).
 *
 * Each gradient is the plain transpose of its forward kernel: every dy element is added to the
 * input pixels the forward kernel read for it, with the forward kernel's bilinear weights. The
 * sampling positions are the forward kernels' own: tfjs's cpu kernels compute them in doubles, the
 * wasm nearest-neighbour kernel in float32, whose rounding picks another source pixel for some sizes
 * (e.g. 14 → 46), so the wasm gradient repeats that arithmetic. Bilinear weights are continuous in
 * the position, so float32 vs double changes them by ~1e-7 only; both backends use the double rule
 * (on wasm only with half-pixel centres: without them the stock wasm bilinear gradient is right).
 *
 * The cpu kernels are registered when this module is imported (the library's entry imports it), so
 * they apply however the cpu backend was chosen; the wasm ones by `registerWasmKernels`.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM, type WasmBackend, heapF32, original, requireFloat32 } from './wasmUtil.js';

export type ResizeKind = 'bilinear' | 'nearest';

/** How a forward resize kernel maps output positions to input positions (tfjs's attributes). */
export interface ResizeSampling {
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

/** Precision in which the forward kernel computes its sampling positions. */
export type ResizeArithmetic = 'float64' | 'float32';

/**
 * Along one axis, output sample `o` is `(1 − frac[o]) · in[lo[o]] + frac[o] · in[hi[o]]`
 * (nearest: `frac` is 0 and `hi = lo`).
 */
export interface ResizeAxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float64Array;
}

/** tfjs's input/output size ratio along one axis (`alignCorners` maps corner pixel centres). */
function sizeRatio(inSize: number, outSize: number, alignCorners: boolean): number {
  const adjust = alignCorners && outSize > 1 ? 1 : 0;
  return (inSize - adjust) / (outSize - adjust);
}

const identity = (v: number): number => v;

/**
 * The source pixel of every output sample of tfjs's `ResizeNearestNeighbor` along one axis:
 * `min(in − 1, floor(src))` (`round` with `alignCorners`), `src = ratio · o` or, with half-pixel
 * centres, `ratio · (o + 0.5)` (then also `max(0, ·)`). `'float32'` repeats the wasm kernel's
 * float arithmetic (ratio and src rounded to float32).
 */
export function nearestTaps(
  inSize: number,
  outSize: number,
  sampling: ResizeSampling,
  arithmetic: ResizeArithmetic = 'float64',
): ResizeAxisTaps {
  const round = arithmetic === 'float32' ? Math.fround : identity;
  const ratio = round(sizeRatio(inSize, outSize, sampling.alignCorners));
  const lo = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = round(ratio * (sampling.halfPixelCenters ? o + 0.5 : o));
    const i = Math.min(inSize - 1, sampling.alignCorners ? Math.round(src) : Math.floor(src));
    lo[o] = sampling.halfPixelCenters ? Math.max(0, i) : i;
  }
  return { lo, hi: lo, frac: new Float64Array(outSize) };
}

/**
 * The two source pixels and the weight of the second one for every output sample of tfjs's
 * `ResizeBilinear` along one axis: `src = ratio · o` or, with half-pixel centres,
 * `ratio · (o + 0.5) − 0.5`; `lo = max(0, floor(src))`, `hi = min(in − 1, ceil(src))`,
 * `frac = src − lo` (negative near the first edge with half-pixel centres, where lo = hi = 0: the
 * forward kernel's formula, whose weights still sum to 1 on pixel 0).
 */
export function bilinearTaps(inSize: number, outSize: number, sampling: ResizeSampling): ResizeAxisTaps {
  const ratio = sizeRatio(inSize, outSize, sampling.alignCorners);
  const taps = { lo: new Int32Array(outSize), hi: new Int32Array(outSize), frac: new Float64Array(outSize) };
  for (let o = 0; o < outSize; o++) {
    const src = sampling.halfPixelCenters ? ratio * (o + 0.5) - 0.5 : ratio * o;
    const lo = Math.max(0, Math.floor(src));
    taps.lo[o] = lo;
    taps.hi[o] = Math.min(inSize - 1, Math.ceil(src));
    taps.frac[o] = src - lo;
  }
  return taps;
}

/**
 * dx of a resize of `[batch, inH, inW, depth]` images from its dy (`[batch, outH, outW, depth]`,
 * row-major): adds every dy element to the pixels it was read from, with the forward weights
 * (separably: a dy row is scattered along the width into one input-width row, which is then added
 * to the two input rows it was read from). `dx` must be zero on entry.
 */
export function scatterResizeGrad(
  dy: ArrayLike<number>,
  dx: Float32Array,
  imagesShape: readonly number[],
  rows: ResizeAxisTaps,
  cols: ResizeAxisTaps,
): void {
  const [batch, inH, inW, depth] = imagesShape as [number, number, number, number];
  const outH = rows.lo.length;
  const outW = cols.lo.length;
  const rowStride = inW * depth;
  const row = new Float64Array(rowStride);
  let g = 0;
  for (let b = 0; b < batch; b++) {
    const image = b * inH * rowStride;
    for (let y = 0; y < outH; y++) {
      row.fill(0);
      for (let x = 0; x < outW; x++) {
        const fx = cols.frac[x]!;
        addScaled(row, cols.lo[x]! * depth, dy, g, depth, 1 - fx);
        addScaled(row, cols.hi[x]! * depth, dy, g, depth, fx);
        g += depth;
      }
      const fy = rows.frac[y]!;
      addScaled(dx, image + rows.lo[y]! * rowStride, row, 0, rowStride, 1 - fy);
      addScaled(dx, image + rows.hi[y]! * rowStride, row, 0, rowStride, fy);
    }
  }
}

/**
 * dst[at + i] += w · src[from + i] for i < n. Nothing when w is 0: nearest adds once, and an
 * infinite dy stays out of pixels it was not read from.
 */
function addScaled(dst: Float32Array | Float64Array, at: number, src: ArrayLike<number>, from: number, n: number, w: number): void {
  if (w === 0) return;
  for (let i = 0; i < n; i++) dst[at + i] += src[from + i]! * w;
}

interface ResizeGradAttrs extends ResizeSampling {
  size?: [number, number];
}

/** The gradient values of a resize (`kind`) of images of `imagesShape`, from dy. */
export function resizeGradValues(
  kind: ResizeKind,
  imagesShape: readonly number[],
  dyShape: readonly number[],
  dy: ArrayLike<number>,
  sampling: ResizeSampling,
  arithmetic: ResizeArithmetic,
  dx: Float32Array = new Float32Array(tf.util.sizeFromShape(imagesShape as number[])),
): Float32Array {
  checkShapes(kind, imagesShape, dyShape);
  const [, inH, inW] = imagesShape as [number, number, number, number];
  const [, outH, outW] = dyShape as [number, number, number, number];
  const taps = (inSize: number, outSize: number) =>
    kind === 'nearest' ? nearestTaps(inSize, outSize, sampling, arithmetic) : bilinearTaps(inSize, outSize, sampling);
  scatterResizeGrad(dy, dx, imagesShape, taps(inH, outH), taps(inW, outW));
  return dx;
}

function checkShapes(kind: ResizeKind, images: readonly number[], dy: readonly number[]): void {
  if (images.length !== 4 || dy.length !== 4 || images[0] !== dy[0] || images[3] !== dy[3]) {
    throw new Error(
      `Resize${kind === 'nearest' ? 'NearestNeighbor' : 'Bilinear'}Grad: images and dy must be NHWC with the same ` +
        `batch and channels, got images ${JSON.stringify(images)} and dy ${JSON.stringify(dy)}.`,
    );
  }
}

function samplingOf(attrs: unknown): ResizeSampling {
  const a = (attrs ?? {}) as Partial<ResizeGradAttrs>;
  return { alignCorners: a.alignCorners === true, halfPixelCenters: a.halfPixelCenters === true };
}

type GradInputs = { images: tf.TensorInfo; dy: tf.TensorInfo };

function cpuKernel(kind: ResizeKind): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { images, dy } = inputs as unknown as GradInputs;
    const cpu = backend as tf.KernelBackend;
    const values = cpu.readSync(dy.dataId) as tf.TypedArray;
    const dx = resizeGradValues(kind, images.shape, dy.shape, values, samplingOf(attrs), 'float64');
    return { dataId: cpu.write(dx, images.shape, 'float32'), shape: images.shape, dtype: 'float32' };
  };
}

function wasmKernel(kind: ResizeKind): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { images, dy } = inputs as unknown as GradInputs;
    const wasm = backend as WasmBackend;
    const sampling = samplingOf(attrs);
    // Without half-pixel centres the stock C++ bilinear gradient is right, and a few times faster.
    if (kind === 'bilinear' && !sampling.halfPixelCenters) {
      return original(tf.ResizeBilinearGrad)({ inputs: { images, dy }, backend: wasm, attrs });
    }
    requireFloat32(`Resize${kind === 'nearest' ? 'NearestNeighbor' : 'Bilinear'}Grad`, dy);
    checkShapes(kind, images.shape, dy.shape);
    const out = wasm.makeOutput(images.shape, 'float32');
    if (tf.util.sizeFromShape(images.shape) === 0) return out;
    const g = heapF32(wasm, dy); // after the only allocation
    const dx = heapF32(wasm, out);
    dx.fill(0);
    resizeGradValues(kind, images.shape, dy.shape, g, sampling, 'float32', dx);
    return out;
  };
}

const CPU = 'cpu';

export const resizeGradCpuKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.ResizeBilinearGrad, backendName: CPU, kernelFunc: cpuKernel('bilinear') },
  { kernelName: tf.ResizeNearestNeighborGrad, backendName: CPU, kernelFunc: cpuKernel('nearest') },
];

/** Registered on wasm by `registerWasmKernels`. */
export const resizeGradWasmKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.ResizeBilinearGrad, backendName: WASM, kernelFunc: wasmKernel('bilinear') },
  { kernelName: tf.ResizeNearestNeighborGrad, backendName: WASM, kernelFunc: wasmKernel('nearest') },
];

/** Puts this module's cpu resize gradient kernels in tfjs's kernel registry, replacing the stock ones. Idempotent. */
export function registerResizeGradCpuKernels(): void {
  for (const config of resizeGradCpuKernels) {
    const current = tf.getKernel(config.kernelName, CPU);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) tf.unregisterKernel(config.kernelName, CPU);
    tf.registerKernel(config);
  }
}

registerResizeGradCpuKernels();
