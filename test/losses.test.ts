import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { losses, LossFunction } from '../src/index.js';
import {
  expectNoLeak,
  randomBinary,
  randomOneHot,
  randomProbs,
  randomSoftmax,
  value,
} from './lossHelpers.js';

await tf.setBackend('cpu');

const t4 = (data: number[] | Float32Array, shape: [number, number, number, number]) => tf.tensor4d(data, shape);
const run = (loss: LossFunction, yTrue: tf.Tensor, yPred: tf.Tensor) => value(loss(yTrue, yPred));

describe('hand-derived values', () => {
  // Binary: t = [1, 0], p = [0.9, 0.2]
  const bt = () => t4([1, 0], [1, 1, 2, 1]);
  const bp = () => t4([0.9, 0.2], [1, 1, 2, 1]);
  // Categorical: 2 pixels, 3 classes
  const ct = () => t4([1, 0, 0, 0, 0, 1], [1, 1, 2, 3]);
  const cp = () => t4([0.7, 0.2, 0.1, 0.1, 0.3, 0.6], [1, 1, 2, 3]);
  // Overlap: one image, 4 pixels
  const ot = () => t4([1, 1, 0, 0], [1, 2, 2, 1]);
  const op = () => t4([0.8, 0.6, 0.2, 0], [1, 2, 2, 1]);

  it('binaryCrossentropy', () => {
    expect(run(losses.binaryCrossentropy(), bt(), bp())).toBeCloseTo(0.16425205, 6);
    // logits z = [2, -1], t = [1, 0]: (log(1+e^-2) + log(1+e^-1)) / 2
    expect(run(losses.binaryCrossentropy({ fromLogits: true }), bt(), t4([2, -1], [1, 1, 2, 1]))).toBeCloseTo(0.2200948, 6);
  });

  it('categoricalCrossentropy', () => {
    expect(run(losses.categoricalCrossentropy(), ct(), cp())).toBeCloseTo(0.4337503, 6);
    // logits [0, 0, 0] and [ln 1, ln 2, ln 3] on targets 0 and 2: (ln 3 + ln 2) / 2
    const z = t4([0, 0, 0, 0, Math.log(2), Math.log(3)], [1, 1, 2, 3]);
    expect(run(losses.categoricalCrossentropy({ fromLogits: true }), ct(), z)).toBeCloseTo((Math.log(3) + Math.log(2)) / 2, 5);
  });

  it('weightedCrossEntropy: class weights, balanced, weight map, categorical', () => {
    // [background, foreground] = [1, 3]: (3·(−ln .9) + 1·(−ln .8)) / 2
    expect(run(losses.weightedCrossEntropy({ classWeights: [1, 3] }), bt(), bp())).toBeCloseTo(0.2696126, 6);
    // No options = plain BCE.
    expect(run(losses.weightedCrossEntropy(), bt(), bp())).toBeCloseTo(0.16425205, 6);
    // Packed weight map [2, 0.5]: (2·0.1053605 + 0.5·0.2231436) / 2
    const packed = t4([1, 2, 0, 0.5], [1, 1, 2, 2]);
    expect(run(losses.weightedCrossEntropy({ weightMap: true }), packed, bp())).toBeCloseTo(0.1611464, 6);
    // Class weights and map multiply: w = [3·2, 1·0.5]
    expect(run(losses.weightedCrossEntropy({ weightMap: true, classWeights: [1, 3] }), packed, bp())).toBeCloseTo(
      (6 * 0.1053605 + 0.5 * 0.2231436) / 2,
      6,
    );
    // balanced: t = [1,0,0,0] -> w1 = 4/(2·1) = 2, w0 = 4/(2·3) = 2/3
    const t = t4([1, 0, 0, 0], [1, 2, 2, 1]);
    const p = t4([0.9, 0.2, 0.2, 0.2], [1, 2, 2, 1]);
    expect(run(losses.weightedCrossEntropy({ classWeights: 'balanced' }), t, p)).toBeCloseTo(0.164252, 5);
    // categorical class weights [1, 2, 3]: (1·(−ln .7) + 3·(−ln .6)) / 2
    expect(run(losses.weightedCrossEntropy({ classWeights: [1, 2, 3] }), ct(), cp())).toBeCloseTo(0.9445759, 6);
    // categorical balanced: 2 pixels, counts [1, 0, 1] -> w = [2/3·... ] = N/(3·N_c) = 2/3 for classes 0 and 2
    expect(run(losses.weightedCrossEntropy({ classWeights: 'balanced' }), ct(), cp())).toBeCloseTo((2 / 3) * 0.4337503, 6);
  });

  it('dice: smooth, squared, batchDice, ignoreBackground, classWeights', () => {
    expect(run(losses.dice(), ot(), op())).toBeCloseTo(1 - 3.8 / 4.6, 6);
    expect(run(losses.dice({ smooth: 0 }), ot(), op())).toBeCloseTo(0.2222222, 6);
    expect(run(losses.dice({ smooth: 0, squared: true }), ot(), op())).toBeCloseTo(1 - 2.8 / 3.04, 6);
    // image 1 perfect (D = 1), image 2 empty target with p = [0.5, 0] (D = 0)
    const bt2 = t4([1, 0, 0, 0], [2, 1, 2, 1]);
    const bp2 = t4([1, 0, 0.5, 0], [2, 1, 2, 1]);
    expect(run(losses.dice({ smooth: 0 }), bt2, bp2)).toBeCloseTo(0.5, 6);
    expect(run(losses.dice({ smooth: 0, batchDice: true }), bt2, bp2)).toBeCloseTo(0.2, 6);
    // softmax 2 classes: D0 = 1.2/1.9, D1 = 1.4/2.1
    const st = t4([1, 0, 0, 1], [1, 1, 2, 2]);
    const sp = t4([0.6, 0.4, 0.3, 0.7], [1, 1, 2, 2]);
    expect(run(losses.dice({ smooth: 0 }), st, sp)).toBeCloseTo(0.3508772, 6);
    expect(run(losses.dice({ smooth: 0, ignoreBackground: true }), st, sp)).toBeCloseTo(1 / 3, 6);
    expect(run(losses.dice({ smooth: 0, classWeights: [1, 3] }), st, sp)).toBeCloseTo(0.3421053, 6);
  });

  it('jaccard and tversky', () => {
    expect(run(losses.jaccard({ smooth: 0 }), ot(), op())).toBeCloseTo(1 - 1.4 / 2.2, 6);
    expect(run(losses.jaccard(), ot(), op())).toBeCloseTo(1 - 2.4 / 3.2, 6);
    expect(run(losses.tversky({ smooth: 0, alpha: 0.7, beta: 0.3 }), ot(), op())).toBeCloseTo(1 - 1.4 / 1.72, 6);
    // α = β = 0.5, s = 1: (1.4 + 1) / (0.5·1.6 + 0.5·2 + 1); with s = 0 it equals soft Dice
    expect(run(losses.tversky(), ot(), op())).toBeCloseTo(1 - 2.4 / 2.8, 6);
    expect(run(losses.tversky({ smooth: 0 }), ot(), op())).toBeCloseTo(0.2222222, 6);
  });

  it('focal', () => {
    expect(run(losses.focal(), bt(), bp())).toBeCloseTo(0.003478855, 7);
    expect(run(losses.focal(), ct(), cp())).toBeCloseTo(0.014229105, 7);
    // gamma 0, alpha 0.5 = BCE / 2
    expect(run(losses.focal({ gamma: 0, alpha: 0.5 }), bt(), bp())).toBeCloseTo(0.16425205 / 2, 6);
    // per-class alpha [1, 1, 0]: only pixel 1 (class 0) counts: 0.09·0.3566749 / 2
    expect(run(losses.focal({ alpha: [1, 1, 0] }), ct(), cp())).toBeCloseTo((0.09 * 0.3566749) / 2, 7);
    // logits agree with probabilities
    const z = t4([Math.log(0.9 / 0.1), Math.log(0.2 / 0.8)], [1, 1, 2, 1]);
    expect(run(losses.focal({ fromLogits: true }), bt(), z)).toBeCloseTo(0.003478855, 6);
  });

  it('combine sums weighted losses', () => {
    const l = losses.combine([
      [losses.binaryCrossentropy(), 0.5],
      [losses.dice({ smooth: 0 }), 2],
    ]);
    expect(run(l, ot(), op())).toBeCloseTo(
      0.5 * ((-Math.log(0.8) - Math.log(0.6) - Math.log(0.8) - Math.log(1 - 1e-7)) / 4) + 2 * 0.2222222,
      5,
    );
    expect(l.name).toBe('binaryCrossentropy_plus_diceLoss');
  });
});

