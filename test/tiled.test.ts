import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildUNet, createModel, downsamplingFactor, predictTiled, reflectIndex, unetOutputSize } from '../src/index.js';
import { maxAbsDiff, randomImage } from './helpers.js';

/** Whole-image reference: mirror-pad by `margin` (top/left) and to a valid size, predict, crop. */
function wholePadded(model: tf.LayersModel, image: tf.Tensor3D, margin: number, padded: [number, number]): tf.Tensor3D {
  return tf.tidy(() => {
    const [h, w] = image.shape;
    const rows = Array.from({ length: padded[0] }, (_, i) => reflectIndex(i - margin, h));
    const cols = Array.from({ length: padded[1] }, (_, i) => reflectIndex(i - margin, w));
    const x = tf.gather(tf.gather(image, rows, 0), cols, 1).expandDims(0);
    const y = model.predict(x) as tf.Tensor4D;
    return y.slice([0, 0, 0, 0], [1, h, w, -1]).squeeze([0]) as tf.Tensor3D;
  });
}

describe('predictTiled with the classic (valid) UNet', () => {
  // Depth 2 (filters [4, 8, 16]): valid input sizes step by 4, output = input - 40.
  const model = buildUNet({ filters: [4, 8, 16], inputShape: [null, null, 1], numClasses: 2 });
  afterAll(() => model.dispose());

  it('detects the downsampling factor 2^depth', () => {
    expect(downsamplingFactor(model)).toBe(4);
  });

  it.each([0, 8])('stitched tiles equal the whole mirror-padded prediction (overlap %i)', async (overlap) => {
    expect(unetOutputSize(60, 2)).toBe(20);
    const image = randomImage([37, 45, 1], 5) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const tiled = (await predictTiled(model, image, { tileSize: 60, overlap, batchSize: 3 })) as tf.Tensor3D;
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(tiled.shape).toEqual([37, 45, 2]);
    // Whole padded input 100x100 (valid), output 60x60 covers the 37x45 image.
    expect(unetOutputSize(100, 2)).toBe(60);
    const whole = wholePadded(model, image, 20, [100, 100]);
    expect(maxAbsDiff(tiled, whole)).toBeLessThan(1e-5);
    // Softmax output: channels sum to 1 everywhere (tiles were not double-counted).
    const sums = tf.tidy(() => tf.sum(tiled, -1));
    expect(maxAbsDiff(sums, tf.onesLike(sums))).toBeLessThan(1e-5);
    tf.dispose([image, tiled, whole, sums]);
  });

  it('handles images smaller than one tile and batched input', async () => {
    const batch = randomImage([2, 9, 13, 1], 8) as tf.Tensor4D;
    const out = (await predictTiled(model, batch, { tileSize: 60 })) as tf.Tensor4D;
    expect(out.shape).toEqual([2, 9, 13, 2]);
    for (let b = 0; b < 2; b++) {
      const img = batch.slice([b, 0, 0, 0], [1, 9, 13, 1]).squeeze([0]) as tf.Tensor3D;
      const whole = wholePadded(model, img, 20, [60, 60]);
      const got = out.slice([b, 0, 0, 0], [1, 9, 13, 2]).squeeze([0]);
      expect(maxAbsDiff(got, whole)).toBeLessThan(1e-5);
      tf.dispose([img, whole, got]);
    }
    tf.dispose([batch, out]);
  });

  it('explains bad settings', async () => {
    const image = randomImage([20, 20, 1]) as tf.Tensor3D;
    await expect(predictTiled(model, image)).rejects.toThrow(/the model accepts any input size; pass tileSize/);
    await expect(predictTiled(model, image, { tileSize: 60, overlap: 18 })).rejects.toThrow(
      /output tiles of 20x20 with overlap 18 leave no stride that is a multiple of 4/,
    );
    const rgb = randomImage([20, 20, 3]) as tf.Tensor3D;
    await expect(predictTiled(model, rgb, { tileSize: 60 })).rejects.toThrow('the model expects 1 input channels but the image has 3');
    await expect(predictTiled(model, randomImage([20]) as unknown as tf.Tensor3D, { tileSize: 60 })).rejects.toThrow(
      'image must be [H, W, C] or [B, H, W, C]',
    );
    const before = tf.memory().numTensors;
    await expect(predictTiled(model, image, { tileSize: 62 })).rejects.toThrow(
      'predictTiled: tileSize 62x62: unet: input height — classic UNet (depth 2) cannot take input size 62: level 1 ' +
        'feeds an odd size 25 to a 2x2 max-pooling. Nearest valid sizes: 60 or 64',
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([image, rgb]);
  });

  it('names the misaligned layer of a model without a size check (built elsewhere, or saved before the check)', async () => {
    const input = tf.input({ shape: [null, null, 1] });
    const pooled = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(input);
    const plain = tf.model({ inputs: input, outputs: tf.layers.upSampling2d({ size: [2, 2] }).apply(pooled) as tf.SymbolicTensor });
    const image = randomImage([20, 20, 1]) as tf.Tensor3D;
    await expect(predictTiled(plain, image, { tileSize: 9 })).rejects.toThrow(
      'predictTiled: 9x9 is not a valid tile size for this model: layer pool (MaxPooling2D) receives 9x9',
    );
    image.dispose();
    plain.dispose();
  });
});

describe('predictTiled with same-size models', () => {
  it('blends overlapping tiles with normalised weights (pointwise model: tiled == direct)', async () => {
    const model = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [null, null, 2], filters: 3, kernelSize: 1, activation: 'tanh' })],
    });
    const image = randomImage([23, 30, 2], 2) as tf.Tensor3D;
    const tiled = await predictTiled(model, image, { tileSize: 8, overlap: 3, align: 1 });
    const direct = tf.tidy(() => (model.predict(image.expandDims(0)) as tf.Tensor).squeeze([0]));
    expect(maxAbsDiff(tiled, direct)).toBeLessThan(1e-6);
    tf.dispose([image, tiled, direct]);
    model.dispose();
  });

  it('a padded UNet on an image of exactly one tile equals model.predict; larger images are tiled', async () => {
    const model = createModel('unet-padded', { filters: [4, 8, 16], inputShape: [16, 16, 1], numClasses: 1 });
    expect(downsamplingFactor(model)).toBe(4);
    const image = randomImage([16, 16, 1], 4) as tf.Tensor3D;
    const tiled = await predictTiled(model, image);
    const direct = tf.tidy(() => (model.predict(image.expandDims(0)) as tf.Tensor).squeeze([0]));
    expect(maxAbsDiff(tiled, direct)).toBeLessThan(1e-6);
    const big = randomImage([3, 41, 27, 1], 6) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = await predictTiled(model, big, { overlap: 4 });
    expect(out.shape).toEqual([3, 41, 27, 1]);
    expect(tf.memory().numTensors).toBe(before + 1);
    const values = out.dataSync();
    expect(values.every((v) => v > 0 && v < 1)).toBe(true);
    await expect(predictTiled(model, image, { tileSize: 32 })).rejects.toThrow(/differs from the model's fixed input 16x16/);
    tf.dispose([image, tiled, direct, big, out]);
    model.dispose();
  });

  it('predicts with the final (first) output of a deep-supervision model', async () => {
    const model = createModel('unet++', { filters: [4, 8, 16], inputShape: [16, 16, 1], deepSupervision: true });
    const image = randomImage([16, 16, 1], 9) as tf.Tensor3D;
    const outs = tf.tidy(() => (model.predict(image.expandDims(0)) as tf.Tensor[]).map((t) => t.squeeze([0])));
    expect(outs).toHaveLength(2);
    expect(maxAbsDiff(outs[0]!, outs[1]!)).toBeGreaterThan(1e-3);
    const tiled = await predictTiled(model, image);
    expect(maxAbsDiff(tiled, outs[0]!)).toBeLessThan(1e-5);
    tf.dispose([image, tiled, ...outs]);
    model.dispose();
  });

  it('names the bad option and its value', async () => {
    const model = createModel('unet-padded', { filters: [4, 8], inputShape: [null, null, 1], numClasses: 1 });
    const image = randomImage([12, 12, 1], 3) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const cases: [Parameters<typeof predictTiled>[2], string][] = [
      [{ tileSize: [8, 0] }, 'predictTiled: tileSize must be an integer >= 1 or [height, width] of integers >= 1, got [8,0].'],
      [{ tileSize: 8, align: 0 }, 'predictTiled: align must be an integer >= 1, got 0.'],
      [{ tileSize: 8, overlap: -1 }, 'predictTiled: overlap must be an integer >= 0, got -1.'],
      [{ tileSize: 8, batchSize: 1.5 }, 'predictTiled: batchSize must be an integer >= 1, got 1.5.'],
      [{ tileSize: 8, optimize: 'yes' as never }, "predictTiled: optimize must be true or false, got 'yes'."],
    ];
    for (const [options, message] of cases) await expect(predictTiled(model, image, options)).rejects.toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    image.dispose();
    model.dispose();
  });
});
