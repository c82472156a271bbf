import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createModel, paramCounts, unetOutputSize } from '../src/index.js';
import { randomImage } from './helpers.js';

const tiny = { filters: [4, 8, 16] };

function layerTypes(model: tf.LayersModel): string[] {
  return model.layers.map((l) => l.getClassName());
}

afterEach(() => {
  tf.disposeVariables();
});

describe('classic UNet', () => {
  it('outputs unetOutputSize(H) for every valid size', () => {
    for (const size of [44, 60, 92]) {
      const model = createModel('unet', { ...tiny, inputShape: [size, size, 1] });
      const out = unetOutputSize(size, 2);
      expect(model.outputs[0]!.shape).toEqual([null, out, out, 2]);
      const y = model.predict(randomImage([1, size, size, 1])) as tf.Tensor;
      expect(y.shape).toEqual([1, out, out, 2]);
      y.dispose();
      model.dispose();
    }
  });

  it('handles rectangular inputs and variable-size (null) inputs', () => {
    const rect = createModel('unet', { ...tiny, inputShape: [44, 60, 3] });
    expect(rect.outputs[0]!.shape).toEqual([null, 4, 20, 2]);
    rect.dispose();
    const model = createModel('unet', { ...tiny, inputShape: [null, null, 1] });
    expect(model.outputs[0]!.shape).toEqual([null, null, null, 2]);
    for (const size of [44, 60]) {
      const x = randomImage([1, size, size, 1]);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([1, unetOutputSize(size, 2), unetOutputSize(size, 2), 2]);
      tf.dispose([x, y]);
    }
    model.dispose();
  });

  it('counts parameters as the formula says (depth 2, no BN, transpose up)', () => {
    const model = createModel('unet', { filters: [4, 8, 16], inputShape: [44, 44, 1], batchNorm: false });
    const conv = (cin: number, cout: number, k = 3) => k * k * cin * cout + cout;
    const expected =
      conv(1, 4) + conv(4, 4) + conv(4, 8) + conv(8, 8) + conv(8, 16) + conv(16, 16) + // encoder
      conv(16, 8, 2) + conv(16, 8) + conv(8, 8) + // level 1 up-conv + block
      conv(8, 4, 2) + conv(8, 4) + conv(4, 4) + // level 0
      conv(4, 2, 1); // head
    expect(paramCounts(model)).toEqual({ total: expected, trainable: expected, nonTrainable: 0 });
    model.dispose();
  });
});

describe('padded UNet', () => {
  it('keeps the input size', () => {
    const model = createModel('unet-padded', { ...tiny, inputShape: [32, 48, 3], numClasses: 3 });
    expect(model.outputs[0]!.shape).toEqual([null, 32, 48, 3]);
    const y = model.predict(randomImage([2, 32, 48, 3])) as tf.Tensor;
    expect(y.shape).toEqual([2, 32, 48, 3]);
    y.dispose();
    model.dispose();
  });

  it('filters length sets the depth', () => {
    const d2 = createModel('unet-padded', { filters: [4, 8], inputShape: [16, 16, 1] });
    const d4 = createModel('unet-padded', { filters: [2, 4, 8, 16, 32], inputShape: [32, 32, 1] });
    expect(d2.layers.filter((l) => l.getClassName() === 'MaxPooling2D')).toHaveLength(1);
    expect(d4.layers.filter((l) => l.getClassName() === 'MaxPooling2D')).toHaveLength(4);
    d2.dispose();
    d4.dispose();
  });
});

