// train(): the memory estimate of a step, the check against a memory limit, micro-batches with
// gradient accumulation, and refusing to overwrite an existing checkpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel, createSegmentationDataset, estimateTrainingMemory, losses, syntheticCells, train,
  KERNEL_WORKSPACE_BYTES, LAYER_MEMORY_FACTORS, LOSS_MEMORY_FACTOR,
} from '../src/node.js';
import { defaultProgress } from '../src/training/progress.js';
import { maxAbsDiff, tinyConvModel } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const tmp = mkdtempSync(join(tmpdir(), 'smtf-mem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('estimateTrainingMemory', () => {
  it('adds up layer outputs times their factors, the loss, the batch, weights and optimizer state', () => {
    const model = tinyConvModel(); // layer outputs of 128 (conv), 128 (relu) and 64 (conv + sigmoid) elements
    const e = estimateTrainingMemory(model, { batchSize: 3 });
    const f = LAYER_MEMORY_FACTORS;
    const perSample = 4 * (
      f['Conv2D']! * 128 + f['Activation']! * 128 + (f['Conv2D']! + f['Activation']!) * 64 + // layers
      LOSS_MEMORY_FACTOR * 64 + // loss of the 8x8x1 output
      2 * (64 + 64) // the batch: image and target, twice
    );
    expect(e.perSampleBytes).toBe(perSample);
    const params = (3 * 3 * 1 * 2 + 2) + (2 + 1); // 23
    expect(e.weightBytes).toBe(4 * params);
    // weights + gradients + Adam's two moments, and the kernel workspace
    expect(e.fixedBytes).toBe(4 * params * 4 + KERNEL_WORKSPACE_BYTES);
    expect(e.bytes).toBe(3 * perSample + e.fixedBytes);
    // Adam's update step keeps 14 weight-sized temporaries of every weight alive together.
    expect(e.updateBytes).toBe(4 * params * (4 + 14));
    expect(estimateTrainingMemory(model, { batchSize: 3, optimizer: 'sgd' }).fixedBytes).toBe(4 * params * 2 + KERNEL_WORKSPACE_BYTES);
    model.dispose();
  });

  it('counts the optimizer update when the weights outweigh the activations', () => {
    const input = tf.input({ shape: [4, 4, 512] });
    const out = tf.layers.conv2d({ filters: 512, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out }); // 2.36 M weights, 8 K activations per image
    const e = estimateTrainingMemory(model, { batchSize: 2 });
    expect(e.updateBytes).toBeGreaterThan(2 * e.perSampleBytes + e.fixedBytes);
    expect(e.bytes).toBe(e.updateBytes);
    model.dispose();
  });

  it('needs an input size for variable-size models and scales with it', () => {
    const model = createModel('unet-padded', { inputShape: [null, null, 1], filters: [4, 8] });
    expect(() => estimateTrainingMemory(model, { batchSize: 1 })).toThrow(/accepts any input size; pass inputSize/);
    const small = estimateTrainingMemory(model, { batchSize: 1, inputSize: [32, 32] });
    const big = estimateTrainingMemory(model, { batchSize: 1, inputSize: [64, 64] });
    expect(big.perSampleBytes).toBe(4 * small.perSampleBytes);
    model.dispose();
  });

  // The factors were measured with tf.profile; this keeps them honest on two real models.
  it.each([
    ['unet-padded', { inputShape: [16, 16, 1], filters: [4, 8, 16] }],
    ['unet++', { inputShape: [16, 16, 1], filters: [4, 8, 16], deepSupervision: true }],
  ] as const)('is within -10 %..+25 % of the peak tensor memory tf.profile measures for a step of %s', async (name, opts) => {
    const peaks: number[] = [];
    for (const batch of [1, 2]) {
      const model = createModel(name, opts);
      model.compile({ optimizer: tf.train.adam(1e-3), loss: model.outputs.map(() => losses.combine([[losses.binaryCrossentropy(), 1], [losses.dice(), 1]])) });
      const xs = tf.randomUniform([batch, 16, 16, 1]);
      const ys = tf.cast(tf.greater(xs, 0.5), 'float32');
      const targets = model.outputs.map(() => ys);
      await model.trainOnBatch(xs, targets); // creates the optimizer state
      const before = tf.memory().numBytes;
      const profile = await tf.profile(() => model.trainOnBatch(xs, targets));
      peaks.push(profile.peakBytes - before);
      tf.dispose([xs, ys]);
      model.dispose();
    }
    const measured = peaks[1]! - peaks[0]!;
    const model = createModel(name, opts);
    const estimated = estimateTrainingMemory(model, { batchSize: 1 }).perSampleBytes;
    model.dispose();
    console.log(`${name}: estimated ${estimated} B per image, tf.profile ${measured} B (ratio ${(estimated / measured).toFixed(3)})`);
    expect(estimated / measured).toBeGreaterThan(0.9);
    expect(estimated / measured).toBeLessThan(1.25);
  });
});

