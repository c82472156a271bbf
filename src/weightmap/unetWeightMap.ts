import * as tf from '@tensorflow/tfjs';
import { checkFiniteNumber, invalid, isHeightWidth } from '../util/validate.js';
import { squaredDistanceTransform } from './distance.js';

/** Options of {@link unetWeightMap} (UNet paper, eq. 2). */
export interface UNetWeightMapOptions {
  /** Border weight w0 (default 10). */
  w0?: number;
  /** Border width σ in pixels (default 5). */
  sigma?: number;
  /**
   * Class-balancing term w_c: [background, foreground] numbers, or 'balanced' = N / (2·N_c)
   * computed on this image. Default: 1 for every pixel.
   */
  classWeights?: [number, number] | number[] | 'balanced';
}

/** Any integer typed array holding instance labels (0 = background, 1..K = objects). */
export type LabelArray = Int32Array | Uint8Array | Uint16Array | Uint32Array | Int16Array | Int8Array;

interface Resolved {
  w0: number;
  sigma: number;
  classWeights: [number, number] | 'balanced' | undefined;
}

function resolveOptions(where: string, options: UNetWeightMapOptions): Resolved {
  const w0 = checkFiniteNumber(where, 'w0', options.w0 ?? 10, { min: 0 });
  const sigma = checkFiniteNumber(where, 'sigma', options.sigma ?? 5);
  if (!(sigma > 0)) throw invalid(where, 'sigma', '> 0', sigma);
  const cw = options.classWeights;
  if (cw !== undefined && cw !== 'balanced') {
    if (!Array.isArray(cw) || cw.length !== 2) {
      throw new Error(
        `${where}: classWeights must be [background, foreground] or 'balanced', got ${JSON.stringify(cw)}.`,
      );
    }
    cw.forEach((w, i) => checkFiniteNumber(where, `classWeights[${i}]`, w, { min: 0 }));
  }
  return { w0, sigma, classWeights: cw as Resolved['classWeights'] };
}

/** Core computation on a validated row-major h×w label image. */
export function computeWeightMap(labels: ArrayLike<number>, h: number, w: number, opts: Resolved): Float32Array {
  const n = h * w;
  let foreground = 0;
  const ids = new Set<number>();
  for (let i = 0; i < n; i++) {
    if (labels[i] > 0) {
      foreground++;
      ids.add(labels[i]);
    }
  }
  let wBg = 1;
  let wFg = 1;
  if (opts.classWeights === 'balanced') {
    const background = n - foreground;
    wBg = background > 0 ? n / (2 * background) : 0;
    wFg = foreground > 0 ? n / (2 * foreground) : 0;
  } else if (opts.classWeights) {
    [wBg, wFg] = opts.classWeights;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = labels[i] > 0 ? wFg : wBg;
  if (ids.size < 2 || opts.w0 === 0) return out;

  // Two smallest per-object distances for every background pixel.
  const d1 = new Float64Array(n).fill(Infinity);
  const d2 = new Float64Array(n).fill(Infinity);
  for (const id of ids) {
    const sq = squaredDistanceTransform(h, w, (i) => labels[i] === id);
    for (let i = 0; i < n; i++) {
      if (labels[i] > 0) continue;
      const d = Math.sqrt(sq[i]);
      if (d < d1[i]) {
        d2[i] = d1[i];
        d1[i] = d;
      } else if (d < d2[i]) {
        d2[i] = d;
      }
    }
  }
  const denom = 2 * opts.sigma * opts.sigma;
  for (let i = 0; i < n; i++) {
    if (labels[i] > 0) continue;
    const s = d1[i] + d2[i];
    out[i] += opts.w0 * Math.exp(-(s * s) / denom);
  }
  return out;
}

export function checkLabels(where: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < 0) {
      throw new Error(
        `${where}: labels must be non-negative integers (0 = background, 1..K = objects); ` +
          `found ${v} at index ${i}.`,
      );
    }
  }
}

/** Reads a 2-D (or [H, W, 1]) label tensor into a plain array with its height and width. */
export function labelTensorData(where: string, labels: tf.Tensor): { data: ArrayLike<number>; h: number; w: number } {
  const ok = labels.rank === 2 || (labels.rank === 3 && labels.shape[2] === 1);
  if (!ok) {
    throw new Error(`${where}: expected a 2-D label image [H, W] (or [H, W, 1]), got shape [${labels.shape}].`);
  }
  const data = labels.dataSync() as ArrayLike<number>;
  checkLabels(where, data);
  return { data, h: labels.shape[0] as number, w: labels.shape[1] as number };
}

/**
 * The UNet paper's weight map (Ronneberger et al. 2015, eq. 2) for one instance-label image:
 * w(x) = w_c(x) + w0 · exp(−(d1(x) + d2(x))² / (2σ²)) for background pixels and w_c(x) for
 * object pixels, where d1, d2 are the Euclidean distances to the nearest and second-nearest
 * object (the border term is 0 with fewer than two objects). Distances are exact (EDT).
 *
 * - `unetWeightMap(labels: tf.Tensor, options)`: [H, W] (or [H, W, 1]) tensor -> Tensor2D [H, W].
 * - `unetWeightMap(labels: Int32Array, [H, W], options)`: row-major data -> Float32Array.
 */
export function unetWeightMap(labels: tf.Tensor, options?: UNetWeightMapOptions): tf.Tensor2D;
export function unetWeightMap(
  labels: LabelArray,
  shape: [number, number],
  options?: UNetWeightMapOptions,
): Float32Array;
export function unetWeightMap(
  labels: tf.Tensor | LabelArray,
  shapeOrOptions?: [number, number] | UNetWeightMapOptions,
  options?: UNetWeightMapOptions,
): tf.Tensor2D | Float32Array {
  const where = 'unetWeightMap';
  if (labels instanceof tf.Tensor) {
    if (Array.isArray(shapeOrOptions)) {
      throw new Error(`${where}: pass no shape with a tensor; call unetWeightMap(tensor, options).`);
    }
    const opts = resolveOptions(where, shapeOrOptions ?? {});
    const { data, h, w } = labelTensorData(where, labels);
    return tf.tensor2d(computeWeightMap(data, h, w, opts), [h, w]);
  }
  if (!ArrayBuffer.isView(labels) || labels instanceof Float32Array || labels instanceof Float64Array) {
    throw new Error(`${where}: labels must be an integer typed array (e.g. Int32Array) with a shape, or a tf.Tensor.`);
  }
  const shape = shapeOrOptions;
  if (!isHeightWidth(shape) || shape[0] * shape[1] !== labels.length) {
    throw new Error(
      `${where}: shape must be [H, W] with H·W = labels.length (${labels.length}), got ${JSON.stringify(shape)}.`,
    );
  }
  const opts = resolveOptions(where, options ?? {});
  checkLabels(where, labels);
  return computeWeightMap(labels, shape[0], shape[1], opts);
}

export { resolveOptions as resolveWeightMapOptions };
