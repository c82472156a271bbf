import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { losses, LossFunction, weightMapBatch, metrics } from '../src/index.js';

await tf.setBackend('cpu');

/** Tiny conv model on 8×8 inputs. */
function tinyModel(channels: number, activation: 'sigmoid' | 'softmax' | 'linear'): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.conv2d({ filters: channels, kernelSize: 3, padding: 'same', activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 7);
const yBinary = tf.cast(tf.greater(x, 0.5), 'float32');
const yCat = tf.oneHot(tf.cast(tf.floor(tf.mul(tf.reshape(x, [2, 8, 8]), 2.999)), 'int32'), 3).toFloat();

/** Trains with a custom loop (optimizer.minimize), returns [first, last] loss. */
function train(loss: LossFunction, model: tf.Sequential, y: tf.Tensor, steps = 25): [number, number] {
  const opt = tf.train.adam(0.03);
  const values: number[] = [];
  for (let s = 0; s < steps; s++) {
    const l = opt.minimize(() => loss(y, model.apply(x) as tf.Tensor), true) as tf.Scalar;
    values.push(l.dataSync()[0]);
    l.dispose();
  }
  opt.dispose();
  return [values[0], values[values.length - 1]];
}

describe('gradients flow: each loss decreases while training a tiny model', () => {
  const binary: Array<[string, LossFunction, boolean]> = [
    ['binaryCrossentropy', losses.binaryCrossentropy(), false],
    ['binaryCrossentropy logits', losses.binaryCrossentropy({ fromLogits: true }), true],
    ['weightedCrossEntropy balanced', losses.weightedCrossEntropy({ classWeights: 'balanced' }), false],
    ['dice', losses.dice(), false],
    ['dice squared batch logits', losses.dice({ squared: true, batchDice: true, fromLogits: true, smooth: 0 }), true],
    ['jaccard', losses.jaccard(), false],
    ['tversky', losses.tversky({ alpha: 0.3, beta: 0.7 }), false],
    ['focal', losses.focal(), false],
    ['focal logits', losses.focal({ fromLogits: true }), true],
    ['combine bce+dice', losses.combine([[losses.binaryCrossentropy(), 0.5], [losses.dice(), 1]]), false],
  ];
  it.each(binary)('%s (sigmoid)', (_n, loss, logits) => {
    const model = tinyModel(1, logits ? 'linear' : 'sigmoid');
    const [first, last] = train(loss, model, yBinary);
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first);
    model.dispose();
  });

  const categorical: Array<[string, LossFunction, boolean]> = [
    ['categoricalCrossentropy', losses.categoricalCrossentropy(), false],
    ['categoricalCrossentropy logits', losses.categoricalCrossentropy({ fromLogits: true }), true],
    ['weightedCrossEntropy', losses.weightedCrossEntropy({ classWeights: [1, 2, 3] }), false],
    ['dice ignoreBackground', losses.dice({ ignoreBackground: true }), false],
    ['jaccard logits', losses.jaccard({ fromLogits: true }), true],
    ['focal', losses.focal({ alpha: [0.2, 0.3, 0.5] }), false],
  ];
  it.each(categorical)('%s (softmax)', (_n, loss, logits) => {
    const model = tinyModel(3, logits ? 'linear' : 'softmax');
    const [first, last] = train(loss, model, yCat);
    expect(last).toBeLessThan(first);
    model.dispose();
  });

  it('model.compile + fit with a loss and metric', async () => {
    const model = tinyModel(1, 'sigmoid');
    model.compile({ optimizer: tf.train.adam(0.03), loss: losses.dice(), metrics: [metrics.dice()] });
    const h = await model.fit(x, yBinary, { epochs: 8, verbose: 0 });
    const l = h.history.loss as number[];
    expect(l[l.length - 1]).toBeLessThan(l[0]);
    model.dispose();
  });

  it('packed weight map: weightMapBatch + weightedCrossEntropy({ weightMap: true }) + fitDataset', async () => {
    const inst = tf.tidy(() => {
      const b = tf.cast(yBinary, 'int32').reshape([2, 8, 8]);
      // two objects per image: left half keeps id 1, right half id 2
      const right = tf.tile(tf.reshape(tf.tensor1d([0, 0, 0, 0, 1, 1, 1, 1], 'int32'), [1, 1, 8]), [2, 8, 1]);
      return tf.mul(b, tf.add(right, 1));
    });
    const y = weightMapBatch({ instances: inst, w0: 10, sigma: 2 });
    const model = tinyModel(1, 'sigmoid');
    model.compile({
      optimizer: tf.train.adam(0.03),
      loss: losses.weightedCrossEntropy({ weightMap: true }),
      metrics: [metrics.dice({ weightMap: true })],
    });
    // model.fit checks targets against the output shape and rejects the extra channel:
    await expect(model.fit(x, y, { epochs: 1, verbose: 0 })).rejects.toThrow(/target/);
    const ds = tf.data.zip({ xs: tf.data.array(tf.unstack(x)), ys: tf.data.array(tf.unstack(y)) }).batch(2);
    const h = await model.fitDataset(ds as tf.data.Dataset<tf.TensorContainer>, { epochs: 8, verbose: 0 });
    const l = h.history.loss as number[];
    expect(l[l.length - 1]).toBeLessThan(l[0]);
    expect(h.history.dice).toHaveLength(8);
    model.dispose();
    tf.dispose([inst, y]);
  });
});
