import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, listModels, losses, modelInfo, syntheticCells } from '../src/index.js';

beforeAll(async () => {
  // wasm: a training step of the tiny model below takes milliseconds there (seconds on cpu).
  expect(await initBackend('wasm')).toBe('wasm');
});

function momenta(model: tf.LayersModel): number[] {
  return model.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => Number(l.getConfig().momentum));
}

const TINY = { inputShape: [16, 16, 1], filters: [4, 8, 16] };
function tiny(name: string) {
  return name === 'unet' ? { ...TINY, inputShape: [44, 44, 1] } : TINY;
}

describe('batchNormMomentum', () => {
  it('is 0.9 (PyTorch 0.1) in every BatchNorm of every model by default, the option elsewhere, recorded in the metadata', () => {
    for (const name of listModels()) {
      const extra = name === 'unet3+' ? { cgm: true } : name === 'unet++' ? { deepSupervision: true } : {};
      const model = createModel(name, { ...tiny(name), ...extra });
      const m = momenta(model);
      expect(m.length).toBeGreaterThanOrEqual(2 * 5);
      expect(new Set(m)).toEqual(new Set([0.9]));
      expect(modelInfo(model)!.options.batchNormMomentum).toBe(0.9);
      const custom = createModel(name, { ...tiny(name), ...extra, batchNormMomentum: 0.99 });
      expect(momenta(custom)).toEqual(m.map(() => 0.99));
      expect(modelInfo(custom)!.options.batchNormMomentum).toBe(0.99);
      // Same parameters (momentum is a config, not a weight); a rebuild from the metadata is the same model.
      expect(custom.countParams()).toBe(model.countParams());
      const rebuilt = createModel(modelInfo(custom)!.architecture, modelInfo(custom)!.options);
      expect(momenta(rebuilt)).toEqual(momenta(custom));
      [model, custom, rebuilt].forEach((x) => x.dispose());
    }
  });

  it('rejects values outside (0, 1), naming the option and the convention', () => {
    for (const bad of [0, 1, 1.5, -0.1, Number.NaN, '0.9', true]) {
      expect(() => createModel('unet-padded', { ...TINY, batchNormMomentum: bad })).toThrow(
        `unet-padded: batchNormMomentum must be a number in (0, 1) (Keras convention; 0.9 = PyTorch's momentum 0.1), got ${String(bad)}`,
      );
    }
    expect(momenta(createModel('unet3+', { ...TINY, batchNormMomentum: 0.5 }))).toContain(0.5);
  });
});

/** Hard Dice of probabilities `p` (thresholded at 0.5) against a 0/1 mask. */
function dice(p: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => {
    const hard = tf.cast(tf.greater(p, 0.5), 'float32');
    const inter = tf.sum(tf.mul(hard, y)).dataSync()[0]!;
    return (2 * inter) / (tf.sum(hard).dataSync()[0]! + tf.sum(y).dataSync()[0]!);
  });
}

/**
 * A short seeded run of a tiny padded UNet on synthetic cells: training-mode (batch statistics) and
 * eval-mode (moving statistics, what `predict` uses) Dice on held-out images.
 */
async function shortRun(options: Record<string, unknown>): Promise<{ training: number; evaluation: number }> {
  const size = 32;
  const samples = syntheticCells({ count: 16, size, seed: 5 });
  const [xs, ys] = tf.tidy(() => [
    tf.stack(samples.map((s) => tf.tensor3d(s.image, [size, size, 1]))),
    tf.stack(samples.map((s) => tf.tensor3d(Float32Array.from(s.mask), [size, size, 1]))),
  ]);
  const model = createModel('unet-padded', { inputShape: [size, size, 1], filters: [4, 8, 16], numClasses: 1, ...options });
  // Seeded He-normal kernels (tfjs's initialisers draw from an unseeded generator); `originalName`:
  // tfjs numbers the variable names of later models (`kernel_1`).
  model.layers.forEach((layer, i) => {
    const values = layer.getWeights();
    if (values.length === 0) return;
    layer.setWeights(
      layer.weights.map((w, k) => {
        if (!w.originalName.endsWith('/kernel')) return values[k]!;
        const shape = w.shape as number[];
        const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', 100 * i + k);
      }),
    );
  });
  const optimizer = tf.train.adam(0.01);
  model.compile({ optimizer, loss: losses.combine([[losses.binaryCrossentropy(), 1], [losses.dice(), 1]]) });
  for (let step = 0; step < 20; step++) {
    const start = (step * 4) % 12;
    const [bx, by] = [xs.slice([start], [4]), ys.slice([start], [4])];
    await model.trainOnBatch(bx, by);
    tf.dispose([bx, by]);
  }
  const [vx, vy] = [xs.slice([12], [4]), ys.slice([12], [4])];
  const train = model.apply(vx, { training: true }) as tf.Tensor;
  const evaluate = model.predict(vx) as tf.Tensor;
  const result = { training: dice(train, vy), evaluation: dice(evaluate, vy) };
  tf.dispose([xs, ys, vx, vy, train, evaluate]);
  model.dispose();
  optimizer.dispose();
  return result;
}

describe('BatchNorm on a short run', () => {
  it('predict (moving statistics) is as good as training mode after 20 steps with the default momentum', async () => {
    const { training, evaluation } = await shortRun({});
    expect(training).toBeGreaterThan(0.85);
    expect(Math.abs(evaluation - training)).toBeLessThan(0.05);
  });

  it('control: with tfjs\'s momentum 0.99 the moving statistics lag and predict falls far behind', async () => {
    const { training, evaluation } = await shortRun({ batchNormMomentum: 0.99 });
    expect(training).toBeGreaterThan(0.85);
    expect(training - evaluation).toBeGreaterThan(0.2);
  });
});
