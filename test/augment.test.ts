import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  augmentSample, bicubicUpsampleGrid, createRng, elasticDisplacement, flipHorizontal, flipVertical, reflectIndex,
  resizeBilinear, resizeNearest, rotate90, warpSample, type SegmentationSample,
} from '../src/index.js';

const H = 5, W = 7, C = 2;
const img = Float32Array.from({ length: H * W * C }, (_, i) => i * 1.5 - 3);
const asTensor = (a: Float32Array, h: number, w: number, c: number) => tf.tensor3d(a, [h, w, c]);

/** Quadrant labels 0..3 on a size x size sample whose image equals the label. */
function quadrantSample(size: number): SegmentationSample {
  const mask = new Int32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    mask[y * size + x] = (y < size / 2 ? 0 : 2) + (x < size / 2 ? 0 : 1);
  }
  return { image: Float32Array.from(mask), mask, instances: Int32Array.from(mask, (v) => v * 10), height: size, width: size, channels: 1 };
}

describe('pixel geometry against tfjs references', () => {
  it('flips and 90° rotations', () => {
    const t = asTensor(img, H, W, C);
    expect(Array.from(flipHorizontal(img, H, W, C))).toEqual(Array.from(tf.reverse(t, 1).dataSync()));
    expect(Array.from(flipVertical(img, H, W, C))).toEqual(Array.from(tf.reverse(t, 0).dataSync()));
    // k = 1 counter-clockwise = transpose of the left-right flip.
    let ref = tf.transpose(tf.reverse(t, 1), [1, 0, 2]);
    for (let k = 1; k <= 3; k++) {
      expect(Array.from(rotate90(img, H, W, C, k))).toEqual(Array.from(ref.dataSync()));
      const next = tf.transpose(tf.reverse(ref, 1), [1, 0, 2]);
      ref.dispose();
      ref = next;
    }
    expect(Array.from(rotate90(img, H, W, C, 4))).toEqual(Array.from(img));
    tf.dispose([t, ref]);
  });

  it('bilinear resize matches tf.image.resizeBilinear(halfPixelCenters) and nearest keeps labels', () => {
    const t = asTensor(img, H, W, C);
    for (const [nh, nw] of [[9, 4], [3, 11]]) {
      const ref = tf.image.resizeBilinear(t, [nh, nw], false, true);
      const ours = resizeBilinear(img, H, W, C, nh, nw);
      const d = ref.dataSync();
      ours.forEach((v, i) => expect(v).toBeCloseTo(d[i], 4));
      ref.dispose();
    }
    t.dispose();
    const labels = Int32Array.from([1, 2, 3, 4]);
    expect(Array.from(resizeNearest(labels, 2, 2, 1, 4, 4))).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it('reflectIndex mirrors without repeating the edge (tf.mirrorPad reflect) for any offset', () => {
    const row = tf.tensor1d([0, 1, 2, 3]);
    const padded = tf.mirrorPad(row, [[3, 3]], 'reflect').dataSync();
    expect(Array.from({ length: 10 }, (_, i) => reflectIndex(i - 3, 4))).toEqual(Array.from(padded));
    expect([-7, -6, 9, 10].map((i) => reflectIndex(i, 4))).toEqual([1, 0, 3, 2]);
    expect(reflectIndex(5, 1)).toBe(0);
    row.dispose();
  });
});

describe('elastic deformation', () => {
  it('bicubic grid interpolation passes through the control points and keeps constants', () => {
    const grid = Float32Array.from([1, -2, 3, 0.5, 4, -1, 2, 2, -3]);
    const dense = bicubicUpsampleGrid(grid, 3, 9, 13);
    const nodes = [0, 4, 8].flatMap((y) => [0, 6, 12].map((x) => dense[y * 13 + x]));
    nodes.forEach((v, i) => expect(v).toBeCloseTo(grid[i], 5));
    const flat = bicubicUpsampleGrid(new Float32Array(9).fill(2.5), 3, 6, 6);
    flat.forEach((v) => expect(v).toBeCloseTo(2.5, 5));
    // Smooth: neighbouring pixels differ far less than control points.
    let maxStep = 0;
    for (let y = 0; y < 9; y++) for (let x = 1; x < 13; x++) maxStep = Math.max(maxStep, Math.abs(dense[y * 13 + x] - dense[y * 13 + x - 1]));
    expect(maxStep).toBeLessThan(2);
  });

  it('displacements at the 3x3 grid have standard deviation sigma and are seeded', () => {
    const rng = createRng(7);
    const nodes: number[] = [];
    for (let i = 0; i < 300; i++) {
      const f = elasticDisplacement(11, 11, rng, { sigma: 10 });
      for (const y of [0, 5, 10]) for (const x of [0, 5, 10]) nodes.push(f.dx[y * 11 + x], f.dy[y * 11 + x]);
    }
    const sd = Math.sqrt(nodes.reduce((a, v) => a + v * v, 0) / nodes.length);
    expect(sd).toBeGreaterThan(9.3);
    expect(sd).toBeLessThan(10.7);
    const a = elasticDisplacement(8, 8, createRng(3));
    const b = elasticDisplacement(8, 8, createRng(3));
    expect(Array.from(a.dx)).toEqual(Array.from(b.dx));
    expect(() => elasticDisplacement(8, 8, createRng(1), { gridSize: 1 })).toThrow('gridSize must be an integer >= 2');
  });

  it('zero field is the identity; an integer shift moves image and mask together with reflection', () => {
    const s = quadrantSample(6);
    const zero = { dx: new Float32Array(36), dy: new Float32Array(36), height: 6, width: 6 };
    const same = warpSample(s, zero);
    expect(Array.from(same.image)).toEqual(Array.from(s.image));
    expect(Array.from(same.mask)).toEqual(Array.from(s.mask));
    const shift = { dx: new Float32Array(36).fill(2), dy: new Float32Array(36).fill(-1), height: 6, width: 6 };
    const moved = warpSample(s, shift);
    for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) {
      const src = reflectIndex(y - 1, 6) * 6 + reflectIndex(x + 2, 6);
      expect(moved.mask[y * 6 + x]).toBe(s.mask[src]);
      expect(moved.image[y * 6 + x]).toBe(s.image[src]);
      expect(moved.instances![y * 6 + x]).toBe(s.instances![src]);
    }
  });

  it('keeps image and mask aligned and masks nearest-neighbour (no new labels)', () => {
    const s = quadrantSample(32);
    const rng = createRng(11);
    for (let i = 0; i < 5; i++) {
      const out = augmentSample(s, { elastic: true, flip: true, rotate90: true }, rng);
      expect(new Set(out.mask).size).toBeLessThanOrEqual(4);
      expect([...new Set(out.mask)].every((v) => [0, 1, 2, 3].includes(v))).toBe(true);
      let agree = 0;
      let misaligned = 0;
      const flipped = flipHorizontal(out.mask, 32, 32, 1);
      for (let p = 0; p < 32 * 32; p++) {
        if (Math.round(out.image[p]) === out.mask[p]) agree++;
        if (Math.round(out.image[p]) === flipped[p]) misaligned++;
        expect(out.instances![p]).toBe(out.mask[p] * 10);
      }
      expect(agree / 1024).toBeGreaterThan(0.93);
      expect(misaligned / 1024).toBeLessThan(0.8);
    }
  });
});

describe('augmentSample', () => {
  it('crop picks a window of the requested size with matching mask', () => {
    const s = quadrantSample(8);
    const out = augmentSample(s, { crop: [3, 5] }, createRng(2));
    expect([out.height, out.width]).toEqual([3, 5]);
    expect(Array.from(out.image)).toEqual(Array.from(out.mask));
    expect(() => augmentSample(s, { crop: [0, 2] }, createRng(2))).toThrow(
      'augment: crop must be an integer >= 1 or [height, width] of integers >= 1, got [0,2].',
    );
  });

  it('brightness shifts and contrast scales around the mean; the mask is untouched', () => {
    const s = quadrantSample(8);
    const rng = createRng(5);
    const out = augmentSample(s, { brightness: 0.3, contrast: 0.5 }, rng);
    const mean = (a: Float32Array) => a.reduce((x, v) => x + v, 0) / a.length;
    const sd = (a: Float32Array) => Math.sqrt(a.reduce((x, v) => x + (v - mean(a)) ** 2, 0) / a.length);
    const shift = mean(out.image) - mean(s.image);
    const factor = sd(out.image) / sd(s.image);
    expect(Math.abs(shift)).toBeLessThanOrEqual(0.3);
    expect(factor).toBeGreaterThanOrEqual(0.5 - 1e-6);
    expect(factor).toBeLessThanOrEqual(1.5 + 1e-6);
    // Pixelwise: (v - m) * factor + m + shift.
    const m = mean(s.image);
    s.image.forEach((v, p) => expect(out.image[p]).toBeCloseTo((v - m) * factor + m + shift, 4));
    expect(out.mask).toEqual(s.mask);
    expect(s.image[0]).toBe(0); // input untouched
  });

  it('non-square samples only rotate by 0 or 180 degrees', () => {
    const s: SegmentationSample = { image: new Float32Array(6), mask: new Int32Array(6), height: 2, width: 3, channels: 1 };
    const rng = createRng(0);
    for (let i = 0; i < 10; i++) {
      const out = augmentSample(s, { rotate90: true }, rng);
      expect([out.height, out.width]).toEqual([2, 3]);
    }
  });
});
