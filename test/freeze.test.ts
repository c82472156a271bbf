import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createModel,
  createSegmentationDataset,
  encoderLayerNames,
  freezeEncoder,
  paramCounts,
  syntheticCells,
  train,
  unfreezeEncoder,
} from '../src/node.js';
import { randomImage, roundTrip } from './helpers.js';

afterEach(() => {
  tf.disposeVariables();
});

const tiny = { inputShape: [16, 16, 1], filters: [2, 4, 8] };

/** Every weight of the given layers, by weight name (copies). */
function snapshot(model: tf.LayersModel, layers: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const name of layers) {
    for (const w of model.getLayer(name).weights) out.set(w.name, w.read().dataSync().slice() as Float32Array);
  }
  return out;
}

function changed(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  return [...a.keys()].filter((k) => a.get(k)!.some((v, i) => v !== b.get(k)![i]));
}

/** BN statistics other than a batch's, so that a training-mode pass would move them. */
function perturbBatchNorm(model: tf.LayersModel): void {
  let seed = 1;
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [gamma, beta, mean, variance] = layer.getWeights();
    layer.setWeights([gamma!, beta!, tf.randomUniform(mean!.shape, -0.2, 0.2, 'float32', seed++), tf.randomUniform(variance!.shape, 0.5, 1.5, 'float32', seed++)]);
  }
}

async function oneStep(model: tf.LayersModel): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const x = randomImage([4, 16, 16, 1], 2);
  const y = tf.tidy(() => tf.cast(tf.greater(randomImage([4, 16, 16, 1], 3), 0.5), 'float32'));
  await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
  tf.dispose([x, y]);
}

describe('encoderLayerNames', () => {
  it('finds the plain encoder of every model (from the metadata), and the same by names without it', () => {
    const expected: Record<string, RegExp> = {
      'unet-padded': /^(enc\d|bottleneck)_(conv|bn|act)\d$|^pool\d$/,
      'unet++': /^x\d_0_(conv|bn|act)\d$|^pool\d$/,
      'unet3+': /^enc\d_(conv|bn|act)\d$|^pool\d$/,
    };
    for (const [name, pattern] of Object.entries(expected)) {
      const model = createModel(name, tiny);
      const names = encoderLayerNames(model);
      // 3 levels × (2 conv + 2 BN + 2 act) + 2 pools
      expect(names).toHaveLength(20);
      expect(names.every((n) => pattern.test(n))).toBe(true);
      expect(model.layers.map((l) => l.name).filter((n) => pattern.test(n) && !n.startsWith('dec'))).toEqual(names);
      model.setUserDefinedMetadata({});
      expect(encoderLayerNames(model)).toEqual(names);
      model.dispose();
    }
  });

  it('explains when a model has no encoder it knows', () => {
    const input = tf.input({ shape: [4, 4, 1] });
    const foreign = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 1, kernelSize: 1 }).apply(input) as tf.SymbolicTensor });
    expect(() => freezeEncoder(foreign)).toThrow(/has no encoder layers: it records no encoder features in its metadata \(modelInfo\)/);
    foreign.dispose();
  });
});

describe('freezeEncoder / unfreezeEncoder', () => {
  it('a training step leaves the frozen encoder (kernels and BN statistics) bit-identical and trains the decoder', async () => {
    const model = createModel('unet-padded', tiny);
    perturbBatchNorm(model);
    const all = model.layers.map((l) => l.name);
    const before = tf.memory().numTensors;
    const frozen = freezeEncoder(model);
    expect(tf.memory().numTensors).toBe(before);
    expect(frozen).toEqual(encoderLayerNames(model));
    const decoder = all.filter((n) => !frozen.includes(n));
    // The trainable count drops by exactly the encoder's trainable weights.
    const encoderTrainable = frozen.reduce(
      (s, n) => s + model.getLayer(n).weights.filter((w) => !/moving/.test(w.name)).reduce((a, w) => a + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0),
      0,
    );
    const total = paramCounts(model).total;
    unfreezeEncoder(model);
    const trainableAll = paramCounts(model).trainable;
    freezeEncoder(model);
    expect(paramCounts(model)).toEqual({ total, trainable: trainableAll - encoderTrainable, nonTrainable: total - trainableAll + encoderTrainable });

    const enc0 = snapshot(model, frozen);
    const dec0 = snapshot(model, decoder);
    await oneStep(model);
    expect(changed(enc0, snapshot(model, frozen))).toEqual([]);
    const decChanged = changed(dec0, snapshot(model, decoder));
    expect(decChanged.some((n) => n.includes('kernel'))).toBe(true);
    expect(decChanged.some((n) => n.includes('moving_mean'))).toBe(true); // decoder BN still trains

    // Frozen BN normalises with its moving statistics also in training mode.
    const feature = tf.model({ inputs: model.inputs, outputs: model.getLayer('bottleneck_bn2').output as tf.SymbolicTensor });
    const x = randomImage([2, 16, 16, 1], 5);
    const trainingMode = feature.apply(x, { training: true }) as tf.Tensor;
    const inference = feature.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(trainingMode, inference))).dataSync()[0]).toBe(0);
    tf.dispose([trainingMode, inference]);

    // Unfreezing restores training: the encoder's kernels and BN statistics move again.
    expect(unfreezeEncoder(model)).toEqual(frozen);
    expect(paramCounts(model).trainable).toBe(trainableAll);
    const enc1 = snapshot(model, frozen);
    await oneStep(model);
    const encChanged = changed(enc1, snapshot(model, frozen));
    expect(encChanged.some((n) => n.includes('kernel'))).toBe(true);
    expect(encChanged.some((n) => n.includes('moving_variance'))).toBe(true);
    const trainingAgain = feature.apply(x, { training: true }) as tf.Tensor;
    const inferenceAgain = feature.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(trainingAgain, inferenceAgain))).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([x, trainingAgain, inferenceAgain]);
    model.dispose(); // also the feature model's layers
  });

  it('the frozen state is saved; train() keeps a loaded frozen encoder frozen, BatchNorm included', async () => {
    const model = createModel('unet++', { ...tiny, deepSupervision: true });
    perturbBatchNorm(model);
    const frozen = freezeEncoder(model);
    const loaded = await roundTrip(model);
    expect(loaded.layers.filter((l) => !l.trainable && l.getClassName() !== 'InputLayer').map((l) => l.name)).toEqual(frozen);
    const enc0 = snapshot(loaded, frozen);
    const data = createSegmentationDataset(syntheticCells({ count: 4, size: 16, seed: 3 }), { validationSplit: 0, seed: 1 });
    await train(loaded, data, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(changed(enc0, snapshot(loaded, frozen))).toEqual([]);
    loaded.dispose();
    model.dispose();
  });
});
