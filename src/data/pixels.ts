/**
 * Pure typed-array image geometry used by dataset loading, augmentation, synthetic data and
 * tiled prediction. Images are row-major, channel-last. Browser-safe.
 */
import { allocLike, type PixelArray } from './sample.js';

/**
 * Mirror index without repeating the edge pixel ("reflect", as in the UNet paper's mirror
 * padding): for n = 4, indices -2..5 map to 2 1 0 1 2 3 2 1. Works for any offset.
 */
export function reflectIndex(i: number, n: number): number {
  if (n <= 1) return 0;
  const period = 2 * (n - 1);
  const k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

/** Bilinear resize with half-pixel centres (matches tf.image.resizeBilinear(halfPixelCenters)). */
export function resizeBilinear(
  src: Float32Array, h: number, w: number, c: number, nh: number, nw: number,
): Float32Array {
  const out = new Float32Array(nh * nw * c);
  const sy = h / nh;
  const sx = w / nw;
  for (let y = 0; y < nh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let x = 0; x < nw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k];
        const b = src[(y0 * w + x1) * c + k];
        const d = src[(y1 * w + x0) * c + k];
        const e = src[(y1 * w + x1) * c + k];
        out[(y * nw + x) * c + k] = (a * (1 - dx) + b * dx) * (1 - dy) + (d * (1 - dx) + e * dx) * dy;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize (for label maps; never invents new labels). */
export function resizeNearest<T extends PixelArray>(
  src: T, h: number, w: number, c: number, nh: number, nw: number,
): T {
  const out = allocLike(src, nh * nw * c);
  for (let y = 0; y < nh; y++) {
    const yy = Math.min(Math.floor(((y + 0.5) * h) / nh), h - 1);
    for (let x = 0; x < nw; x++) {
      const xx = Math.min(Math.floor(((x + 0.5) * w) / nw), w - 1);
      for (let k = 0; k < c; k++) out[(y * nw + x) * c + k] = src[(yy * w + xx) * c + k];
    }
  }
  return out;
}

/** Copies the window [top, top+ch) x [left, left+cw); the window must lie inside the image. */
export function crop<T extends PixelArray>(
  src: T, w: number, c: number, top: number, left: number, ch: number, cw: number,
): T {
  const out = allocLike(src, ch * cw * c);
  for (let y = 0; y < ch; y++) {
    const start = ((top + y) * w + left) * c;
    out.set(src.subarray(start, start + cw * c), y * cw * c);
  }
  return out;
}

/** Mirror horizontally (left-right). */
export function flipHorizontal<T extends PixelArray>(src: T, h: number, w: number, c: number): T {
  const out = allocLike(src, src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = src[(y * w + (w - 1 - x)) * c + k];
    }
  }
  return out;
}

/** Mirror vertically (top-bottom). */
export function flipVertical<T extends PixelArray>(src: T, h: number, w: number, c: number): T {
  const out = allocLike(src, src.length);
  const row = w * c;
  for (let y = 0; y < h; y++) out.set(src.subarray((h - 1 - y) * row, (h - y) * row), y * row);
  return out;
}

/**
 * Rotates by k * 90° counter-clockwise (k in 0..3). For odd k the result is w x h.
 * out[y][x] for k = 1 is src[x][w-1-y].
 */
export function rotate90<T extends PixelArray>(src: T, h: number, w: number, c: number, k: number): T {
  const kk = ((k % 4) + 4) % 4;
  if (kk === 0) return allocLikeCopy(src);
  const out = allocLike(src, src.length);
  const oh = kk % 2 === 1 ? w : h;
  const ow = kk % 2 === 1 ? h : w;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sy: number;
      let sx: number;
      if (kk === 1) { sy = x; sx = w - 1 - y; }
      else if (kk === 2) { sy = h - 1 - y; sx = w - 1 - x; }
      else { sy = h - 1 - x; sx = y; }
      for (let ch = 0; ch < c; ch++) out[(y * ow + x) * c + ch] = src[(sy * w + sx) * c + ch];
    }
  }
  return out;
}

function allocLikeCopy<T extends PixelArray>(src: T): T {
  const out = allocLike(src, src.length);
  out.set(src);
  return out;
}
