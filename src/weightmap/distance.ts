/**
 * Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, "Distance Transforms of
 * Sampled Functions"): the squared distance is computed by two passes of the 1-D lower-envelope
 * algorithm (columns, then rows), in plain typed arrays.
 */

/** Stand-in for +∞ in the sampled function (finite so the parabola intersections stay finite). */
const FAR = 1e20;

/**
 * 1-D squared distance transform: out[q] = min_p (q − p)² + f[p], reading f with `stride` from
 * `offset` (n samples) and writing `out` the same way. `v`, `z` are scratch buffers (n, n + 1).
 */
function transform1d(
  f: Float64Array,
  out: Float64Array,
  offset: number,
  stride: number,
  n: number,
  v: Int32Array,
  z: Float64Array,
  g: Float64Array,
): void {
  for (let i = 0; i < n; i++) g[i] = f[offset + i * stride];
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  const intersect = (q: number, p: number) => (g[q] + q * q - (g[p] + p * p)) / (2 * (q - p));
  for (let q = 1; q < n; q++) {
    // g is finite everywhere, so s is finite and z[0] = −∞ stops the loop at k = 0.
    let s = intersect(q, v[k]);
    while (s <= z[k]) {
      k--;
      s = intersect(q, v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    const p = v[k];
    out[offset + q * stride] = (q - p) * (q - p) + g[p];
  }
}

/**
 * Squared Euclidean distance from every pixel of an h×w image (row-major) to the nearest pixel
 * where `isSource(i)` is true. Pixels far from every source (none exists) get ~1e20.
 */
export function squaredDistanceTransform(
  h: number,
  w: number,
  isSource: (index: number) => boolean,
): Float64Array {
  const n = Math.max(h, w);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const g = new Float64Array(n);
  const f = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) f[i] = isSource(i) ? 0 : FAR;
  const tmp = new Float64Array(h * w);
  for (let x = 0; x < w; x++) transform1d(f, tmp, x, w, h, v, z, g); // columns
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) transform1d(tmp, out, y * w, 1, w, v, z, g); // rows
  return out;
}
