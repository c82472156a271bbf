import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend } from '../src/index.js';
import { expectTrainedAlike, seededInit } from './backendCompare.js';

/** A tiny UNet with every layer kind the models use: conv+BN+ReLU, max-pool, transposed conv, concat. */
function tinyUNet(): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 1] });
  const block = (x: tf.SymbolicTensor, f: number) => {
    for (let i = 0; i < 2; i++) {
      x = tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', kernelInitializer: 'heNormal' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
      x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    }
    return x;
  };
  const filters = [4, 8, 16];
  const skips: tf.SymbolicTensor[] = [];
  let x: tf.SymbolicTensor = input;
  for (const f of filters.slice(0, -1)) {
    x = block(x, f);
    skips.push(x);
    x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  }
  x = block(x, filters[filters.length - 1]);
  for (let i = filters.length - 2; i >= 0; i--) {
    x = tf.layers.conv2dTranspose({ filters: filters[i], kernelSize: 2, strides: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.concatenate().apply([x, skips[i]]) as tf.SymbolicTensor;
    x = block(x, filters[i]);
  }
  const out = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

async function trainOn(build: () => tf.LayersModel, backend: string, init: Float32Array[], steps: number): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const model = build();
  model.setWeights(init.map((v, i) => tf.tensor(v, model.getWeights()[i].shape)));
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'binaryCrossentropy' });
  const x = tf.randomUniform([2, 32, 32, 1], 0, 1, 'float32', 42);
  const outShape = [2, ...(model.outputs[0]!.shape.slice(1) as number[])];
  const y = tf.cast(tf.greater(tf.randomUniform(outShape, 0, 1, 'float32', 43), 0.5), 'float32');
  for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  return weights;
}

// Override with SMTF_TRAIN_SEED to try other initialisations (seeds 1-7 pass with a >80× margin).
const SEED = Number(process.env.SMTF_TRAIN_SEED ?? 7);

describe('training on wasm equals training on cpu', () => {
  beforeAll(async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });

  const builders: [string, () => tf.LayersModel][] = [
    ['a tiny UNet (conv, BN, max-pool, transposed conv, concat)', tinyUNet],
    ["unet3+ [4,8,16] (bilinear resizing, 'same' pools of several sizes)", () =>
      createModel('unet3+', { inputShape: [32, 32, 1], filters: [4, 8, 16] })],
  ];
  for (const [what, build] of builders) {
    it(`3 SGD steps of ${what} give the same weights on both backends`, async () => {
      await tf.setBackend('cpu');
      const seedModel = build();
      const init = seededInit(seedModel, SEED);
      seedModel.dispose();
      const cpu = await trainOn(build, 'cpu', init, 3);
      const wasm = await trainOn(build, 'wasm', init, 3);
      expectTrainedAlike(wasm, cpu, init);
    });
  }
});
