import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createModel,
  createSegmentationDataset,
  evaluateSegmentation,
  ScoreAccumulator,
  syntheticCells,
  train,
  trainingCurveSvg,
  type EpochLogs,
} from '../src/node.js';
import { progressBar } from '../src/training/progress.js';

const tmp = mkdtempSync(join(tmpdir(), 'smtf-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('ScoreAccumulator (dataset-level hard Dice / IoU)', () => {
  it('binary: thresholds at 0.5 and counts TP/FP/FN', () => {
    const acc = new ScoreAccumulator();
    const t = tf.tensor4d([1, 1, 0, 0], [1, 2, 2, 1]);
    const p = tf.tensor4d([0.9, 0.2, 0.7, 0.1], [1, 2, 2, 1]);
    acc.add(t, p); // TP 1, FP 1, FN 1, TN 1
    const s = acc.scores();
    expect(s.dice).toBeCloseTo(0.5, 6);
    expect(s.iou).toBeCloseTo(1 / 3, 6);
    expect(s.pixelAccuracy).toBeCloseTo(0.5, 6);
    // accumulates over batches rather than averaging batch scores: add a perfect batch of 4 fg pixels
    const t2 = tf.ones([1, 2, 2, 1]);
    acc.add(t2, t2); // TP 4 more -> TP 5, FP 1, FN 1
    expect(acc.scores().dice).toBeCloseTo(10 / 12, 6);
    expect(acc.scores().iou).toBeCloseTo(5 / 7, 6);
    tf.dispose([t, p, t2]);
  });

  it('multi-class: argmax, per class, and empty-vs-empty counts as 1', () => {
    const acc = new ScoreAccumulator();
    // 3 pixels, 3 classes; truth classes [0, 1, 1]; predicted [0, 1, 0]; class 2 absent in both
    const t = tf.tensor4d([1, 0, 0, 0, 1, 0, 0, 1, 0], [1, 1, 3, 3]);
    const p = tf.tensor4d([0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.5, 0.4, 0.1], [1, 1, 3, 3]);
    acc.add(t, p);
    const s = acc.scores();
    // class 0: TP 1, FP 1, FN 0 -> dice 2/3, iou 1/2; class 1: TP 1, FP 0, FN 1 -> 2/3, 1/2; class 2: 1, 1
    expect(s.perClass.map((c) => +c.dice.toFixed(6))).toEqual([0.666667, 0.666667, 1]);
    expect(s.perClass.map((c) => c.iou)).toEqual([0.5, 0.5, 1]);
    expect(s.dice).toBeCloseTo((2 / 3 + 2 / 3 + 1) / 3, 6);
    expect(s.pixelAccuracy).toBeCloseTo(2 / 3, 6);
    tf.dispose([t, p]);
  });

  it('rejects mismatched shapes and empty input', () => {
    const acc = new ScoreAccumulator();
    const a = tf.zeros([1, 2, 2, 1]);
    const b = tf.zeros([1, 2, 2, 2]);
    expect(() => acc.add(a, b)).toThrow(/target shape \[1,2,2,1\] differs from prediction shape \[1,2,2,2\]/);
    expect(() => acc.scores()).toThrow(/no batches/);
    tf.dispose([a, b]);
  });
});