describe('shared options', () => {
  const base = { ...tiny, inputShape: [16, 16, 1] as [number, number, number] };

  it('batchNorm adds 4 params per conv channel, 2 of them non-trainable', () => {
    const off = paramCounts(createModel('unet-padded', { ...base, batchNorm: false }));
    const on = paramCounts(createModel('unet-padded', { ...base, batchNorm: true }));
    // BN channels: encoder 2x(4+8) + bottleneck 2x16 + decoder 2x(8+4) = 80
    expect(on.total - off.total).toBe(4 * 80);
    expect(on.nonTrainable).toBe(2 * 80);
  });

  it('upsampling: transpose has up-conv weights, bilinear/nearest are parameter-free resizes', () => {
    const t = createModel('unet-padded', { ...base, upsampling: 'transpose', batchNorm: false });
    const b = createModel('unet-padded', { ...base, upsampling: 'bilinear', batchNorm: false });
    const n = createModel('unet-padded', { ...base, upsampling: 'nearest', batchNorm: false });
    expect(layerTypes(t).filter((c) => c === 'Conv2DTranspose')).toHaveLength(2);
    expect(layerTypes(b).filter((c) => c === 'UpSampling2D')).toHaveLength(2);
    // bilinear keeps channels: the level-1 decoder block sees 8 (skip) + 16 (up) channels.
    expect(b.getLayer('concat1').outputShape).toEqual([null, 8, 8, 24]);
    expect(t.getLayer('concat1').outputShape).toEqual([null, 8, 8, 16]);
    expect(paramCounts(n)).toEqual(paramCounts(b));
    const bUp = (b.getLayer('up1') as unknown as { interpolation: string }).interpolation;
    expect(bUp).toBe('bilinear');
    [t, b, n].forEach((m) => m.dispose());
  });

  it('dropout inserts a Dropout after every activation', () => {
    const m = createModel('unet-padded', { ...base, dropout: 0.3 });
    const drops = m.layers.filter((l) => l.getClassName() === 'Dropout');
    expect(drops).toHaveLength(2 * 5); // 5 blocks × 2 convs
    expect((drops[0]!.getConfig() as { rate: number }).rate).toBe(0.3);
    m.dispose();
  });

  it('activation, kernelInitializer and name reach the layers', () => {
    const m = createModel('unet-padded', { ...base, activation: 'elu', kernelInitializer: 'glorotUniform', name: 'mine' });
    expect(m.name).toBe('mine');
    expect((m.getLayer('enc0_act1').getConfig() as { activation: string }).activation).toBe('elu');
    // glorotUniform serialises as VarianceScaling(fanAvg, uniform); the default heNormal is fanIn/normal.
    const init = m.getLayer('enc0_conv1').getConfig()['kernelInitializer'] as { config: { mode: string; distribution: string } };
    expect(init.config).toMatchObject({ mode: 'fanAvg', distribution: 'uniform' });
    const def = createModel('unet-padded', base).getLayer('enc0_conv1').getConfig()['kernelInitializer'] as typeof init;
    expect(def.config).toMatchObject({ mode: 'fanIn', distribution: 'normal', scale: 2 });
    m.dispose();
  });

  it('finalActivation defaults to sigmoid for 1 class and softmax for more; linear gives logits', () => {
    const act = (m: tf.LayersModel) => (m.getLayer('head').getConfig() as { activation: string }).activation;
    const one = createModel('unet-padded', { ...base, numClasses: 1 });
    const three = createModel('unet-padded', { ...base, numClasses: 3 });
    const logits = createModel('unet-padded', { ...base, numClasses: 3, finalActivation: 'linear' });
    expect(act(one)).toBe('sigmoid');
    expect(act(three)).toBe('softmax');
    expect(act(logits)).toBe('linear');
    const x = randomImage([1, 16, 16, 1]);
    const y = three.predict(x) as tf.Tensor;
    const sums = tf.sum(y, -1);
    expect(Math.max(...Array.from(sums.dataSync()).map((s) => Math.abs(s - 1)))).toBeLessThan(1e-5);
    tf.dispose([x, y, sums]);
    [one, three, logits].forEach((m) => m.dispose());
  });
});

describe('no tensor leaks', () => {
  it('building, predicting and disposing leaves no tensors', () => {
    const before = tf.memory().numTensors;
    for (const name of ['unet', 'unet-padded']) {
      const m = createModel(name, { ...tiny, inputShape: [44, 44, 1] });
      const x = randomImage([1, 44, 44, 1]);
      tf.dispose([m.predict(x) as tf.Tensor, x]);
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
