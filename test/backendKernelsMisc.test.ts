import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/index.js';
import { tileInto } from '../src/backend/kernels/tile.js';
import { compare, seeded } from './backendCompare.js';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

describe('wasm Tile', () => {
  const cases: [number[], number[]][] = [
    [[1, 1, 1, 5], [2, 3, 4, 1]], // batch-norm gradient pattern
    [[3], [4]],
    [[2, 3], [1, 1]],
    [[2, 3], [3, 2]],
    [[2, 1, 3], [1, 5, 2]],
    [[3, 2, 2, 1, 2], [2, 1, 3, 2, 1]],
    [[2, 2], [0, 3]],
  ];
  for (const [shape, reps] of cases) {
    it(`[${shape}] × [${reps}] matches cpu (float32 and int32)`, async () => {
      await compare(() => [tf.tile(seeded(shape, 1), reps), tf.tile(tf.cast(tf.mul(seeded(shape, 2), 100), 'int32'), reps)]);
    });
  }
  it('tileInto agrees with a by-index reference', () => {
    const shape = [2, 3, 2];
    const reps = [2, 1, 3];
    const x = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const out = new Float32Array(2 * 2 * 3 * 2 * 3);
    tileInto(x, shape, reps, out);
    const os = [4, 3, 6];
    for (let a = 0; a < os[0]; a++) for (let b = 0; b < os[1]; b++) for (let c = 0; c < os[2]; c++) {
      const src = ((a % 2) * 3 + (b % 3)) * 2 + (c % 2);
      expect(out[(a * os[1] + b) * os[2] + c]).toBe(x[src]);
    }
  });
  it('tiles bool tensors', async () => {
    await tf.setBackend('wasm');
    const t = tf.tile(tf.tensor1d([true, false], 'bool'), [3]);
    expect(Array.from(t.dataSync())).toEqual([1, 0, 1, 0, 1, 0]);
    t.dispose();
  });
});

describe('wasm SplitV and Concat', () => {
  for (const axis of [0, 1, 2, 3, -1]) {
    it(`split and concat along axis ${axis} match cpu`, async () => {
      await compare(() => {
        const x = seeded([3, 4, 5, 6], 3);
        const ax = axis < 0 ? 4 + axis : axis;
        const n = x.shape[ax];
        const parts = tf.split(x, [1, n - 3, 2], axis);
        const equal = tf.split(x, n % 2 === 0 ? 2 : 1, axis);
        const joined = tf.concat([parts[2], x, parts[0]], axis);
        return [...parts, ...equal, joined];
      });
    });
  }
  it('concat of int32 and of a single tensor match cpu; gradients of concat match', async () => {
    await compare(() => {
      const a = tf.cast(tf.mul(seeded([2, 3], 4), 10), 'int32');
      const b = tf.cast(tf.mul(seeded([2, 5], 5), 10), 'int32');
      const x = seeded([2, 3, 3, 2], 6);
      const y = seeded([2, 3, 3, 5], 7);
      const [gx, gy] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.concat([p, q], 3))([x, y], seeded([2, 3, 3, 7], 8));
      return [tf.cast(tf.concat([a, b], 1), 'float32'), tf.concat([x]), gx, gy];
    });
  });
});