describe('progress and curves', () => {
  it('draws a progress bar', () => {
    expect(progressBar(0, 4, 8)).toBe('[        ]');
    expect(progressBar(2, 4, 8)).toBe('[===>    ]');
    expect(progressBar(4, 4, 8)).toBe('[========]');
  });

  it('plots loss and validation scores as SVG paths, one point per epoch', () => {
    const history: EpochLogs[] = [0, 1, 2].map((e) => ({
      epoch: e,
      loss: 1 / (e + 1),
      seconds: 1,
      best: true,
      validation: { dice: 0.5 + 0.1 * e, iou: 0.4 + 0.1 * e, pixelAccuracy: 0.9, perClass: [], pixels: 10 },
    }));
    const svg = trainingCurveSvg(history, 'T & <x>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('T &amp; &lt;x>');
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(3);
    for (const d of paths) expect(d.match(/[ML]/g)).toHaveLength(3);
  });
});

describe('train()', () => {
  const samples = syntheticCells({ count: 12, size: 16, seed: 3 });

  it('fits a tiny padded UNet, lowers the loss, validates, checkpoints the best epoch, and leaks nothing per epoch', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0.25, seed: 1 });
    const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8], numClasses: 1 });
    const dir = join(tmp, 'ckpt');
    const tensorsAfterEpoch: number[] = [];
    const lines: string[] = [];
    const result = await train(model, data, {
      epochs: 4,
      batchSize: 3,
      optimizer: tf.train.adam(0.02),
      checkpointDir: dir,
      log: (l) => lines.push(l),
      onEpochEnd: () => {
        tensorsAfterEpoch.push(tf.memory().numTensors);
      },
    });
    expect(result.history).toHaveLength(4);
    expect(result.monitor).toBe('valDice');
    expect(result.history[3]!.loss).toBeLessThan(result.history[0]!.loss);
    expect(result.history.every((h) => h.validation !== undefined && h.validation.pixels === 3 * 256)).toBe(true);
    expect(result.bestScore).toBe(Math.max(...result.history.map((h) => h.validation!.dice)));
    // Not a TTY here: each epoch's last batch gets a progress line (3 batches < progressEvery), then the epoch line.
    expect(lines).toHaveLength(8);
    expect(lines[0]).toMatch(/^epoch 1\/4 batch 3\/3 loss \d\.\d{4}$/);
    expect(lines[1]).toMatch(/^epoch 1\/4 loss \d\.\d{4} val_dice \d\.\d{4} val_iou \d\.\d{4}/);
    expect(new Set(tensorsAfterEpoch.slice(1)).size).toBe(1);
    expect(existsSync(join(dir, 'model.json'))).toBe(true);
    const loaded = await tf.loadLayersModel(`file://${join(dir, 'model.json')}`);
    expect(loaded.outputs[0]!.shape).toEqual([null, 16, 16, 1]);
    loaded.dispose();
    model.dispose();
  });

  it('builds deep-supervision and CGM targets from the masks (UNet 3+ with CGM)', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0, seed: 1 });
    const model = createModel('unet3+', { inputShape: [16, 16, 1], filters: [4, 8, 16], cgm: true });
    expect(model.outputs).toHaveLength(4); // d1, d2, d3, cls
    const result = await train(model, data, { epochs: 3, batchSize: 4, verbose: 0, optimizer: tf.train.adam(0.01) });
    expect(result.monitor).toBe('loss');
    expect(result.history[0]!.validation).toBeUndefined();
    expect(result.history[2]!.loss).toBeLessThan(result.history[0]!.loss);
    model.dispose();
  });

  it('trains a deep-supervised UNet++ and scores it with evaluateSegmentation', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0.25, seed: 2 });
    const model = createModel('unet++', { inputShape: [16, 16, 1], filters: [4, 8, 16], deepSupervision: true });
    await train(model, data, { epochs: 1, batchSize: 4, verbose: 0 });
    const before = tf.memory().numTensors;
    const scores = evaluateSegmentation(model, data.batches(2, { split: 'validation' }));
    expect(tf.memory().numTensors).toBe(before);
    expect(scores.pixels).toBe(3 * 256);
    // Independent reference: predict all validation images at once, take the final (first)
    // output, threshold at 0.5 and count in plain numbers against the masks.
    const images = new Float32Array(data.validation.length * 256);
    data.validation.forEach((s, i) => images.set(s.image, i * 256));
    const probs = tf.tidy(() => {
      const outputs = model.predict(tf.tensor4d(images, [data.validation.length, 16, 16, 1])) as tf.Tensor[];
      return outputs[0]!.dataSync();
    });
    const counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    data.validation.forEach((s, i) => s.mask.forEach((m, p) => {
      const predicted = probs[i * 256 + p]! > 0.5;
      counts[m > 0 ? (predicted ? 'tp' : 'fn') : (predicted ? 'fp' : 'tn')]++;
    }));
    const { tp, fp, fn, tn } = counts;
    expect(tp + fp + fn + tn).toBe(3 * 256);
    expect(scores.dice).toBeCloseTo((2 * tp) / (2 * tp + fp + fn), 6);
    expect(scores.iou).toBeCloseTo(tp / (tp + fp + fn), 6);
    expect(scores.pixelAccuracy).toBeCloseTo((tp + tn) / (3 * 256), 6);
    model.dispose();
  });

  it('explains target/output mismatches before training', async () => {
    const data = createSegmentationDataset(syntheticCells({ count: 4, size: 44, seed: 1 }), { validationSplit: 0 });
    const classic = createModel('unet', { inputShape: [44, 44, 1], filters: [4, 8, 16], numClasses: 1 });
    await expect(train(classic, data, { epochs: 1, verbose: 0 })).rejects.toThrow(/outputSize \[4, 4\]/);
    const twoClass = createModel('unet-padded', { inputShape: [44, 44, 1], filters: [4, 8], numClasses: 2 });
    await expect(train(twoClass, data, { epochs: 1, verbose: 0 })).rejects.toThrow(/numClasses must match the model's 2 output channel/);
    await expect(train(twoClass, data, { epochs: 0 })).rejects.toThrow(/epochs must be an integer >= 1/);
    await expect(train(twoClass, data, { validation: true })).rejects.toThrow(/no validation samples/);
    classic.dispose();
    twoClass.dispose();
  });
});
