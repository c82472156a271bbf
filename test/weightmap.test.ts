import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { unetWeightMap, weightMapBatch, losses } from '../src/index.js';
import { squaredDistanceTransform } from '../src/weightmap/distance.js';
import { expectNoLeak, rng } from './lossHelpers.js';

await tf.setBackend('cpu');

/** Brute force: for every background pixel, min distance to each object's pixels, two smallest. */
function bruteForce(labels: Int32Array, h: number, w: number, w0: number, sigma: number, wc: [number, number]): Float64Array {
  const ids = [...new Set(Array.from(labels).filter((v) => v > 0))];
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (labels[i] > 0) {
        out[i] = wc[1];
        continue;
      }
      const dists = ids.map((id) => {
        let best = Infinity;
        for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
          if (labels[yy * w + xx] === id) best = Math.min(best, Math.hypot(yy - y, xx - x));
        }
        return best;
      }).sort((a, b) => a - b);
      out[i] = wc[0] + (dists.length >= 2 ? w0 * Math.exp(-((dists[0] + dists[1]) ** 2) / (2 * sigma * sigma)) : 0);
    }
  }
  return out;
}

describe('exact Euclidean distance transform', () => {
  it('matches brute force on random sparse masks', () => {
    const r = rng(3);
    for (const [h, w] of [[7, 11], [13, 5], [1, 9], [16, 16]]) {
      const mask = Array.from({ length: h * w }, () => r() < 0.08);
      mask[Math.floor(r() * h * w)] = true;
      const got = squaredDistanceTransform(h, w, (i) => mask[i]);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        let best = Infinity;
        for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) {
          if (mask[yy * w + xx]) best = Math.min(best, (yy - y) ** 2 + (xx - x) ** 2);
        }
        expect(got[y * w + x]).toBe(best);
      }
    }
  });
});

describe('unetWeightMap', () => {
  it('hand-derived 1×5 case: objects at both ends', () => {
    // middle pixels: d1 + d2 = 4 -> 1 + 10·exp(−16/50)
    const m = unetWeightMap(Int32Array.from([1, 0, 0, 0, 2]), [1, 5]);
    const b = 1 + 10 * Math.exp(-16 / 50);
    expect(Array.from(m).map((v) => +v.toFixed(5))).toEqual([1, 8.26149, 8.26149, 8.26149, 1].map((v) => +v.toFixed(5)));
    expect(b).toBeCloseTo(8.26149, 5);
  });

  it('matches brute force on an image with touching objects', () => {
    const h = 12;
    const w = 14;
    const labels = new Int32Array(h * w);
    for (let y = 2; y < 7; y++) for (let x = 2; x < 6; x++) labels[y * w + x] = 1;
    for (let y = 3; y < 8; y++) for (let x = 6; x < 9; x++) labels[y * w + x] = 2; // touches object 1
    for (let y = 9; y < 11; y++) for (let x = 10; x < 13; x++) labels[y * w + x] = 5; // label ids need not be consecutive
    for (const [opts, wc] of [
      [{ w0: 10, sigma: 5 }, [1, 1]],
      [{ w0: 4, sigma: 2, classWeights: [0.5, 2] as [number, number] }, [0.5, 2]],
    ] as const) {
      const got = unetWeightMap(labels, [h, w], opts);
      const ref = bruteForce(labels, h, w, opts.w0, opts.sigma, wc as [number, number]);
      got.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 4));
    }
    // balanced: N / (2·N_c)
    let fg = 0;
    labels.forEach((v) => (fg += v > 0 ? 1 : 0));
    const n = h * w;
    const bal = unetWeightMap(labels, [h, w], { classWeights: 'balanced' });
    const ref = bruteForce(labels, h, w, 10, 5, [n / (2 * (n - fg)), n / (2 * fg)]);
    bal.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 4));
  });

  it('fewer than two objects: class weights only; tensor input gives a tensor', () => {
    const t = tf.tensor2d([[0, 0, 0], [0, 3, 0]], [2, 3], 'int32');
    expectNoLeak(() => {
      const m = unetWeightMap(t, { w0: 10 });
      expect(m.shape).toEqual([2, 3]);
      expect(Array.from(m.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
      m.dispose();
    });
    const empty = unetWeightMap(new Int32Array(4), [2, 2], { classWeights: 'balanced' });
    expect(Array.from(empty)).toEqual([0.5, 0.5, 0.5, 0.5]); // N/(2·N) for background, no foreground
  });

  it('rejects bad input', () => {
    expect(() => unetWeightMap(Int32Array.from([0, 1, 2]), [2, 2])).toThrow(/shape must be \[H, W\]/);
    expect(() => unetWeightMap(Int32Array.from([0, -1, 2, 0]), [2, 2])).toThrow(/non-negative integers/);
    expect(() => unetWeightMap(tf.tensor2d([[0, 0.5]]))).toThrow(/non-negative integers/);
    expect(() => unetWeightMap(tf.zeros([2, 2, 2]))).toThrow(/2-D label image/);
    expect(() => unetWeightMap(new Int32Array(4), [2, 2], { sigma: 0 })).toThrow(/sigma/);
    expect(() => unetWeightMap(new Int32Array(4), [2, 2], { classWeights: [1] as never })).toThrow(/classWeights/);
  });
});