describe('wasm Sum, Mean and Identity', () => {
  const axesCases: (number | number[] | undefined)[] = [undefined, 0, [0, 1], [0, 1, 2], [0, 1, 2, 3], 3, [1, 2], -1];
  for (const axes of axesCases) {
    for (const keepDims of [false, true]) {
      it(`sum/mean over ${JSON.stringify(axes)} keepDims=${keepDims} match cpu`, async () => {
        await compare(() => {
          const x = seeded([3, 5, 7, 9], 9);
          return [tf.sum(x, axes, keepDims), tf.mean(x, axes, keepDims)];
        });
      });
    }
  }
  it('row counts with and without a pooling window (prime 1031, 17, 2×512) match cpu', async () => {
    await compare(() => {
      const xs = [seeded([1031, 3], 20), seeded([17, 4], 21), seeded([2, 512, 5], 22)];
      return xs.flatMap((x) => [tf.sum(x, 0), tf.mean(x, 0), tf.sum(x)]);
    });
  });
  it('sum of an int32 tensor stays int32 and exact', async () => {
    await tf.setBackend('wasm');
    const s = tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0);
    expect(s.dtype).toBe('int32');
    expect(Array.from(s.dataSync())).toEqual([9, 12]);
    s.dispose();
  });
  it('large column sums keep float32-level accuracy against a float64 reference', async () => {
    await tf.setBackend('wasm');
    const rows = 5000;
    const cols = 3;
    const v = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) + 0.5);
    const s = tf.sum(tf.tensor2d(v, [rows, cols]), 0);
    const got = s.dataSync();
    s.dispose();
    for (let c = 0; c < cols; c++) {
      let ref = 0;
      for (let r = 0; r < rows; r++) ref += v[r * cols + c];
      expect(Math.abs(got[c] - ref) / Math.abs(ref)).toBeLessThan(1e-6);
    }
  });
  it('identity shares data and survives disposing its input', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const before = tf.engine().backend.numDataIds();
    const y = tf.engine().runKernel('Identity', { x }) as tf.Tensor;
    expect(tf.engine().backend.numDataIds()).toBe(before); // no copy
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(before - 1);
  });
});

describe('wasm Slice', () => {
  const cases: [number[], number[], number[]][] = [
    [[2, 9, 8, 5], [0, 2, 1, 0], [2, 5, 6, 5]], // centre crop of an NHWC map
    [[2, 9, 8, 5], [1, 0, 0, 2], [1, 9, 8, 2]], // channel slice
    [[3, 4, 5, 6], [0, 0, 0, 0], [3, 4, 5, 6]], // everything
    [[3, 4, 5, 6], [2, 1, 0, 0], [1, 2, 5, 6]], // contiguous block
    [[7], [2], [4]],
    [[4, 6], [1, 2], [2, -1]], // size -1 = to the end
    [[2, 3, 2, 2, 3], [1, 0, 1, 0, 1], [1, 3, 1, 2, 2]],
    [[2, 3], [0, 1], [2, 0]], // empty
  ];
  for (const [shape, begin, size] of cases) {
    it(`[${shape}] from [${begin}] size [${size}] matches cpu (float32 and int32), with gradients`, async () => {
      await compare(() => {
        const x = seeded(shape, 30);
        const xi = tf.cast(tf.mul(x, 100), 'int32');
        const [dx] = tf.grads((a: tf.Tensor) => tf.mul(tf.slice(a, begin, size), 2))([x]);
        return [tf.slice(x, begin, size), tf.cast(tf.slice(xi, begin, size), 'float32'), dx!];
      });
    });
  }
});

describe('wasm MaxPoolGrad', () => {
  const cases: [number[], number, number, 'same' | 'valid'][] = [
    [[2, 8, 8, 3], 2, 2, 'valid'],
    [[2, 9, 7, 4], 2, 2, 'same'], // odd sizes: partial windows
    [[1, 10, 11, 2], 4, 4, 'same'],
    [[1, 16, 16, 3], 8, 8, 'same'],
    [[2, 9, 9, 2], 3, 3, 'valid'],
    [[2, 9, 9, 3], 3, 2, 'same'], // overlapping windows
  ];
  for (const [shape, k, s, pad] of cases) {
    it(`[${shape}] pool ${k} stride ${s} ${pad}: gradients match cpu, also with ties`, async () => {
      await compare(() => {
        const x = seeded(shape, 31);
        const ties = tf.round(tf.mul(seeded(shape, 32), 1.5)); // values in {-2..2}: many ties
        const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, k, s, pad);
        const g1 = tf.grads(f)([x], seeded(f(x).shape, 33))[0]!;
        const g2 = tf.grads(f)([ties], seeded(f(ties).shape, 34))[0]!;
        return [g1, g2];
      });
    });
  }
});

