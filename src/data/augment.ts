/**
 * Data augmentation applied identically to an image and its label maps (mask and optional
 * instance ids). Images are interpolated (bilinear), label maps use nearest neighbour so no new
 * labels appear. Browser-safe; works on plain typed arrays.
 */
import type { Rng } from './rng.js';
import { crop, flipHorizontal, flipVertical, reflectIndex, rotate90 } from './pixels.js';
import type { SegmentationSample } from './sample.js';
import { checkFiniteNumber, checkInteger, checkSize, invalid } from '../util/validate.js';

/** Elastic deformation as in the UNet paper (Ronneberger et al. 2015, section 3.1). */
export interface ElasticOptions {
  /** Standard deviation of the coarse displacement vectors in pixels. Default 10. */
  sigma?: number;
  /** Number of control points per axis of the coarse grid. Default 3 (a 3x3 grid). */
  gridSize?: number;
  /** Probability of applying the deformation to a sample. Default 1. */
  probability?: number;
}

/** Which random augmentations to apply; every field is optional and off by default. */
export interface AugmentOptions {
  /** Random horizontal and vertical flips, each with probability 0.5. */
  flip?: boolean;
  /** Random rotation by a multiple of 90° (square samples: 0/90/180/270; otherwise 0/180). */
  rotate90?: boolean;
  /** Random crop to this size ([height, width] or a square side); must fit in the sample. */
  crop?: number | [number, number];
  /** Additive brightness shift drawn uniformly from [-brightness, brightness]. */
  brightness?: number;
  /** Contrast factor drawn uniformly from [1 - contrast, 1 + contrast], around each channel's mean. */
  contrast?: number;
  /** Elastic deformation; `true` uses the paper's defaults (3x3 grid, sigma 10 px). */
  elastic?: boolean | ElasticOptions;
}

/** Dense displacement field: the pixel at (y, x) is sampled from (y + dy, x + dx). */
export interface DisplacementField {
  dx: Float32Array;
  dy: Float32Array;
  height: number;
  width: number;
}

const KEYS_A = -0.5;

/** Keys' cubic convolution kernel (a = -0.5, Catmull-Rom): interpolates its control points. */
function cubicWeight(t: number): number {
  const x = Math.abs(t);
  if (x <= 1) return (KEYS_A + 2) * x * x * x - (KEYS_A + 3) * x * x + 1;
  if (x < 2) return KEYS_A * x * x * x - 5 * KEYS_A * x * x + 8 * KEYS_A * x - 4 * KEYS_A;
  return 0;
}

/**
 * Bicubic interpolation of a g x g grid of values (row-major, control points spread evenly
 * from the first to the last pixel) to a dense h x w field. Control points beyond the grid are
 * clamped to the edge. At the control points the field equals the grid values exactly.
 */
export function bicubicUpsampleGrid(grid: Float32Array, g: number, h: number, w: number): Float32Array {
  if (grid.length !== g * g) {
    throw new Error(`bicubicUpsampleGrid: grid must have ${g * g} values, got ${grid.length}.`);
  }
  const along = (n: number) => {
    // For each output coordinate: 4 grid indices and weights.
    const idx = new Int32Array(n * 4);
    const wts = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const u = n > 1 ? (i * (g - 1)) / (n - 1) : 0;
      const base = Math.floor(u);
      for (let k = 0; k < 4; k++) {
        const j = base - 1 + k;
        idx[i * 4 + k] = Math.min(Math.max(j, 0), g - 1);
        wts[i * 4 + k] = cubicWeight(u - j);
      }
    }
    return { idx, wts };
  };
  const ax = along(w);
  const ay = along(h);
  // First along x for every grid row, then along y.
  const rows = new Float32Array(g * w);
  for (let r = 0; r < g; r++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += ax.wts[x * 4 + k] * grid[r * g + ax.idx[x * 4 + k]];
      rows[r * w + x] = s;
    }
  }
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += ay.wts[y * 4 + k] * rows[ay.idx[y * 4 + k] * w + x];
      out[y * w + x] = s;
    }
  }
  return out;
}

/**
 * The UNet paper's elastic deformation field: displacement vectors on a coarse gridSize x
 * gridSize grid drawn from N(0, sigma²) pixels, bicubic-interpolated to every pixel.
 */
export function elasticDisplacement(
  height: number, width: number, rng: Rng, options: ElasticOptions = {},
): DisplacementField {
  const sigma = checkFiniteNumber('elastic', 'sigma', options.sigma ?? 10, { min: 0 });
  const g = checkInteger('elastic', 'gridSize', options.gridSize ?? 3, 2);
  const gx = new Float32Array(g * g);
  const gy = new Float32Array(g * g);
  for (let i = 0; i < g * g; i++) {
    gx[i] = rng.normal(0, sigma);
    gy[i] = rng.normal(0, sigma);
  }
  return {
    dx: bicubicUpsampleGrid(gx, g, height, width),
    dy: bicubicUpsampleGrid(gy, g, height, width),
    height,
    width,
  };
}

/**
 * Warps a sample with a displacement field: the image bilinearly, label maps by nearest
 * neighbour, both reflecting at the borders.
 */
