import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { deepSupervisionLosses, losses, LossFunction } from '../src/index.js';
import { expectNoLeak } from './lossHelpers.js';

await tf.setBackend('cpu');

describe('deepSupervisionLosses', () => {
  const yt = tf.tensor4d([1, 0, 1, 1], [1, 2, 2, 1]);
  const yp = tf.tensor4d([0.9, 0.2, 0.4, 0.7], [1, 2, 2, 1]);
  const base = losses.binaryCrossentropy();
  // BCE by hand: −(ln .9 + ln .8 + ln .4 + ln .7) / 4
  const bce = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4) + Math.log(0.7)) / 4;

  it('a count gives equal weights 1/count', () => {
    const fns = deepSupervisionLosses(base, 4);
    expect(fns).toHaveLength(4);
    for (const f of fns) {
      const v = f(yt, yp);
      expect(v.shape).toEqual([]);
      expect(v.dataSync()[0]).toBeCloseTo(bce / 4, 6);
      v.dispose();
    }
    expect(fns[2].name).toBe('binaryCrossentropy_output2');
  });

  it('explicit weights are baked in; count must agree', () => {
    const fns = deepSupervisionLosses(base, [0.5, 0, 2], 3);
    const vals = fns.map((f) => {
      const v = f(yt, yp);
      const n = v.dataSync()[0];
      v.dispose();
      return n;
    });
    expect(vals[0]).toBeCloseTo(0.5 * bce, 6);
    expect(vals[1]).toBe(0);
    expect(vals[2]).toBeCloseTo(2 * bce, 6);
    expectNoLeak(() => fns[0](yt, yp).dispose());
  });

  it('validates weights, counts and the loss result', () => {
    expect(() => deepSupervisionLosses(base, [1, 2], 3)).toThrow(/2 weights given for a model with 3 outputs/);
    expect(() => deepSupervisionLosses(base, [1, NaN])).toThrow(/weights\[1\]/);
    expect(() => deepSupervisionLosses(base, [1, -1])).toThrow(/weights\[1\]/);
    expect(() => deepSupervisionLosses(base, [0, 0])).toThrow(/all be zero/);
    expect(() => deepSupervisionLosses(base, [])).toThrow(/empty/);
    expect(() => deepSupervisionLosses(base, 0)).toThrow('deepSupervisionLosses: the number of outputs must be an integer >= 1, got 0.');
    expect(() => deepSupervisionLosses(base, 2.5)).toThrow('the number of outputs must be an integer >= 1, got 2.5.');
    expect(() => deepSupervisionLosses(base, 3, 2)).toThrow(/agree/);
    expect(() => deepSupervisionLosses('dice' as never, 2)).toThrow(/loss function/);
    const notScalar = ((a: tf.Tensor, b: tf.Tensor) => tf.sub(a, b)) as unknown as LossFunction;
    const [f] = deepSupervisionLosses(notScalar, 1);
    expect(() => f(yt, yp)).toThrow(/must return a scalar/);
  });

  it('trains a two-output model with model.fit; per-output losses carry the weights', async () => {
    // Every kernel seeded: with unseeded heads the loss ratio after 6 epochs spread over 0.85..0.97
    // (30 random draws), close enough to 1 for an unlucky draw to fail.
    const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
    const input = tf.input({ shape: [8, 8, 1] });
    const h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seeded(3) }).apply(input) as tf.SymbolicTensor;
    const o1 = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'out1', kernelInitializer: seeded(4) }).apply(h) as tf.SymbolicTensor;
    const o2 = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: 'same', activation: 'sigmoid', name: 'out2', kernelInitializer: seeded(5) }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [o1, o2] });
    const lossFn = losses.combine([[losses.binaryCrossentropy(), 1], [losses.dice(), 1]]);
    model.compile({ optimizer: tf.train.adam(0.03), loss: deepSupervisionLosses(lossFn, [0.25, 0.75], 2) });
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 5);
    const y = tf.cast(tf.greater(x, 0.5), 'float32');
    const hist = await model.fit(x, [y, y], { epochs: 6, verbose: 0 });
    const l = hist.history.loss as number[];
    expect(l[l.length - 1]).toBeLessThan(l[0]);
    // model.evaluate reports the total and the per-output losses with the weights applied
    // (tfjs 4.22 returns them in an odd order for multi-output models, so match by value).
    const [p1, p2] = model.predict(x) as tf.Tensor[];
    const raw1 = lossFn(y, p1).dataSync()[0];
    const raw2 = lossFn(y, p2).dataSync()[0];
    const ev = (model.evaluate(x, [y, y]) as tf.Scalar[]).map((t) => t.dataSync()[0]);
    for (const expected of [0.25 * raw1, 0.75 * raw2, 0.25 * raw1 + 0.75 * raw2]) {
      expect(ev.some((v) => Math.abs(v - expected) < 1e-4)).toBe(true);
    }
  });
});