describe('wasm FusedBatchNorm and the batch-norm training gradients', () => {
  // (tfjs's tape cannot differentiate batchNorm without scale or offset: those are forward only.)
  for (const [shape, meanShift] of [[[2, 5, 6, 4], 0], [[3, 4, 3, 7], 3], [[1, 6, 5, 3], -2]] as [number[], number][]) {
    const ch = shape[3]!;
    it(`[${shape}], mean shift ${meanShift}: training-mode batch norm (moments, then batchNorm), forward and all gradients`, async () => {
      await compare(() => {
        const x = tf.add(seeded(shape, 40), meanShift);
        const g = tf.add(seeded([ch], 41), 1.5);
        const b = seeded([ch], 42);
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
          const { mean, variance } = tf.moments(xx, [0, 1, 2]);
          return tf.batchNorm(xx as tf.Tensor4D, mean, variance, bb, gg, 1e-3);
        };
        return [f(x, g, b), ...tf.grads(f)([x, g, b], seeded(shape, 43))];
      });
    });
    it(`[${shape}], mean shift ${meanShift}: batch norm with fixed statistics, forward (also without scale / offset) and gradients`, async () => {
      await compare(() => {
        const x = tf.add(seeded(shape, 44), meanShift);
        const mean = tf.add(seeded([ch], 45), meanShift);
        const variance = tf.add(tf.abs(seeded([ch], 46)), 0.2);
        const g = seeded([ch], 47);
        const b = seeded([ch], 48);
        const f = (xx: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.batchNorm(xx as tf.Tensor4D, mm, vv, bb, gg, 1e-3);
        const x4 = x as tf.Tensor4D;
        return [
          f(x, mean, variance, g, b),
          tf.batchNorm(x4, mean, variance, undefined, g, 1e-3),
          tf.batchNorm(x4, mean, variance, b, undefined, 1e-3),
          tf.batchNorm(x4, mean, variance),
          ...tf.grads(f)([x, mean, variance, g, b], seeded(shape, 49)),
        ];
      });
    });
  }
  it('a channel whose mean is far from zero relative to its spread keeps full accuracy (stock path)', async () => {
    await compare(() => {
      const x = tf.add(tf.mul(seeded([2, 4, 4, 2], 50), 0.01), tf.tensor1d([1000, 0]));
      const mean = tf.tensor1d([1000, 0.01]);
      const variance = tf.tensor1d([1e-4, 1e-4]);
      return [tf.batchNorm(x as tf.Tensor4D, mean, variance, undefined, undefined, 1e-5)];
    });
  });
  it('rank-2 and rank-3 batch norm (stock kernel) still match cpu', async () => {
    await compare(() => {
      const x2 = seeded([6, 3], 51);
      const x3 = seeded([2, 5, 3], 52);
      const m = seeded([3], 53);
      const v = tf.add(tf.abs(seeded([3], 54)), 0.5);
      return [tf.batchNorm(x2 as tf.Tensor2D, m, v), tf.batchNorm(x3 as tf.Tensor3D, m, v)];
    });
  });
  it('mean and sum gradients over any axes match cpu', async () => {
    await compare(() => {
      const x = seeded([3, 4, 5, 2], 55);
      const out: tf.Tensor[] = [];
      for (const axes of [[0, 1, 2], [1], [0, 3], [0, 1, 2, 3]]) {
        out.push(...tf.grads((a: tf.Tensor) => tf.mean(a, axes))([x], tf.ones(tf.mean(x, axes).shape)));
        out.push(...tf.grads((a: tf.Tensor) => tf.sum(a, axes, true))([x], seeded(tf.sum(x, axes, true).shape, 56)));
      }
      return out;
    });
  });
  it('a same-dtype cast shares data; other casts convert', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1.5, -2.25, 3]);
    const before = tf.engine().backend.numDataIds();
    const same = tf.cast(x, 'float32');
    expect(tf.engine().backend.numDataIds()).toBe(before); // no copy
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.25, 3]);
    const asInt = tf.cast(same, 'int32');
    expect(asInt.dtype).toBe('int32');
    expect(Array.from(asInt.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([same, asInt]);
  });
});