// ---- references written with plain loops over Float32Array data ----
const EPS = 1e-7;
const clip = (p: number) => Math.min(Math.max(p, EPS), 1 - EPS);

function bceRef(t: Float32Array, p: Float32Array, w?: (i: number) => number): number {
  let s = 0;
  for (let i = 0; i < t.length; i++) {
    const q = clip(p[i]);
    s += (w ? w(i) : 1) * -(t[i] * Math.log(q) + (1 - t[i]) * Math.log(1 - q));
  }
  return s / t.length;
}

function cceRef(t: Float32Array, p: Float32Array, c: number, cw?: number[]): number {
  const n = t.length / c;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      if (t[i * c + k] === 1) s -= (cw ? cw[k] : 1) * Math.log(clip(p[i * c + k]));
    }
  }
  return s / n;
}

/** Generic per-(image, class) overlap reference. */
function overlapRef(
  t: Float32Array,
  p: Float32Array,
  [b, h, w, c]: number[],
  score: (i: number, sp: number, st: number, sp2: number, st2: number) => number,
): number {
  let total = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let k = 0; k < c; k++) {
      let i = 0, sp = 0, st = 0, sp2 = 0, st2 = 0;
      for (let px = 0; px < h * w; px++) {
        const idx = (bi * h * w + px) * c + k;
        i += p[idx] * t[idx];
        sp += p[idx];
        st += t[idx];
        sp2 += p[idx] * p[idx];
        st2 += t[idx] * t[idx];
      }
      total += score(i, sp, st, sp2, st2);
    }
  }
  return total / (b * c);
}

