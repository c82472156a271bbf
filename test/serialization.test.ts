import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel } from '../src/index.js';
import { maxAbsDiff, randomImage, roundTrip } from './helpers.js';

const configs: [string, object, number[]][] = [
  ['unet', { filters: [4, 8, 16], inputShape: [44, 44, 1] }, [1, 44, 44, 1]],
  ['unet', { filters: [4, 8, 16], inputShape: [null, null, 2], upsampling: 'bilinear', dropout: 0.2 }, [1, 60, 60, 2]],
  ['unet-padded', { filters: [4, 8, 16], inputShape: [16, 16, 3], numClasses: 3 }, [2, 16, 16, 3]],
  ['unet-padded', { filters: [4, 8], inputShape: [16, 16, 1], upsampling: 'nearest', batchNorm: false }, [1, 16, 16, 1]],
];

describe('save/load round trip', () => {
  it.each(configs)('%s %j gives identical predictions', async (name, opts, xShape) => {
    const model = createModel(name, opts);
    const loaded = await roundTrip(model);
    expect(loaded.name).toBe(model.name);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    const x = randomImage(xShape, 7);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});
