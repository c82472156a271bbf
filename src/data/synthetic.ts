/**
 * Seeded synthetic microscopy-like data: textured, touching and overlapping elliptical cells on a
 * darker background, with noise, instance labels and binary masks. Touching cells are separated
 * by a thin dark background border in both image and labels, like the UNet paper's data, so the
 * UNet border weight map applies. Browser-safe.
 */
import { bicubicUpsampleGrid } from './augment.js';
import { checkSeed, createRng, type Rng } from './rng.js';
import type { SegmentationSample } from './sample.js';
import { checkFiniteNumber, checkInteger, checkOneOf, checkSize, invalid, isInteger } from '../util/validate.js';

/** Options of {@link syntheticCells}. */
export interface SyntheticCellsOptions {
  /** Number of images. */
  count: number;
  /** Image side, or [height, width]. */
  size: number | [number, number];
  /** Seed; the same seed always gives the same images. Default 0. */
  seed?: number;
  /** Range [min, max] of cells per image. Default [4, 9]. */
  cellsPerImage?: [number, number];
  /** Range of ellipse semi-axes as fractions of the smaller image side. Default [0.09, 0.17]. */
  radius?: [number, number];
  /** Standard deviation of additive Gaussian pixel noise. Default 0.05. */
  noise?: number;
  /** Image channels, 1 (gray) or 3 (tinted RGB). Default 1. */
  channels?: 1 | 3;
}

/** Geometry of one generated cell (pixel units). */
export interface SyntheticCell {
  /** Instance id used in `instances` (1-based). */
  label: number;
  cy: number;
  cx: number;
  /** Semi-axes before rotation. */
  ry: number;
  rx: number;
  /** Rotation in radians. */
  angle: number;
}

/** A synthetic sample: binary `mask` (0/1), `instances` ids and the cells' geometry. */
export interface SyntheticSample extends SegmentationSample {
  instances: Int32Array;
  cells: SyntheticCell[];
}

/** Normalised elliptical radius of (y, x) with respect to a cell: < 1 inside. */
export function cellRadius(cell: SyntheticCell, y: number, x: number): number {
  const dy = y - cell.cy;
  const dx = x - cell.cx;
  const cos = Math.cos(cell.angle);
  const sin = Math.sin(cell.angle);
  const u = dx * cos + dy * sin;
  const v = -dx * sin + dy * cos;
  return Math.sqrt((u / cell.rx) ** 2 + (v / cell.ry) ** 2);
}

function smoothNoise(rng: Rng, grid: number, h: number, w: number): Float32Array {
  const g = new Float32Array(grid * grid);
  for (let i = 0; i < g.length; i++) g[i] = rng.uniform(-1, 1);
  return bicubicUpsampleGrid(g, grid, h, w);
}

function placeCells(rng: Rng, h: number, w: number, n: number, rMin: number, rMax: number): SyntheticCell[] {
  const cells: SyntheticCell[] = [];
  for (let i = 0; i < n; i++) {
    const ry = rng.uniform(rMin, rMax);
    const rx = ry * rng.uniform(0.7, 1.3);
    const angle = rng.uniform(0, Math.PI);
    const mean = (rx + ry) / 2;
    let cy = 0;
    let cx = 0;
    for (let attempt = 0; attempt < 30; attempt++) {
      if (cells.length > 0 && rng.chance(0.7)) {
        // Next to an existing cell so the two touch or overlap.
        const other = cells[rng.int(cells.length)];
        const theta = rng.uniform(0, 2 * Math.PI);
        const dist = ((other.rx + other.ry) / 2 + mean) * rng.uniform(0.6, 0.95);
        cy = other.cy + dist * Math.sin(theta);
        cx = other.cx + dist * Math.cos(theta);
      } else {
        cy = rng.uniform(mean * 0.5, h - mean * 0.5);
        cx = rng.uniform(mean * 0.5, w - mean * 0.5);
      }
      const inside = cy > 0 && cy < h && cx > 0 && cx < w;
      const crowded = cells.some((c) => Math.hypot(c.cy - cy, c.cx - cx) < 0.55 * ((c.rx + c.ry) / 2 + mean));
      if (inside && !crowded) break;
    }
    cells.push({ label: cells.length + 1, cy, cx, ry, rx, angle });
  }
  return cells;
}