describe('weightMapBatch', () => {
  it('packs binary targets from instances with their weight maps', () => {
    const inst = [Int32Array.from([1, 0, 0, 0, 2]), Int32Array.from([0, 0, 3, 0, 0])];
    const targets = tf.tensor3d([[[1, 0, 0, 0, 1]], [[0, 0, 1, 0, 0]]]);
    const y = weightMapBatch({ targets, instances: inst });
    expect(y.shape).toEqual([2, 1, 5, 2]);
    const v = y.arraySync();
    expect(v[0][0].map((px) => px[0])).toEqual([1, 0, 0, 0, 1]);
    expect(v[0][0].map((px) => +px[1].toFixed(4))).toEqual([1, 8.2615, 8.2615, 8.2615, 1]);
    expect(v[1][0].map((px) => px[1])).toEqual([1, 1, 1, 1, 1]);
    // targets derived from tensor instances when omitted
    const y2 = weightMapBatch({ instances: tf.tensor3d([[[1, 0, 0, 0, 2]]], [1, 1, 5], 'int32') });
    expect(y2.arraySync()[0][0].map((px) => px[0])).toEqual([1, 0, 0, 0, 1]);
  });

  it('packs one-hot targets with given maps, and feeds weightedCrossEntropy({ weightMap: true })', () => {
    const targets = tf.oneHot(tf.tensor3d([[[0, 1], [2, 0]]], [1, 2, 2], 'int32'), 3).toFloat();
    const maps = tf.tensor3d([[[1, 2], [3, 4]]]);
    expectNoLeak(() => {
      const y = weightMapBatch({ targets, weightMaps: maps });
      expect(y.shape).toEqual([1, 2, 2, 4]);
      expect(y.arraySync()[0][1][0]).toEqual([0, 0, 1, 3]);
      const pred = tf.fill([1, 2, 2, 3], 1 / 3);
      const l = losses.weightedCrossEntropy({ weightMap: true })(y, pred);
      expect(l.dataSync()[0]).toBeCloseTo((Math.log(3) * (1 + 2 + 3 + 4)) / 4, 5);
      tf.dispose([y, pred, l]);
    });
  });

  it('rejects inconsistent input', () => {
    const targets = tf.zeros([1, 2, 2, 1]);
    expect(() => weightMapBatch({ targets })).toThrow(/exactly one of weightMaps or instances/);
    expect(() => weightMapBatch({ targets, weightMaps: tf.zeros([1, 3, 2]) })).toThrow(/disagree/);
    expect(() => weightMapBatch({ targets: tf.fill([1, 2, 2, 1], 2), weightMaps: tf.zeros([1, 2, 2]) })).toThrow(/\[0, 1\]/);
    expect(() => weightMapBatch({ targets, instances: [new Int32Array(3)] })).toThrow(/length H·W = 4/);
  });
});
