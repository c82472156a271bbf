import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { metrics } from '../src/index.js';
import { expectNoLeak, randomBinary, randomProbs, value } from './lossHelpers.js';

await tf.setBackend('cpu');

describe('metrics: hand-derived', () => {
  // binary: truth [1,1,0,0], pred p > 0.5 -> [1,0,1,0]: |P∩T| = 1, |P| = |T| = 2
  const bt = () => tf.tensor4d([1, 1, 0, 0], [1, 2, 2, 1]);
  const bp = () => tf.tensor4d([0.8, 0.4, 0.6, 0.1], [1, 2, 2, 1]);
  // categorical: labels [0,1,2,2], predicted argmax [0,2,2,1]; class 3 absent from both
  const onehot = (labels: number[], c: number) => tf.oneHot(tf.tensor1d(labels, 'int32'), c).toFloat().reshape([1, 2, 2, c]);
  const ct = () => onehot([0, 1, 2, 2], 4);
  const cp = () => tf.tensor4d([0.7, 0.1, 0.1, 0.1, 0.1, 0.2, 0.6, 0.1, 0.1, 0.2, 0.6, 0.1, 0.2, 0.5, 0.2, 0.1], [1, 2, 2, 4]);

  it('binary dice / iou / pixel accuracy', () => {
    expect(value(metrics.dice()(bt(), bp()))).toBeCloseTo(0.5, 6);
    expect(value(metrics.iou()(bt(), bp()))).toBeCloseTo(1 / 3, 6);
    expect(value(metrics.pixelAccuracy()(bt(), bp()))).toBeCloseTo(0.5, 6);
    // threshold 0.3 -> pred [1,1,1,0]: dice 4/5, iou 2/3
    expect(value(metrics.dice({ threshold: 0.3 })(bt(), bp()))).toBeCloseTo(0.8, 6);
    expect(value(metrics.iou({ threshold: 0.3 })(bt(), bp()))).toBeCloseTo(2 / 3, 6);
    // logits: sigmoid applied first
    const z = tf.tensor4d([2, -1, 1, -3], [1, 2, 2, 1]);
    expect(value(metrics.dice({ fromLogits: true })(bt(), z))).toBeCloseTo(0.5, 6);
  });

  it('categorical per class, mean, classIndex, ignoreBackground, empty-vs-empty = 1', () => {
    const d = metrics.dice();
    expect(d.perClassValues(ct(), cp()).map((v) => +v.toFixed(6))).toEqual([1, 0, 0.5, 1]);
    expect(metrics.iou().perClassValues(ct(), cp()).map((v) => +v.toFixed(6))).toEqual([1, 0, 0.333333, 1]);
    expect(value(d(ct(), cp()))).toBeCloseTo(2.5 / 4, 6);
    expect(value(metrics.iou()(ct(), cp()))).toBeCloseTo((1 + 0 + 1 / 3 + 1) / 4, 6);
    expect(value(metrics.dice({ ignoreBackground: true })(ct(), cp()))).toBeCloseTo(1.5 / 3, 6);
    expect(value(metrics.dice({ classIndex: 2 })(ct(), cp()))).toBeCloseTo(0.5, 6);
    expect(value(metrics.pixelAccuracy()(ct(), cp()))).toBeCloseTo(0.5, 6);
    const pc = d.perClass(ct(), cp());
    expect(pc.shape).toEqual([4]);
    pc.dispose();
    // empty prediction vs empty target (binary)
    const z = tf.zeros([1, 2, 2, 1]);
    expect(value(metrics.dice()(z, z))).toBe(1);
    expect(value(metrics.iou()(z, z))).toBe(1);
  });

  it('packed weight channel is dropped with weightMap: true', () => {
    const packed = tf.tensor4d([1, 5, 1, 5, 0, 5, 0, 5], [1, 2, 2, 2]);
    expect(value(metrics.dice({ weightMap: true })(packed, bp()))).toBeCloseTo(0.5, 6);
  });

  it('names for fit logs', () => {
    expect(metrics.dice().name).toBe('dice');
    expect(metrics.iou().name).toBe('iou');
    expect(metrics.pixelAccuracy().name).toBe('pixel_accuracy');
    expect(metrics.dice({ classIndex: 1 }).name).toBe('dice_class1');
    expect(metrics.iou({ name: 'my_iou' }).name).toBe('my_iou');
  });
});

