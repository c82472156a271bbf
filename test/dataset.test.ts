import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  batchSamples, createRng, createSegmentationDataset, maskToTarget, splitSamples, type SegmentationSample,
} from '../src/index.js';

function sample(i: number, h = 4, w = 4, c = 1, label = (p: number) => p % 2): SegmentationSample {
  const image = new Float32Array(h * w * c).map((_, k) => i * 100 + k);
  const mask = new Int32Array(h * w).map((_, p) => label(p));
  return { image, mask, height: h, width: w, channels: c, name: `s${i}` };
}

describe('createRng', () => {
  it('is deterministic per seed and uniform-ish', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(createRng(43).next()).not.toBe(xs[0]);
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    const r = createRng(1);
    const normals = Array.from({ length: 4000 }, () => r.normal(2, 3));
    const m = normals.reduce((s, v) => s + v, 0) / normals.length;
    const sd = Math.sqrt(normals.reduce((s, v) => s + (v - m) ** 2, 0) / normals.length);
    expect(m).toBeGreaterThan(1.8);
    expect(m).toBeLessThan(2.2);
    expect(sd).toBeGreaterThan(2.8);
    expect(sd).toBeLessThan(3.2);
    expect(() => createRng(NaN)).toThrow(/seed must be a finite number/);
  });
});

describe('maskToTarget', () => {
  it('binary: label > 0 is foreground (0/1, 0/255 and instance ids)', () => {
    expect(Array.from(maskToTarget([0, 1, 255, 7, 0], 1))).toEqual([0, 1, 1, 1, 0]);
  });
  it('one-hot for numClasses >= 2', () => {
    expect(Array.from(maskToTarget([2, 0, 1], 3))).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });
  it('rejects out-of-range and negative labels naming the source', () => {
    expect(() => maskToTarget([0, 3], 3, 'mask m.png')).toThrow('mask m.png: mask value 3 at pixel 1 is >= numClasses (3)');
    expect(() => maskToTarget([0, -1], 1, 'mask m.png')).toThrow('mask m.png: mask value -1 at pixel 1 is not a non-negative integer label');
    expect(() => maskToTarget([0], 0)).toThrow('numClasses must be an integer >= 1, got 0');
  });
});

describe('splitSamples', () => {
  it('is seeded, disjoint, complete, and keeps at least one sample per side', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const a = splitSamples(items, 0.3, 5);
    expect(a).toEqual(splitSamples(items, 0.3, 5));
    expect(a.validation).toHaveLength(3);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(items);
    expect(splitSamples(items, 0.3, 6).validation).not.toEqual(a.validation);
    expect(splitSamples([1, 2], 0.01, 0).validation).toHaveLength(1);
    expect(splitSamples(items, 0, 0).validation).toHaveLength(0);
    expect(() => splitSamples(items, 1, 0)).toThrow('validationSplit must be in [0, 1), got 1');
  });
});

describe('batchSamples', () => {
  it('stacks images and targets with exact values', () => {
    const { xs, ys } = batchSamples([sample(0), sample(1)], { numClasses: 2 });
    expect(xs.shape).toEqual([2, 4, 4, 1]);
    expect(ys.shape).toEqual([2, 4, 4, 2]);
    expect(xs.dataSync()[16]).toBe(100);
    expect(Array.from(ys.dataSync().subarray(0, 4))).toEqual([1, 0, 0, 1]);
    tf.dispose([xs, ys]);
  });
  it('centre-crops targets to outputSize', () => {
    const s = sample(0, 6, 6, 1, (p) => p);
    const { xs, ys } = batchSamples([s], { numClasses: 36, outputSize: [2, 2] });
    expect(xs.shape).toEqual([1, 6, 6, 1]);
    expect(ys.shape).toEqual([1, 2, 2, 36]);
    const labels = (ys.argMax(-1).arraySync() as number[][][])[0];
    expect(labels).toEqual([[14, 15], [20, 21]]);
    tf.dispose([xs, ys]);
    tf.disposeVariables();
  });
  it('custom target functions pack extra channels', () => {
    const { xs, ys } = batchSamples([sample(0)], {
      target: (s) => ({ data: new Float32Array(s.height * s.width * 2).fill(0.5), channels: 2 }),
    });
    expect(ys.shape).toEqual([1, 4, 4, 2]);
    tf.dispose([xs, ys]);
    expect(() => batchSamples([sample(0)], { target: () => ({ data: new Float32Array(3), channels: 1 }) })).toThrow(
      /target function returned 3 values for sample "s0"; expected height\*width\*channels = 4\*4\*1/,
    );
  });
  it('rejects malformed and mixed-size samples', () => {
    expect(() => batchSamples([sample(0), sample(1, 5, 5)])).toThrow(
      /sample "s1" is 5x5x1 but sample "s0" is 4x4x1; all samples in a batch must share one size/,
    );
    const bad = { ...sample(0), mask: new Int32Array(3) };
    expect(() => batchSamples([bad])).toThrow('sample "s0": mask must be an Int32Array of length height*width = 16, got Int32Array(3).');
    expect(() => batchSamples([])).toThrow('batchSamples: no samples to batch.');
  });
});