describe('random tensors vs plain-loop references', () => {
  const shapeB: [number, number, number, number] = [2, 5, 6, 2];
  const tB = randomBinary(shapeB, 1);
  const pB = randomProbs(shapeB, 2);
  const shapeC: [number, number, number, number] = [2, 4, 5, 3];
  const tC = randomOneHot(40, 3, 3);
  const pC = randomSoftmax(40, 3, 4);
  const mk = (a: Float32Array, s: [number, number, number, number]) => tf.tensor4d(a, s);

  it('cross-entropies', () => {
    expect(run(losses.binaryCrossentropy(), mk(tB, shapeB), mk(pB, shapeB))).toBeCloseTo(bceRef(tB, pB), 5);
    // logits: compare against the probability form of the same values
    const logits = Float32Array.from(pB, (p) => Math.log(p / (1 - p)));
    expect(run(losses.binaryCrossentropy({ fromLogits: true }), mk(tB, shapeB), mk(logits, shapeB))).toBeCloseTo(bceRef(tB, pB), 4);
    expect(run(losses.categoricalCrossentropy(), mk(tC, shapeC), mk(pC, shapeC))).toBeCloseTo(cceRef(tC, pC, 3), 5);
    const logC = Float32Array.from(pC, (p) => Math.log(p) + 1.5);
    expect(run(losses.categoricalCrossentropy({ fromLogits: true }), mk(tC, shapeC), mk(logC, shapeC))).toBeCloseTo(cceRef(tC, pC, 3), 4);
  });

  it('weighted cross-entropy with a packed random map', () => {
    const wmap = randomProbs([2, 5, 6, 1], 9).map((v) => 5 * v);
    const packed = new Float32Array(2 * 30 * 3);
    for (let px = 0; px < 60; px++) {
      packed[px * 3] = tB[px * 2];
      packed[px * 3 + 1] = tB[px * 2 + 1];
      packed[px * 3 + 2] = wmap[px];
    }
    const cw = [0.5, 2];
    const ref = bceRef(tB, pB, (i) => wmap[Math.floor(i / 2)] * cw[tB[i]]);
    const loss = losses.weightedCrossEntropy({ weightMap: true, classWeights: cw, mode: 'binary' });
    expect(run(loss, tf.tensor4d(packed, [2, 5, 6, 3]), mk(pB, shapeB))).toBeCloseTo(ref, 5);
    // categorical with class weights
    const ccw = [1, 0.3, 4];
    expect(run(losses.weightedCrossEntropy({ classWeights: ccw }), mk(tC, shapeC), mk(pC, shapeC))).toBeCloseTo(cceRef(tC, pC, 3, ccw), 5);
  });

  it('dice / jaccard / tversky / focal', () => {
    const s = 1;
    const diceRef = overlapRef(tB, pB, shapeB, (i, sp, st) => (2 * i + s) / (sp + st + s));
    expect(run(losses.dice(), mk(tB, shapeB), mk(pB, shapeB))).toBeCloseTo(1 - diceRef, 5);
    const sqRef = overlapRef(tB, pB, shapeB, (i, _a, _b, sp2, st2) => (2 * i + s) / (sp2 + st2 + s));
    expect(run(losses.dice({ squared: true }), mk(tB, shapeB), mk(pB, shapeB))).toBeCloseTo(1 - sqRef, 5);
    const jRef = overlapRef(tC, pC, shapeC, (i, sp, st) => (i + s) / (sp + st - i + s));
    expect(run(losses.jaccard(), mk(tC, shapeC), mk(pC, shapeC))).toBeCloseTo(1 - jRef, 5);
    const tvRef = overlapRef(tB, pB, shapeB, (i, sp, st) => (i + s) / (i + 0.3 * (sp - i) + 0.7 * (st - i) + s));
    expect(run(losses.tversky({ alpha: 0.3, beta: 0.7, mode: 'binary' }), mk(tB, shapeB), mk(pB, shapeB))).toBeCloseTo(1 - tvRef, 5);

    let f = 0;
    for (let i = 0; i < tB.length; i++) {
      const p = clip(pB[i]);
      f += tB[i] === 1 ? -0.25 * (1 - p) ** 2 * Math.log(p) : -0.75 * p ** 2 * Math.log(1 - p);
    }
    expect(run(losses.focal({ mode: 'binary' }), mk(tB, shapeB), mk(pB, shapeB))).toBeCloseTo(f / tB.length, 6);
  });
});

