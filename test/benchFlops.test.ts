import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { convFlopsPerImage } from '../bench/flops.js';
import { createModel } from '../src/index.js';

describe('bench convFlopsPerImage', () => {
  it('counts 2 FLOP per multiply-add of Conv2D, Conv2DTranspose and Dense layers', async () => {
    await tf.setBackend('cpu');
    const input = tf.input({ shape: [8, 6, 2] });
    let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor; // 8×6 out
    x = tf.layers.conv2d({ filters: 5, kernelSize: [3, 1], padding: 'valid' }).apply(x) as tf.SymbolicTensor; // 6×6 out
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor; // not counted
    x = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor; // 6×6 in
    x = tf.layers.dense({ units: 7 }).apply(x) as tf.SymbolicTensor; // 12×12 rows of 4 -> 7
    const model = tf.model({ inputs: input, outputs: x });
    const expected = 2 * (8 * 6 * 9 * 2 * 3) + 2 * (6 * 6 * (3 * 1) * 3 * 5) + 2 * (6 * 6 * 4 * 5 * 4) + 2 * (12 * 12 * 4 * 7);
    expect(convFlopsPerImage(model)).toBe(expected);
    model.dispose();
  });

  it('gives the 1.51 GFLOP of the reference unet-padded [16..256] at 128×128', async () => {
    await tf.setBackend('cpu');
    const model = createModel('unet-padded', { inputShape: [128, 128, 1], filters: [16, 32, 64, 128, 256] });
    expect(convFlopsPerImage(model) / 1e9).toBeCloseTo(1.51, 2);
    model.dispose();
  });

  it('refuses variable-size inputs with a clear error', async () => {
    await tf.setBackend('cpu');
    const input = tf.input({ shape: [null, null, 1] });
    const model = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(input) as tf.SymbolicTensor });
    expect(() => convFlopsPerImage(model)).toThrow(/fixed input size/);
    model.dispose();
  });
});