describe('SegmentationDataset.batches', () => {
  const samples = Array.from({ length: 7 }, (_, i) => sample(i));

  it('yields every training sample once per epoch, in seeded order, without leaking tensors', () => {
    const ds = createSegmentationDataset(samples, { validationSplit: 2 / 7, seed: 1 });
    expect(ds.train).toHaveLength(5);
    expect(ds.validation).toHaveLength(2);
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const shapes: number[] = [];
    for (const { xs, ys } of ds.batches(2, { seed: 9 })) {
      const d = xs.dataSync();
      for (let b = 0; b < xs.shape[0]; b++) seen.push(d[b * 16] / 100);
      shapes.push(xs.shape[0]);
      expect(ys.shape.slice(1)).toEqual([4, 4, 1]);
      tf.dispose([xs, ys]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(shapes).toEqual([2, 2, 1]);
    const trainIds = ds.train.map((s) => s.image[0] / 100);
    expect([...seen].sort()).toEqual([...trainIds].sort());
    // Same seed -> same order; default seeds differ between epochs.
    const again: number[] = [];
    for (const { xs, ys } of ds.batches(2, { seed: 9 })) {
      const d = xs.dataSync();
      for (let b = 0; b < xs.shape[0]; b++) again.push(d[b * 16] / 100);
      tf.dispose([xs, ys]);
    }
    expect(again).toEqual(seen);
    expect(ds.numBatches(2)).toBe(3);
    expect(ds.numBatches(2, 'train', true)).toBe(2);
    expect(() => ds.numBatches(0)).toThrow('numBatches: batchSize must be an integer >= 1, got 0.');
    expect(() => ds.numBatches(1.5)).toThrow('numBatches: batchSize must be an integer >= 1, got 1.5.');
    expect([...ds.batches(2, { dropRemainder: true })].map((b) => { tf.dispose([b.xs, b.ys]); return b.xs.shape[0]; })).toEqual([2, 2]);
  });

  it('validation is not shuffled by default and abandoning a loop leaks nothing', () => {
    const ds = createSegmentationDataset(samples, { validationSplit: 0.3, seed: 2 });
    const before = tf.memory().numTensors;
    const { xs, ys } = ds.batches(10, { split: 'validation' }).next().value!;
    expect(Array.from({ length: xs.shape[0] }, (_, b) => xs.dataSync()[b * 16] / 100)).toEqual(ds.validation.map((s) => s.image[0] / 100));
    tf.dispose([xs, ys]);
    for (const b of ds.batches(1)) { tf.dispose([b.xs, b.ys]); break; }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('applies augmentation to image and mask together', () => {
    // Image equals the mask label, so any misalignment shows as a mismatch.
    const s: SegmentationSample = sample(0, 8, 8, 1, (p) => (p * 7) % 3);
    s.image = Float32Array.from(s.mask);
    const ds = createSegmentationDataset([s], { numClasses: 3, validationSplit: 0 });
    for (let e = 0; e < 5; e++) {
      for (const { xs, ys } of ds.batches(1, { augment: { flip: true, rotate90: true, crop: 5 } })) {
        expect(xs.shape).toEqual([1, 5, 5, 1]);
        const img = Array.from(xs.dataSync());
        const lab = Array.from(tf.tidy(() => ys.argMax(-1)).dataSync());
        expect(lab).toEqual(img);
        tf.dispose([xs, ys]);
      }
    }
  });

  it('validates inputs', () => {
    expect(() => createSegmentationDataset([], {})).toThrow('createSegmentationDataset: no samples given.');
    expect(() => createSegmentationDataset([sample(0, 4, 4, 1, () => 4)], { numClasses: 3 })).toThrow(
      'sample "s0": mask value 4 at pixel 0 is >= numClasses (3)',
    );
    const ds = createSegmentationDataset(samples);
    expect(() => ds.batches(0).next()).toThrow('batches: batchSize must be an integer >= 1, got 0');
    expect(() => ds.batches(1, { augment: { crop: 9 } }).next()).toThrow(/crop 9x9 is larger than the 4x4 sample/);
    expect(() => ds.batches(1, { augment: { contrast: 2 } }).next()).toThrow(/contrast must be <= 1/);
  });
});
