import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, paramCounts } from '../src/index.js';

// Reference counts (Keras convention) from the issue: build, count, dispose — no predict.
const cases: [string, object, number, number, number][] = [
  ['unet', { inputShape: [572, 572, 1], numClasses: 2, batchNorm: false }, 31_030_658, 31_030_658, 0],
  ['unet-padded', { inputShape: [256, 256, 3], numClasses: 1, batchNorm: false }, 31_031_745, 31_031_745, 0],
  ['unet-padded', { inputShape: [256, 256, 3], numClasses: 1, batchNorm: true }, 31_055_297, 31_043_521, 11_776],
  [
    'unet-padded',
    { inputShape: [256, 256, 1], numClasses: 1, batchNorm: false, filters: [32, 64, 128, 256, 512] },
    7_759_521,
    7_759_521,
    0,
  ],
];

describe('exact parameter counts of full-size models', () => {
  it.each(cases)('%s %j', (name, opts, total, trainable, nonTrainable) => {
    const model = createModel(name, opts);
    expect(paramCounts(model)).toEqual({ total, trainable, nonTrainable });
    expect(model.countParams()).toBe(total);
    model.dispose();
  });

  it('the classic UNet maps 572x572 to 388x388x2', () => {
    const model = createModel('unet', { inputShape: [572, 572, 1], numClasses: 2, batchNorm: false });
    expect(model.outputs[0]!.shape).toEqual([null, 388, 388, 2]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});