describe('train(): memory limit and micro-batches', () => {
  const samples = syntheticCells({ count: 8, size: 16, seed: 4 });

  it('refuses a batch whose step does not fit the memory limit, naming the largest batch that fits', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0 });
    const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8] });
    const e = estimateTrainingMemory(model, { batchSize: 1 });
    // Room for exactly 3 images (plus the gradient accumulator of micro-batching) on top of what is allocated now.
    const limit = tf.memory().numBytes - e.weightBytes + e.fixedBytes + e.weightBytes + 3 * e.perSampleBytes + 1000;
    const run = train(model, data, { epochs: 1, batchSize: 8, verbose: 0, memoryLimit: limit });
    await expect(run).rejects.toThrow(/batch 8 of 16x16 images needs about .* The largest batch that fits is 3: use batchSize: 3, or keep batchSize 8 and accumulate gradients over micro-batches with microBatch: 3/);
    const result = await train(model, data, { epochs: 1, batchSize: 8, verbose: 0, memoryLimit: limit, microBatch: 'auto' });
    expect(result.microBatch).toBe(3);
    expect(result.memory.batchSize).toBe(3);
    await expect(train(model, data, { epochs: 1, memoryLimit: 1000, verbose: 0 })).rejects.toThrow(/single 16x16 image needs about/);
    await expect(train(model, data, { epochs: 1, batchSize: 4, microBatch: 5, verbose: 0 })).rejects.toThrow(/microBatch \(5\) must not exceed batchSize \(4\)/);
    model.dispose();
  });

  async function oneStep(batchNorm: boolean, microBatch: number | undefined) {
    const data = createSegmentationDataset(samples, { validationSplit: 0, seed: 3 });
    const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8], batchNorm, name: 'm' });
    return { data, model, run: (init: tf.Tensor[]) => {
      model.setWeights(init);
      return train(model, data, { epochs: 1, batchSize: 8, microBatch, optimizer: tf.train.sgd(0.5), verbose: 0, memoryLimit: null });
    } };
  }

  it('accumulated micro-batches (2, and uneven 3+3+2) give the same update as the whole batch without BatchNorm', async () => {
    const full = await oneStep(false, undefined);
    const init = full.model.getWeights().map((w) => w.clone());
    const fullResult = await full.run(init);
    expect(fullResult.microBatch).toBe(8);
    for (const micro of [2, 3]) {
      const acc = await oneStep(false, micro);
      const result = await acc.run(init);
      expect(result.microBatch).toBe(micro);
      expect(result.history[0]!.loss).toBeCloseTo(fullResult.history[0]!.loss, 5);
      // SGD: the weights moved by the same gradient, within float32 summation-order noise.
      const moved = maxAbsDiff(full.model.getWeights(), init);
      expect(moved).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(acc.model.getWeights(), full.model.getWeights())).toBeLessThan(1e-5);
      acc.model.dispose();
    }
    full.model.dispose();
    tf.dispose(init);
  });

  it('with BatchNorm, micro-batches normalise with their own statistics (documented difference)', async () => {
    const full = await oneStep(true, undefined);
    const init = full.model.getWeights().map((w) => w.clone());
    await full.run(init);
    const acc = await oneStep(true, 2);
    await acc.run(init);
    expect(maxAbsDiff(acc.model.getWeights(), full.model.getWeights())).toBeGreaterThan(1e-4);
    for (const m of [full.model, acc.model]) m.dispose();
    tf.dispose(init);
  });

  it('leaks no tensors per epoch with micro-batches and reports extra metrics', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0.25, seed: 1 });
    const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8] });
    const counts: number[] = [];
    const lines: string[] = [];
    const result = await train(model, data, {
      epochs: 3, batchSize: 4, microBatch: 3, metrics: ['accuracy'], log: (l) => lines.push(l),
      onEpochEnd: () => void counts.push(tf.memory().numTensors),
    });
    expect(new Set(counts).size).toBe(1);
    const acc = result.history[2]!.metrics!['accuracy']!;
    expect(acc).toBeGreaterThanOrEqual(0);
    expect(acc).toBeLessThanOrEqual(1);
    expect(lines.filter((l) => / accuracy \d\.\d{4} val_dice /.test(l))).toHaveLength(3);
    model.dispose();
  });
});

describe('train(): checkpoints', () => {
  it('refuses to overwrite a model already in checkpointDir unless overwrite: true', async () => {
    const data = createSegmentationDataset(syntheticCells({ count: 4, size: 16, seed: 2 }), { validationSplit: 0 });
    const other = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8], name: 'other' });
    const dir = join(tmp, 'existing');
    await other.save(`file://${dir}`);
    const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8] });
    await expect(train(model, data, { epochs: 1, verbose: 0, checkpointDir: dir })).rejects.toThrow(
      `train: checkpointDir ${dir} already holds a model; choose another folder, or pass overwrite: true`,
    );
    expect((await tf.loadLayersModel(`file://${dir}`)).name).toBe('other');
    await train(model, data, { epochs: 1, verbose: 0, checkpointDir: dir, overwrite: true });
    expect((await tf.loadLayersModel(`file://${dir}`)).name).toBe(model.name);
    for (const m of [model, other]) m.dispose();
  });
});

describe('progress without a terminal', () => {
  it('prints a line every N batches and at the end of each epoch', () => {
    const lines: string[] = [];
    const writes: string[] = [];
    const sink = defaultProgress((l) => lines.push(l), { every: 3, stream: { isTTY: false, write: (s) => writes.push(s) } });
    for (let b = 1; b <= 7; b++) sink.batch(0, 2, b, 7, 0.5);
    sink.epoch('epoch 1/2 loss 0.5000');
    expect(lines).toEqual([
      'epoch 1/2 batch 3/7 loss 0.5000',
      'epoch 1/2 batch 6/7 loss 0.5000',
      'epoch 1/2 batch 7/7 loss 0.5000',
      'epoch 1/2 loss 0.5000',
    ]);
    expect(writes).toEqual([]);
    const tty: string[] = [];
    const bar = defaultProgress((l) => tty.push(l), { every: 3, stream: { isTTY: true, columns: 80, write: (s) => writes.push(s) } });
    bar.batch(0, 2, 3, 7, 0.5);
    expect(tty).toEqual([]);
    expect(writes[0]).toContain('3/7 loss 0.5000');
  });
});
