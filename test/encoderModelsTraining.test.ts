/**
 * Models on an ImageNet encoder train on wasm: train() with deep supervision and the CGM leaks no
 * tensors, and freezeEncoder keeps the encoder (kernels and BatchNorm statistics) unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  createSegmentationDataset,
  encoderLayerNames,
  freezeEncoder,
  initBackend,
  paramCounts,
  syntheticCells,
  train,
} from '../src/index.js';
import { countsFile } from './smpFixtures.js';
import { deterministicInput, loadFormulaWeights } from './smpWeights.js';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

afterEach(() => {
  tf.disposeVariables();
});

function input(shape: number[], name = 'x'): tf.Tensor4D {
  return tf.tensor4d(deterministicInput(name, shape), shape as [number, number, number, number]);
}

describe('train() on wasm without leaking tensors (resnet18, depth 3, 16×16 RGB)', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['unet', {}, ['segmentation_head.0']],
    ['unet++', { deepSupervision: true }, ['segmentation_head.0', 'deep_supervision.2.activation', 'deep_supervision.1.activation']],
    ['unet3+', { cgm: true, catChannels: 8 }, ['d1', 'd2', 'd3', 'cls']],
  ];
  it.each(cases)('%s %j: numTensors equal after epochs 2 and 3, finite loss, every part trains', async (name, extra, outputs) => {
    const model = createModel(name, { encoder: 'resnet18', encoderDepth: 3, inputShape: [16, 16, 3], ...extra });
    expect(model.outputNames).toEqual(outputs);
    const data = createSegmentationDataset(syntheticCells({ count: 6, size: 16, channels: 3, seed: 4 }), { validationSplit: 0.34, seed: 1 });
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const optimizer = tf.train.adam(1e-3);
    const counts: number[] = [];
    const result = await train(model, data, {
      epochs: 3,
      batchSize: 2,
      optimizer,
      verbose: 0,
      onEpochEnd: () => {
        counts.push(tf.memory().numTensors);
      },
    });
    expect(counts[2]).toBe(counts[1]);
    for (const e of result.history) {
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(e.validation!.dice).toBeGreaterThanOrEqual(0);
    }
    const after = model.getWeights();
    const moved = (prefix: string) =>
      model.weights.some((w, i) => w.name.startsWith(prefix) && after[i]!.dataSync().some((v, k) => v !== before[i]![k]));
    expect(moved('encoder.conv1')).toBe(true);
    expect(moved(name === 'unet3+' ? 'dec1_fuse' : 'decoder.')).toBe(true);
    if (name === 'unet3+') expect(moved('cls_conv')).toBe(true);
    if (name === 'unet++') expect(moved('deep_supervision.1.0')).toBe(true);
    optimizer.dispose();
    model.dispose();
  });
});

describe('freezeEncoder on a resnet18 Unet', () => {
  it('a training step leaves the encoder’s kernels and BN statistics bit-identical and trains the decoder', async () => {
    const model = createModel('unet', { encoder: 'resnet18', encoderDepth: 3, inputShape: [16, 16, 3], decoderChannels: [16, 8, 4] });
    loadFormulaWeights(model);
    const frozen = freezeEncoder(model);
    expect(frozen).toEqual(encoderLayerNames(model));
    expect(frozen.every((n) => n.startsWith('encoder.'))).toBe(true);
    expect(frozen).toContain('encoder.layer2.1.bn2');
    expect(frozen.some((n) => n.startsWith('decoder.'))).toBe(false);
    const encoderWeights = countsFile().encoders.find((r) => r.encoder === 'resnet18' && r.encoder_depth === 3 && r.in_channels === 3)!;
    expect(paramCounts(model).nonTrainable).toBe(encoderWeights.used_params + encoderWeights.used_bn_buffers + 2 * (16 + 16 + 8 + 8 + 4 + 4));

    const snapshot = () => new Map(model.weights.map((w) => [w.name, w.read().dataSync().slice()]));
    const before = snapshot();
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'binaryCrossentropy' });
    const x = input([2, 16, 16, 3]);
    const y = tf.tidy(() => tf.cast(tf.greater(input([2, 16, 16, 1], 'y'), 0), 'float32'));
    await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    const after = snapshot();
    const changed = [...before.keys()].filter((k) => before.get(k)!.some((v, i) => v !== after.get(k)![i]));
    expect(changed.filter((k) => k.startsWith('encoder.'))).toEqual([]);
    expect(changed.some((k) => /^decoder\..*kernel/.test(k))).toBe(true);
    expect(changed.some((k) => /^decoder\..*moving_mean/.test(k))).toBe(true);
    expect(changed.some((k) => k.startsWith('segmentation_head.0'))).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });
});
