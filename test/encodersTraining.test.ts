import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { getEncoderSpec } from '../src/encoders/index.js';
import { initBackend } from '../src/index.js';
import { loadStateDict, stateDictMapping } from '../src/io/stateDict.js';
import { deterministicStateDict } from './smpWeights.js';

describe('an ImageNet encoder trains on wasm', () => {
  beforeAll(async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });

  it('resnet18 (depth 3) + a 1×1 head: BN statistics move with PyTorch momentum 0.1; no tensor leaks', async () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const pyramid = getEncoderSpec('resnet18').build(input, { depth: 3 });
    const head = tf.layers
      .conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'head' })
      .apply(pyramid.features[3]!) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: head });
    loadStateDict(model, deterministicStateDict(stateDictMapping(model)));
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1);
    const y = tf.tidy(() => tf.round(tf.randomUniform([2, 4, 4, 1], 0, 1, 'float32', 2)));

    // The stem BN's batch mean on this batch, before any update.
    const stem = tf.model({ inputs: input, outputs: model.getLayer('encoder.conv1').output as tf.SymbolicTensor });
    const batchMean = tf.tidy(() => tf.mean(stem.predict(x) as tf.Tensor, [0, 1, 2]));
    const bn = model.getLayer('encoder.bn1');
    const m0 = bn.getWeights()[2]!.dataSync().slice();

    const optimizer = tf.train.adam(1e-3);
    model.compile({ optimizer, loss: 'binaryCrossentropy' });
    const counts: number[] = [];
    let loss = 0;
    for (let step = 1; step <= 8; step++) {
      loss = (await model.trainOnBatch(x, y)) as number;
      counts.push(tf.memory().numTensors);
      if (step === 1) {
        const m1 = bn.getWeights()[2]!.dataSync();
        const bm = batchMean.dataSync();
        for (let c = 0; c < m1.length; c++) expect(m1[c]).toBeCloseTo(0.9 * m0[c]! + 0.1 * bm[c]!, 4);
      }
    }
    expect(counts[7]).toBe(counts[1]);
    expect(Number.isFinite(loss)).toBe(true);
    tf.dispose([x, y, batchMean]);
    model.dispose();
    optimizer.dispose();
  });
});