describe('quality bar', () => {
  const all: Array<[string, () => LossFunction, 'binary' | 'categorical']> = [];
  for (const fromLogits of [false, true]) {
    const o = { fromLogits };
    all.push(
      [`bce ${fromLogits}`, () => losses.binaryCrossentropy(o), 'binary'],
      [`cce ${fromLogits}`, () => losses.categoricalCrossentropy(o), 'categorical'],
      [`wce ${fromLogits}`, () => losses.weightedCrossEntropy({ ...o, classWeights: 'balanced' }), 'binary'],
      [`wce cat ${fromLogits}`, () => losses.weightedCrossEntropy({ ...o, classWeights: 'balanced' }), 'categorical'],
      [`dice ${fromLogits}`, () => losses.dice({ ...o, smooth: 0 }), 'binary'],
      [`dice sq cat ${fromLogits}`, () => losses.dice({ ...o, squared: true, smooth: 0, ignoreBackground: true }), 'categorical'],
      [`jaccard ${fromLogits}`, () => losses.jaccard({ ...o, smooth: 0 }), 'binary'],
      [`tversky ${fromLogits}`, () => losses.tversky({ ...o, smooth: 0 }), 'categorical'],
      [`focal ${fromLogits}`, () => losses.focal({ ...o, gamma: 0.5 }), 'binary'],
      [`focal cat ${fromLogits}`, () => losses.focal({ ...o, gamma: 0.5 }), 'categorical'],
    );
  }

  /** Extreme cases: [yTrue, yPred(probabilities or logits)]. */
  function extremes(mode: 'binary' | 'categorical', fromLogits: boolean): Array<[tf.Tensor, tf.Tensor]> {
    const c = mode === 'binary' ? 1 : 2;
    const shape: [number, number, number, number] = [1, 2, 2, c];
    const hi = fromLogits ? 1e4 : 1;
    const lo = fromLogits ? -1e4 : 0;
    const zeros = tf.zeros(shape);
    const ones = tf.ones(shape);
    const mixed = tf.tensor4d(
      mode === 'binary' ? [1, 0, 1, 0] : [1, 0, 0, 1, 1, 0, 0, 1],
      shape,
    );
    const wrong = tf.tensor4d(
      mode === 'binary' ? [lo, hi, lo, hi] : [lo, hi, hi, lo, lo, hi, hi, lo],
      shape,
    );
    const right = tf.tensor4d(
      mode === 'binary' ? [hi, lo, hi, lo] : [hi, lo, lo, hi, hi, lo, lo, hi],
      shape,
    );
    const empty = mode === 'binary' ? zeros : tf.tensor4d([1, 0, 1, 0, 1, 0, 1, 0], shape);
    return [
      [mixed, wrong],
      [mixed, right],
      [zeros, tf.fill(shape, lo)], // empty mask predicted empty
      [empty, tf.fill(shape, hi)],
      [ones, tf.fill(shape, hi)], // all-ones mask
      [ones, tf.fill(shape, lo)],
    ];
  }

  it.each(all)('%s: finite values and gradients at p ∈ {0,1} / logits ±1e4, empty and full masks', (_n, make, mode) => {
    const loss = make();
    const fromLogits = _n.endsWith('true');
    for (const [yt, yp] of extremes(mode, fromLogits)) {
      const v = run(loss, yt, yp);
      expect(Number.isFinite(v)).toBe(true);
      const g = tf.grad((x: tf.Tensor) => loss(yt, x))(yp);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      g.dispose();
    }
  });

  it.each(all)('%s: no tensor leaks', (_n, make, mode) => {
    const loss = make();
    const c = mode === 'binary' ? 1 : 3;
    const yt = tf.tensor4d(mode === 'binary' ? randomBinary([1, 3, 3, 1], 5) : randomOneHot(9, 3, 5), [1, 3, 3, c]);
    const yp = tf.tensor4d(mode === 'binary' ? randomProbs([1, 3, 3, 1], 6) : randomSoftmax(9, 3, 6), [1, 3, 3, c]);
    expectNoLeak(() => {
      loss(yt, yp).dispose();
    });
    expectNoLeak(() => {
      tf.tidy(() => {
        loss(yt, yp);
      });
    });
  });

  it('packed weight-map loss does not leak', () => {
    const loss = losses.weightedCrossEntropy({ weightMap: true, classWeights: 'balanced' });
    const yt = tf.tensor4d([1, 2, 0, 3], [1, 1, 2, 2]);
    const yp = tf.tensor4d([0.3, 0.6], [1, 1, 2, 1]);
    expectNoLeak(() => loss(yt, yp).dispose());
  });

  it('every loss returns a scalar', () => {
    const yt = tf.tensor4d(randomBinary([2, 3, 3, 1], 7), [2, 3, 3, 1]);
    const yp = tf.tensor4d(randomProbs([2, 3, 3, 1], 8), [2, 3, 3, 1]);
    for (const [, make, mode] of all) {
      if (mode !== 'binary') continue;
      const v = make()(yt, yp);
      expect(v.shape).toEqual([]);
      v.dispose();
    }
  });

  it('shape mismatch names both shapes', () => {
    const yt = tf.zeros([1, 4, 4, 1]);
    const yp = tf.zeros([1, 4, 5, 1]);
    for (const [, make] of all) {
      expect(() => make()(yt, yp)).toThrow(/yTrue shape \[1,4,4,1\] does not match yPred shape \[1,4,5,1\]/);
    }
    // weightMap: yTrue must have exactly one extra channel
    expect(() => losses.weightedCrossEntropy({ weightMap: true })(yt, tf.zeros([1, 4, 4, 1]))).toThrow(
      /yTrue shape \[1,4,4,1\] does not match yPred shape \[1,4,4,1\].*weightMap: true.*\[1,4,4,2\]/,
    );
  });

  it('dtype mismatch is a clear error', () => {
    const yt = tf.zeros([1, 2, 2, 1], 'int32');
    const yp = tf.zeros([1, 2, 2, 1]);
    expect(() => losses.dice()(yt, yp)).toThrow(/yTrue \(dtype int32.*must both be float32/);
  });

  it('bad options are rejected with the option named', () => {
    expect(() => losses.dice({ smooth: -1 })).toThrow(/smooth/);
    expect(() => losses.tversky({ alpha: NaN })).toThrow(/alpha/);
    expect(() => losses.focal({ alpha: 1.5 })).toThrow(/alpha/);
    expect(() => losses.focal({ gamma: -1 })).toThrow(/gamma/);
    expect(() => losses.weightedCrossEntropy({ classWeights: [1, -2] })).toThrow(/classWeights\[1\]/);
    expect(() => losses.weightedCrossEntropy({ classWeights: [0, 0] })).toThrow(/all be zero/);
    expect(() => losses.dice({ mode: 'softmax' as never })).toThrow(/mode/);
    // wrong class-weight count, caught at call time
    const yt = tf.zeros([1, 2, 2, 3]);
    expect(() => losses.weightedCrossEntropy({ classWeights: [1, 2] })(yt, yt)).toThrow(/2 entries.*needs 3/);
    expect(() => losses.dice({ classWeights: [1, 2] })(yt, yt)).toThrow(/2 entries.*needs 3/);
    // ignoreBackground on a sigmoid output
    const b = tf.zeros([1, 2, 2, 1]);
    expect(() => losses.dice({ ignoreBackground: true })(b, b)).toThrow(/ignoreBackground/);
    expect(() => losses.combine([])).toThrow(/non-empty/);
    expect(() => losses.combine([[losses.dice(), -1]])).toThrow(/weight/);
  });

  it('factories give the functions readable names', () => {
    expect(losses.dice().name).toBe('diceLoss');
    expect(losses.binaryCrossentropy().name).toBe('binaryCrossentropy');
    expect(losses.weightedCrossEntropy().name).toBe('weightedCrossEntropy');
  });
});

describe('analytic gradients match finite differences', () => {
  it.each([
    ['dice smooth 0', () => losses.dice({ smooth: 0 })],
    ['tversky', () => losses.tversky({ alpha: 0.7, beta: 0.3 })],
    ['focal logits', () => losses.focal({ fromLogits: true, mode: 'binary' })],
    ['wce', () => losses.weightedCrossEntropy({ classWeights: [1, 3] })],
  ] as Array<[string, () => LossFunction]>)('%s', (_n, make) => {
    const loss = make();
    const t = [1, 0, 1, 0, 0, 1];
    const p = [0.7, 0.4, 0.2, 0.1, 0.6, 0.55];
    const yt = tf.tensor4d(t, [1, 2, 3, 1]);
    const g = tf.grad((x: tf.Tensor) => loss(yt, x))(tf.tensor4d(p, [1, 2, 3, 1])).dataSync();
    const h = 1e-3;
    for (let i = 0; i < p.length; i++) {
      const up = p.slice();
      const dn = p.slice();
      up[i] += h;
      dn[i] -= h;
      const fd = (run(loss, yt, tf.tensor4d(up, [1, 2, 3, 1])) - run(loss, yt, tf.tensor4d(dn, [1, 2, 3, 1]))) / (2 * h);
      expect(g[i]).toBeCloseTo(fd, 2);
    }
  });
});
