import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  createModel,
  createSegmentationDataset,
  evaluateSegmentation,
  losses,
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

  it('UNet 3+ with CGM: cls is trained by BCE toward the image-level label of each mask; the trained model gates by its decision', async () => {
    // 6 images with an object (a 6×6 square, a single pixel, ...) and 2 empty ones; the label is
    // "object" exactly when the mask has a foreground pixel.
    const size = 16;
    const objects: [number, number, number][] = [[1, 1, 6], [8, 3, 6], [4, 9, 5], [10, 10, 1], [0, 12, 3], [12, 0, 2]];
    const cgmSamples = Array.from({ length: 8 }, (_, i) => {
      const image = new Float32Array(size * size);
      const mask = new Int32Array(size * size);
      const [top, left, side] = objects[i] ?? [0, 0, 0];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const inside = y >= top && y < top + side && x >= left && x < left + side;
          image[y * size + x] = (inside ? 0.9 : 0.1) + 0.05 * Math.sin(7 * i + 3 * y + x);
          mask[y * size + x] = inside ? 1 : 0;
        }
      }
      return { image, mask, height: size, width: size, channels: 1, name: `image-${i}` };
    });
    const data = createSegmentationDataset(cgmSamples, { validationSplit: 0, seed: 1 });
    const model = createModel('unet3+', { inputShape: [size, size, 1], filters: [4, 8, 16], cgm: true });
    expect(model.outputNames).toEqual(['d1', 'd2', 'd3', 'cls']);

    // What train() gives the losses: the masks (seg outputs) and the cls targets and predictions.
    const seen: { masks: number[][]; clsTargets: number[][]; clsPredictions: number[][] } = { masks: [], clsTargets: [], clsPredictions: [] };
    const bce = losses.binaryCrossentropy;
    const spy = vi.spyOn(losses, 'binaryCrossentropy').mockImplementation((options) => {
      const loss = bce(options);
      return Object.defineProperty(
        (yTrue: tf.Tensor, yPred: tf.Tensor) => {
          if (yTrue.rank === 4) seen.masks = (yTrue.reshape([yTrue.shape[0]!, -1]).arraySync() as number[][]);
          if (yTrue.rank === 2) {
            seen.clsTargets = yTrue.arraySync() as number[][];
            seen.clsPredictions = yPred.arraySync() as number[][];
          }
          return loss(yTrue, yPred);
        },
        'name',
        { value: loss.name },
      );
    });
    const bias = model.getLayer('cls_conv').getWeights()[1]!;
    const biasBefore = Array.from(bias.dataSync());
    const lr = 0.1;
    try {
      // One step over all 8 images.
      await train(model, data, { epochs: 1, batchSize: 8, verbose: 0, optimizer: tf.train.sgd(lr) });
    } finally {
      spy.mockRestore();
    }
    // Labels in plain numbers from the batch's masks: [empty, object], object = any foreground pixel.
    const labels = seen.masks.map((m) => (m.some((v) => v > 0.5) ? [0, 1] : [1, 0]));
    expect(labels.filter(([, object]) => object === 1)).toHaveLength(6);
    expect(seen.clsTargets).toEqual(labels);
    // The cls output is trained toward them: BCE (mean over the 8 × 2 entries) through the sigmoid
    // and the global max-pool moves the 1×1 conv's bias by −lr · Σ_i (p_i − y_i) / 16.
    const biasAfter = Array.from(model.getLayer('cls_conv').getWeights()[1]!.dataSync());
    [0, 1].forEach((k) => {
      const step = (-lr * seen.clsPredictions.reduce((s, p, i) => s + p[k]! - labels[i]![k]!, 0)) / 16;
      expect(biasAfter[k]! - biasBefore[k]!, `bias ${k}`).toBeCloseTo(step, 6);
    });

    // At inference every map is the ungated probability where cls says "object" and zero where it
    // says "empty" (argmax, a tie counts as empty): with the trained bias, and with biases forcing
    // every image to "empty" and to "object" (so both sides are seen whatever the step learnt).
    const x = tf.tensor4d(Float32Array.from(cgmSamples.flatMap((s) => [...s.image])), [8, size, size, 1]);
    const ungatedModel = tf.model({ inputs: model.inputs, outputs: ['d1_prob', 'd2_prob', 'd3_prob'].map((n) => model.getLayer(n).output as tf.SymbolicTensor) });
    const ungated = (ungatedModel.predict(x) as tf.Tensor[]).map((t) => t.arraySync() as number[][][][]);
    const [kernel] = model.getLayer('cls_conv').getWeights();
    const decisions: number[][] = [];
    for (const forced of [null, [50, -50], [-50, 50]]) {
      if (forced !== null) tf.tidy(() => model.getLayer('cls_conv').setWeights([kernel!, tf.tensor1d(forced)]));
      const outputs = model.predict(x) as tf.Tensor[];
      const cls = outputs[3]!.arraySync() as number[][];
      const open = cls.map(([empty, object]) => object! > empty!);
      decisions.push(open.map(Number));
      for (let k = 0; k < 3; k++) {
        const gated = outputs[k]!.arraySync() as number[][][][];
        open.forEach((o, i) => expect(gated[i], `d${k + 1} image ${i}`).toEqual(o ? ungated[k]![i] : ungated[k]![i]!.map((r) => r.map((c) => c.map(() => 0)))));
      }
      tf.dispose(outputs);
    }
    expect(decisions.slice(1)).toEqual([Array(8).fill(0), Array(8).fill(1)]);
    expect(ungated[0]!.flat(3).some((v) => v > 0)).toBe(true);
    x.dispose();
    model.dispose();
  });

  it('a CGM step scores every output against its own target: d1..d3 the masks, cls [empty, object] per image', async () => {
    // Half of the images without objects, so the cls targets are not all alike.
    const mixed = samples.slice(0, 8).map((s, i) => (i % 2 === 0 ? { ...s, mask: new Int32Array(s.mask.length) } : s));
    const data = createSegmentationDataset(mixed, { validationSplit: 0, seed: 1 });
    const model = createModel('unet3+', { inputShape: [16, 16, 1], filters: [4, 8, 16], cgm: true, batchNorm: false });
    (model.getLayer('cls_dropout') as unknown as { rate: number }).rate = 0; // the CGM's Dropout(0.5): a deterministic step
    // A cls bias far from zero: every image's cls probabilities are near [0.95, 0.05] whatever the
    // random kernel, so the loss tells the real targets (half empty, half object) from wrong ones.
    const [clsKernel] = model.getLayer('cls_conv').getWeights();
    tf.tidy(() => model.getLayer('cls_conv').setWeights([clsKernel!, tf.tensor1d([3, -3])]));
    // One batch of all 8 images and a zero learning rate: the epoch's loss is that of the weights as built.
    const result = await train(model, data, { epochs: 1, batchSize: 8, verbose: 0, optimizer: tf.train.sgd(0) });
    // Reference: the compiled losses (train compiles the model with them) of the training-mode
    // outputs (the class gate acts at inference only) on targets made here, independently: the
    // masks for the three segmentation outputs, one-hot [empty, object] for cls.
    const { xs, ys } = data.batches(8, { shuffle: false }).next().value!;
    const masks = ys.dataSync();
    const hasObject = (b: number) => masks.subarray(b * 256, (b + 1) * 256).some((v) => v > 0.5);
    const cls = tf.tensor2d(Array.from({ length: 8 }, (_, b) => (hasObject(b) ? [0, 1] : [1, 0])).flat(), [8, 2]);
    expect(Array.from({ length: 8 }, (_, b) => hasObject(b))).toEqual(mixed.map((_, i) => i % 2 === 1));
    const lossFns = (model as unknown as { lossFunctions: ((t: tf.Tensor, p: tf.Tensor) => tf.Tensor)[] }).lossFunctions;
    const total = (clsTarget: tf.Tensor) =>
      tf.tidy(() => {
        const outs = model.apply(xs, { training: true }) as tf.Tensor[];
        return [ys, ys, ys, clsTarget].reduce((sum, t, i) => sum + tf.mean(lossFns[i]!(t, outs[i]!)).dataSync()[0]!, 0);
      });
    const reference = total(cls);
    expect(result.history[0]!.loss).toBeCloseTo(reference, 4);
    // With every image labelled empty, or every image labelled object, the total differs by far
    // more than the tolerance above: the check can tell the real targets from either.
    const allEmpty = tf.tensor2d(Array.from({ length: 8 }, () => [1, 0]).flat(), [8, 2]);
    const allObject = tf.sub(1, allEmpty);
    expect(Math.abs(total(allEmpty) - reference)).toBeGreaterThan(0.1);
    expect(Math.abs(total(allObject) - reference)).toBeGreaterThan(0.1);
    tf.dispose([xs, ys, cls, allEmpty, allObject]);
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