function renderOne(rng: Rng, h: number, w: number, opts: Required<Omit<SyntheticCellsOptions, 'count' | 'size' | 'seed'>>): SyntheticSample {
  const side = Math.min(h, w);
  const [nMin, nMax] = opts.cellsPerImage;
  const n = nMin + rng.int(nMax - nMin + 1);
  const cells = placeCells(rng, h, w, n, opts.radius[0] * side, opts.radius[1] * side);
  const owner = new Int32Array(h * w);
  const nearest = new Float32Array(h * w).fill(Infinity);
  const coverage = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      for (const cell of cells) {
        const r = cellRadius(cell, y + 0.5, x + 0.5);
        if (r < 1) {
          coverage[p]++;
          if (r < nearest[p]) {
            nearest[p] = r;
            owner[p] = cell.label;
          }
        }
      }
    }
  }
  // Separate touching instances by a background border (pixels next to another instance).
  const instances = new Int32Array(owner);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const o = owner[p];
      if (o === 0) continue;
      const touches =
        (x > 0 && owner[p - 1] !== 0 && owner[p - 1] !== o) ||
        (x < w - 1 && owner[p + 1] !== 0 && owner[p + 1] !== o) ||
        (y > 0 && owner[p - w] !== 0 && owner[p - w] !== o) ||
        (y < h - 1 && owner[p + w] !== 0 && owner[p + w] !== o);
      if (touches) instances[p] = 0;
    }
  }
  const background = smoothNoise(rng, 4, h, w);
  const texture = smoothNoise(rng, Math.max(4, Math.round(side / 6)), h, w);
  const brightness = cells.map(() => rng.uniform(0.55, 0.75));
  const nuclei = cells.map((c) => ({
    ...c,
    cy: c.cy + rng.uniform(-0.25, 0.25) * c.ry,
    cx: c.cx + rng.uniform(-0.25, 0.25) * c.rx,
    ry: c.ry * rng.uniform(0.3, 0.45),
    rx: c.rx * rng.uniform(0.3, 0.45),
  }));
  const bgLevel = rng.uniform(0.12, 0.22);
  const tint = opts.channels === 3 ? [1, rng.uniform(0.75, 0.95), rng.uniform(0.8, 1)] : [1];
  const c = opts.channels;
  const image = new Float32Array(h * w * c);
  const mask = new Int32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    const y = Math.floor(p / w);
    const x = p % w;
    const id = instances[p];
    let v: number;
    if (id === 0) {
      v = bgLevel + 0.05 * background[p];
    } else {
      mask[p] = 1;
      const r = nearest[p];
      v = brightness[id - 1] + 0.1 * texture[p];
      if (r > 0.8) v -= 0.25 * (r - 0.8) / 0.2; // darker membrane rim
      if (cellRadius(nuclei[id - 1], y + 0.5, x + 0.5) < 1) v += 0.12;
      if (coverage[p] > 1) v += 0.06; // overlapping cells look denser
    }
    for (let k = 0; k < c; k++) {
      image[p * c + k] = Math.min(1, Math.max(0, v * tint[k] + rng.normal(0, opts.noise)));
    }
  }
  return { image, mask, instances, cells, height: h, width: w, channels: c };
}

/**
 * Generates `count` seeded synthetic samples. Images are in [0, 1]; `mask` is 1 on cells and 0
 * on background and on the borders separating touching cells; `instances` holds cell ids.
 */
export function syntheticCells(options: SyntheticCellsOptions): SyntheticSample[] {
  const where = 'syntheticCells';
  const count = checkInteger(where, 'count', options.count, 0);
  const [h, w] = checkSize(where, 'size', options.size, 8);
  const seed = checkSeed(options.seed ?? 0, where);
  const cellsPerImage = options.cellsPerImage ?? [4, 9];
  if (!(isInteger(cellsPerImage[0], 1) && isInteger(cellsPerImage[1], cellsPerImage[0]))) {
    throw invalid(where, 'cellsPerImage', 'integers [min, max] with 1 <= min <= max', cellsPerImage);
  }
  const radius = options.radius ?? [0.09, 0.17];
  if (!(radius[0] > 0 && radius[1] >= radius[0] && radius[1] <= 0.5)) {
    throw invalid(where, 'radius', '[min, max] fractions with 0 < min <= max <= 0.5', radius);
  }
  const noise = checkFiniteNumber(where, 'noise', options.noise ?? 0.05, { min: 0 });
  const channels = checkOneOf(where, 'channels', options.channels ?? 1, [1, 3] as const);
  const rng = createRng(seed);
  const out: SyntheticSample[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ ...renderOne(rng, h, w, { cellsPerImage, radius, noise, channels }), name: `cells-${seed}-${i}` });
  }
  return out;
}
