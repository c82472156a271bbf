import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, listModels, unetValidInputSize } from '../src/index.js';

/** Tiny configurations; a model added to the registry later is covered by the default one. */
function tinyOptions(name: string): { inputShape: [number, number, number]; filters: number[] } {
  const filters = [4, 8, 16];
  const size = name === 'unet' ? unetValidInputSize(40, filters.length - 1) : 32;
  return { inputShape: [size, size, 1], filters };
}

describe('every registered model trains on wasm without leaking tensors', () => {
  beforeAll(async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });

  for (const name of listModels()) {
    it(`${name}: numTensors after step 2 equals numTensors after step 20, loss finite`, async () => {
      const model = createModel(name, tinyOptions(name));
      const optimizer = tf.train.adam(1e-3);
      model.compile({ optimizer, loss: model.outputs.map(() => 'binaryCrossentropy') });
      const [h, w, c] = tinyOptions(name).inputShape;
      const x = tf.randomUniform([2, h, w, c], 0, 1, 'float32', 1);
      const ys = model.outputs.map((o, i) =>
        tf.tidy(() => tf.round(tf.randomUniform([2, ...(o.shape.slice(1) as number[])], 0, 1, 'float32', 2 + i))),
      );
      const counts: number[] = [];
      let loss: number | number[] = 0;
      for (let step = 1; step <= 20; step++) {
        loss = await model.trainOnBatch(x, ys);
        counts.push(tf.memory().numTensors);
      }
      expect(counts[19]).toBe(counts[1]);
      for (const l of [loss].flat()) expect(Number.isFinite(l)).toBe(true);
      const before = tf.memory().numTensors;
      tf.dispose([x, ...ys]);
      expect(tf.memory().numTensors).toBe(before - 1 - ys.length);
      model.dispose();
      optimizer.dispose();
    });
  }
});