export function warpSample(sample: SegmentationSample, field: DisplacementField): SegmentationSample {
  const { height: h, width: w, channels: c } = sample;
  if (field.height !== h || field.width !== w) {
    throw new Error(
      `warpSample: displacement field is ${field.height}x${field.width} but the sample is ${h}x${w}.`,
    );
  }
  const image = new Float32Array(h * w * c);
  const mask = new Int32Array(h * w);
  const instances = sample.instances ? new Int32Array(h * w) : undefined;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const fy = y + field.dy[p];
      const fx = x + field.dx[p];
      const y0 = Math.floor(fy);
      const x0 = Math.floor(fx);
      const ty = fy - y0;
      const tx = fx - x0;
      const ya = reflectIndex(y0, h);
      const yb = reflectIndex(y0 + 1, h);
      const xa = reflectIndex(x0, w);
      const xb = reflectIndex(x0 + 1, w);
      for (let k = 0; k < c; k++) {
        const v00 = sample.image[(ya * w + xa) * c + k];
        const v01 = sample.image[(ya * w + xb) * c + k];
        const v10 = sample.image[(yb * w + xa) * c + k];
        const v11 = sample.image[(yb * w + xb) * c + k];
        image[p * c + k] = (v00 * (1 - tx) + v01 * tx) * (1 - ty) + (v10 * (1 - tx) + v11 * tx) * ty;
      }
      const q = reflectIndex(Math.round(fy), h) * w + reflectIndex(Math.round(fx), w);
      mask[p] = sample.mask[q];
      if (instances && sample.instances) instances[p] = sample.instances[q];
    }
  }
  return { ...sample, image, mask, instances };
}

function mapLabels(
  sample: SegmentationSample,
  fImage: (a: Float32Array) => Float32Array,
  fLabels: (a: Int32Array) => Int32Array,
  height: number,
  width: number,
): SegmentationSample {
  return {
    ...sample,
    image: fImage(sample.image),
    mask: fLabels(sample.mask),
    instances: sample.instances ? fLabels(sample.instances) : undefined,
    height,
    width,
  };
}

/** Checks augmentation options up front so mistakes surface before training starts. */
export function validateAugmentOptions(options: AugmentOptions): void {
  if (options.crop !== undefined) checkSize('augment', 'crop', options.crop);
  for (const key of ['brightness', 'contrast'] as const) {
    if (options[key] !== undefined) checkFiniteNumber('augment', key, options[key], { min: 0 });
  }
  if (options.contrast !== undefined && options.contrast > 1) {
    throw invalid('augment', 'contrast', '<= 1 (factor in [1-c, 1+c])', options.contrast);
  }
  if (typeof options.elastic === 'object' && options.elastic.probability !== undefined) {
    checkFiniteNumber('augment', 'elastic.probability', options.elastic.probability, { min: 0, max: 1 });
  }
}

/**
 * Applies the enabled augmentations in the order crop, flips, 90° rotation, elastic
 * deformation, brightness/contrast. Returns a new sample; the input is not modified.
 */
export function augmentSample(sample: SegmentationSample, options: AugmentOptions, rng: Rng): SegmentationSample {
  validateAugmentOptions(options);
  let s = sample;
  const c = s.channels;
  if (options.crop !== undefined) {
    const [ch, cw] = checkSize('augment', 'crop', options.crop);
    if (ch > s.height || cw > s.width) {
      throw new Error(
        `augment: crop ${ch}x${cw} is larger than the ${s.height}x${s.width} sample` +
          `${s.name ? ` "${s.name}"` : ''}; use a smaller crop or a larger input size.`,
      );
    }
    const top = rng.int(s.height - ch + 1);
    const left = rng.int(s.width - cw + 1);
    const w = s.width;
    s = mapLabels(s, (a) => crop(a, w, c, top, left, ch, cw), (a) => crop(a, w, 1, top, left, ch, cw), ch, cw);
  }
  if (options.flip) {
    const { height: h, width: w } = s;
    if (rng.chance(0.5)) s = mapLabels(s, (a) => flipHorizontal(a, h, w, c), (a) => flipHorizontal(a, h, w, 1), h, w);
    if (rng.chance(0.5)) s = mapLabels(s, (a) => flipVertical(a, h, w, c), (a) => flipVertical(a, h, w, 1), h, w);
  }
  if (options.rotate90) {
    const { height: h, width: w } = s;
    const k = h === w ? rng.int(4) : 2 * rng.int(2);
    if (k !== 0) {
      const [nh, nw] = k % 2 === 1 ? [w, h] : [h, w];
      s = mapLabels(s, (a) => rotate90(a, h, w, c, k), (a) => rotate90(a, h, w, 1, k), nh, nw);
    }
  }
  if (options.elastic) {
    const eo = options.elastic === true ? {} : options.elastic;
    if (rng.chance(eo.probability ?? 1)) s = warpSample(s, elasticDisplacement(s.height, s.width, rng, eo));
  }
  if (options.brightness || options.contrast) {
    const shift = options.brightness ? rng.uniform(-options.brightness, options.brightness) : 0;
    const factor = options.contrast ? rng.uniform(1 - options.contrast, 1 + options.contrast) : 1;
    const n = s.height * s.width;
    const image = new Float32Array(s.image.length);
    for (let k = 0; k < c; k++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += s.image[i * c + k];
      mean /= n;
      for (let i = 0; i < n; i++) image[i * c + k] = (s.image[i * c + k] - mean) * factor + mean + shift;
    }
    s = { ...s, image };
  }
  return s === sample ? { ...sample } : s;
}