describe('metrics: random vs plain-loop reference', () => {
  it('binary dice / iou per channel over the batch', () => {
    const shape = [2, 4, 5, 2];
    const t = randomBinary(shape, 11);
    const p = randomProbs(shape, 12);
    const dice: number[] = [];
    const iou: number[] = [];
    for (let c = 0; c < 2; c++) {
      let i = 0, a = 0, b = 0;
      for (let k = c; k < t.length; k += 2) {
        const pp = p[k] > 0.5 ? 1 : 0;
        i += pp * t[k];
        a += pp;
        b += t[k];
      }
      dice.push((2 * i) / (a + b));
      iou.push(i / (a + b - i));
    }
    const yt = tf.tensor4d(t, shape as [number, number, number, number]);
    const yp = tf.tensor4d(p, shape as [number, number, number, number]);
    const d = metrics.dice({ mode: 'binary' }).perClassValues(yt, yp);
    const j = metrics.iou({ mode: 'binary' }).perClassValues(yt, yp);
    d.forEach((v, k) => expect(v).toBeCloseTo(dice[k], 6));
    j.forEach((v, k) => expect(v).toBeCloseTo(iou[k], 6));
    let acc = 0;
    for (let k = 0; k < t.length; k++) acc += (p[k] > 0.5 ? 1 : 0) === t[k] ? 1 : 0;
    expect(value(metrics.pixelAccuracy({ mode: 'binary' })(yt, yp))).toBeCloseTo(acc / t.length, 6);
  });
});

describe('metrics: quality bar', () => {
  it('no leaks, scalar results, clear errors', () => {
    const yt = tf.tensor4d(randomBinary([1, 3, 3, 3], 1), [1, 3, 3, 3]);
    const yp = tf.tensor4d(randomProbs([1, 3, 3, 3], 2), [1, 3, 3, 3]);
    for (const m of [metrics.dice(), metrics.iou(), metrics.pixelAccuracy(), metrics.dice({ classIndex: 1 })]) {
      expectNoLeak(() => {
        const v = m(yt, yp);
        expect(v.shape).toEqual([]);
        v.dispose();
      });
    }
    expectNoLeak(() => metrics.iou().perClassValues(yt, yp));
    expect(() => metrics.dice()(yt, tf.zeros([1, 3, 3, 2]))).toThrow(/yTrue shape \[1,3,3,3\] does not match yPred shape \[1,3,3,2\]/);
    expect(() => metrics.dice({ classIndex: 5 })(yt, yp)).toThrow(/classIndex 5 is out of range/);
    expect(() => metrics.dice({ threshold: 2 })).toThrow(/threshold/);
    const b = tf.zeros([1, 2, 2, 1]);
    expect(() => metrics.iou({ ignoreBackground: true })(b, b)).toThrow(/ignoreBackground/);
  });

  it('works in model.compile / fit and logs under its name', async () => {
    const model = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 1, kernelSize: 3, padding: 'same', activation: 'sigmoid' })],
    });
    model.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy', metrics: [metrics.dice(), metrics.iou(), metrics.pixelAccuracy()] });
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 1);
    const y = tf.cast(tf.greater(x, 0.5), 'float32');
    const h = await model.fit(x, y, { epochs: 1, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['dice', 'iou', 'loss', 'pixel_accuracy']);
    for (const k of ['dice', 'iou', 'pixel_accuracy']) {
      const v = h.history[k][0] as number;
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });
});
