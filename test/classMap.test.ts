import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { classMap, classMapAsync } from '../src/index.js';

describe('classMap and classMapAsync', () => {
  it('threshold one channel, arg-max several; both reads agree and leak nothing', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    // [1, 2, 3, 1]: probabilities around the threshold 0.5 (equal is not above).
    const binary = tf.tensor4d([0.1, 0.5, 0.51, 0.9, 0.49, 1], [1, 2, 3, 1]);
    // [2, 2, 3]: per pixel [c0, c1, c2].
    const multi = tf.tensor3d([0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.4, 0.4, 0.2], [2, 2, 3]);
    expect(classMap(binary)).toEqual({ classes: Int32Array.from([0, 0, 1, 1, 0, 1]), height: 2, width: 3 });
    expect(await classMapAsync(binary)).toEqual(classMap(binary));
    expect(classMap(binary, 0.95).classes).toEqual(Int32Array.from([0, 0, 0, 0, 0, 1]));
    expect((await classMapAsync(binary, 0.95)).classes).toEqual(Int32Array.from([0, 0, 0, 0, 0, 1]));
    expect(classMap(multi)).toEqual({ classes: Int32Array.from([0, 2, 1, 0]), height: 2, width: 2 });
    expect(await classMapAsync(multi)).toEqual(classMap(multi));
    tf.dispose([binary, multi]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a batch of several predictions, naming the function', async () => {
    const batch = tf.zeros([2, 4, 4, 1]);
    expect(() => classMap(batch)).toThrow(/^classMap: expected one prediction \[1, H, W, C\] or \[H, W, C\], got \[2,4,4,1\]/);
    await expect(classMapAsync(batch)).rejects.toThrow(/^classMapAsync: expected one prediction/);
    batch.dispose();
  });
});
