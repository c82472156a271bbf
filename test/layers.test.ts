import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CenterCrop2D, convBlock, upsample2x } from '../src/index.js';
import { roundTrip } from './helpers.js';

describe('CenterCrop2D', () => {
  it('crops the centre of the skip map to the reference size', () => {
    const skip = tf.tensor4d(Array.from({ length: 36 }, (_, i) => i), [1, 6, 6, 1]);
    const ref = tf.zeros([1, 2, 4, 5]);
    const y = new CenterCrop2D().apply([skip, ref]) as tf.Tensor;
    expect(y.shape).toEqual([1, 2, 4, 1]);
    // rows 2..3, cols 1..4 of the 6x6 ramp
    expect(Array.from(y.dataSync())).toEqual([13, 14, 15, 16, 19, 20, 21, 22]);
    tf.dispose([skip, ref, y]);
  });

  it('computes symbolic shapes, including unknown sizes', () => {
    const a = tf.input({ shape: [10, 12, 3] });
    const b = tf.input({ shape: [6, 8, 7] });
    expect((new CenterCrop2D().apply([a, b]) as tf.SymbolicTensor).shape).toEqual([null, 6, 8, 3]);
    const c = tf.input({ shape: [null, null, 3] });
    const d = tf.input({ shape: [null, null, 2] });
    expect((new CenterCrop2D().apply([c, d]) as tf.SymbolicTensor).shape).toEqual([null, null, null, 3]);
    expect(() => new CenterCrop2D().apply([b, a])).toThrow(/larger/);
  });

  it('is registered, serialises and round-trips inside a model', async () => {
    expect(CenterCrop2D.className).toBe('SMTF>CenterCrop2D');
    const a = tf.input({ shape: [null, null, 2] });
    const b = tf.input({ shape: [null, null, 1] });
    const out = new CenterCrop2D({ name: 'crop' }).apply([a, b]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: out });
    const loaded = await roundTrip(model);
    expect(loaded.getLayer('crop').getClassName()).toBe('SMTF>CenterCrop2D');
    const x = tf.randomNormal([1, 9, 7, 2]);
    const r = tf.zeros([1, 5, 3, 1]);
    const y1 = model.predict([x, r]) as tf.Tensor;
    const y2 = loaded.predict([x, r]) as tf.Tensor;
    expect(y2.shape).toEqual([1, 5, 3, 2]);
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y1.dataSync()));
    tf.dispose([x, r, y1, y2]);
  });

  it('gives a clear error at run time when the skip is smaller', () => {
    const layer = new CenterCrop2D();
    const small = tf.zeros([1, 2, 2, 1]);
    const big = tf.zeros([1, 4, 4, 1]);
    expect(() => layer.call([small, big])).toThrow(/cannot crop a 2x2 map to the larger 4x4/);
    tf.dispose([small, big]);
  });
});

describe('convBlock', () => {
  it('stacks convs × (conv → BN → act → dropout) with the given options', () => {
    const x = tf.input({ shape: [12, 12, 3] });
    const y = convBlock(x, { filters: 5, convs: 3, padding: 'valid', dropout: 0.1, activation: 'tanh', name: 'b' });
    const m = tf.model({ inputs: x, outputs: y });
    expect(m.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer',
      ...Array(3).fill(['Conv2D', 'BatchNormalization', 'Activation', 'Dropout']).flat(),
    ]);
    expect(y.shape).toEqual([null, 6, 6, 5]);
    // conv params: (27*5+5) + 2*(45*5+5); BN: 3 * 4 * 5
    expect(m.countParams()).toBe(140 + 2 * 230 + 60);
  });

  it('respects batchNorm false, kernelSize, useBias and the initializer', () => {
    const x = tf.input({ shape: [8, 8, 2] });
    const y = convBlock(x, { filters: 3, kernelSize: 5, batchNorm: false, useBias: false, kernelInitializer: 'zeros', name: 'z' });
    const m = tf.model({ inputs: x, outputs: y });
    expect(m.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Conv2D', 'Activation', 'Conv2D', 'Activation']);
    expect(y.shape).toEqual([null, 8, 8, 3]);
    expect(m.countParams()).toBe(25 * 2 * 3 + 25 * 3 * 3);
    const w = m.getLayer('z_conv1').getWeights()[0]!;
    expect(w.max().dataSync()[0]).toBe(0);
  });
});

describe('upsample2x', () => {
  it('transpose: 2x2 stride-2 up-conv to the given filters', () => {
    const x = tf.input({ shape: [4, 6, 8] });
    const y = upsample2x(x, { mode: 'transpose', filters: 3, name: 'u' });
    expect(y.shape).toEqual([null, 8, 12, 3]);
    expect(tf.model({ inputs: x, outputs: y }).countParams()).toBe(2 * 2 * 8 * 3 + 3);
  });

  it('nearest repeats pixels; bilinear keeps channels and has no weights', () => {
    const x = tf.input({ shape: [2, 2, 1] });
    const near = tf.model({ inputs: x, outputs: upsample2x(x, { mode: 'nearest', filters: 99, name: 'n' }) });
    const bil = tf.model({ inputs: x, outputs: upsample2x(x, { mode: 'bilinear', filters: 99, name: 'b' }) });
    expect(near.countParams() + bil.countParams()).toBe(0);
    const v = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const y = near.predict(v) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const z = bil.predict(v) as tf.Tensor;
    expect(z.shape).toEqual([1, 4, 4, 1]);
    tf.dispose([v, y, z]);
  });
});
