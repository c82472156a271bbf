/**
 * The encoder's input normalisation is applied exactly once by train() (training and validation
 * batches), evaluateSegmentation and predictTiled, and not at all with `preprocess: false` or for
 * the plain models. On wasm (the cpu backend's Conv2DBackpropFilter takes seconds per step here).
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  channelStatistics,
  createModel,
  createSegmentationDataset,
  evaluateSegmentation,
  IMAGENET_PREPROCESSING,
  initBackend,
  modelPreprocessing,
  normalizeChannels,
  predictTiled,
  preprocessInput,
  syntheticCells,
  train,
  type SegmentationSample,
} from '../src/index.js';
import { deterministicInput, loadFormulaWeights } from './smpWeights.js';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

afterEach(() => {
  tf.disposeVariables();
});

/** A small resnet18 Unet with the deterministic formula weights (randomised BN statistics). */
function smallUnet(shape: [number | null, number | null, number], seedModel?: tf.LayersModel): tf.LayersModel {
  const model = createModel('unet', { encoder: 'resnet18', encoderDepth: 3, inputShape: shape, decoderChannels: [16, 8, 4] });
  if (seedModel === undefined) loadFormulaWeights(model);
  else model.setWeights(seedModel.getWeights());
  return model;
}

function image(shape: [number, number, number, number], name = 'img'): tf.Tensor4D {
  // In [0, 1], the encoder's input range.
  return tf.tidy(() => tf.tensor4d(deterministicInput(name, shape), shape).add(1).div(2));
}

function manual(x: tf.Tensor4D, mean: number[], std: number[]): tf.Tensor4D {
  const c = x.shape[3];
  const v = x.dataSync();
  return tf.tensor4d(Float32Array.from(v, (val, i) => (val - mean[i % c]!) / std[i % c]!), x.shape);
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('channel statistics for C input channels (consistent with SMP’s patch_first_conv)', () => {
  const { mean, std } = IMAGENET_PREPROCESSING;
  it('3: RGB; 1: the mean of the RGB statistics (the gray channel stands for R = G = B); C ≠ 1: channel i takes RGB channel i mod 3', () => {
    expect(channelStatistics(IMAGENET_PREPROCESSING, 3)).toEqual({ mean, std });
    const one = channelStatistics(IMAGENET_PREPROCESSING, 1);
    expect(one.mean[0]).toBeCloseTo(0.449, 12);
    expect(one.std[0]).toBeCloseTo(0.226, 12);
    expect(channelStatistics(IMAGENET_PREPROCESSING, 2)).toEqual({ mean: mean.slice(0, 2), std: std.slice(0, 2) });
    expect(channelStatistics(IMAGENET_PREPROCESSING, 5)).toEqual({ mean: [...mean, mean[0], mean[1]], std: [...std, std[0], std[1]] });
    expect(() => channelStatistics(IMAGENET_PREPROCESSING, 0)).toThrow(/channels must be an integer >= 1/);
  });

  it('modelPreprocessing: from the metadata, for the model’s channels; null for the plain models', () => {
    const plain = createModel('unet-padded', { inputShape: [16, 16, 3], filters: [4, 8] });
    expect(modelPreprocessing(plain)).toBeNull();
    const gray = createModel('unet', { encoder: 'mobilenet_v2', encoderDepth: 3, inputShape: [16, 16, 1] });
    expect(modelPreprocessing(gray)).toEqual({ encoder: 'mobilenet_v2', inputRange: [0, 1], ...channelStatistics(IMAGENET_PREPROCESSING, 1) });
    const x = image([1, 4, 4, 3]);
    const same = preprocessInput(plain, x);
    expect(same).not.toBe(x);
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(() => normalizeChannels(x, channelStatistics(IMAGENET_PREPROCESSING, 1))).toThrow(
      /the input has 3 channel\(s\) \(shape \[1, 4, 4, 3\]\) but the normalisation has 1/,
    );
    tf.dispose([x, same]);
    plain.dispose();
    gray.dispose();
  });
});

describe('applied exactly once', () => {
  it('preprocessInput and predictTiled (one tile and several) equal model.predict on the manually normalised image', async () => {
    const model = smallUnet([null, null, 3]);
    const { mean, std } = IMAGENET_PREPROCESSING;
    const x = image([1, 32, 32, 3]);
    const normalised = manual(x, mean, std);
    expect(maxAbs(preprocessInput(model, x), normalised)).toBeLessThan(1e-6);

    const want = model.predict(normalised) as tf.Tensor;
    const raw = model.predict(x) as tf.Tensor;
    expect(maxAbs(want, raw)).toBeGreaterThan(0.01); // normalising matters for this model
    // Tolerances: the hand-normalised image differs from tfjs's float32 (x − mean) / std by rounding.
    const tiled = await predictTiled(model, x, { tileSize: 32, optimize: false });
    expect(maxAbs(tiled, want)).toBeLessThan(1e-4);
    const off = await predictTiled(model, x, { tileSize: 32, optimize: false, preprocess: false });
    expect(maxAbs(off, raw)).toBeLessThan(1e-5);

    // Several overlapping tiles of a larger image: the same as tiling the normalised image.
    const big = image([1, 40, 56, 3], 'big');
    const a = await predictTiled(model, big, { tileSize: 32, optimize: false });
    const b = await predictTiled(model, manual(big, mean, std), { tileSize: 32, optimize: false, preprocess: false });
    expect(maxAbs(a, b)).toBeLessThan(1e-4);
    await expect(predictTiled(model, x, { tileSize: 32, preprocess: 'yes' as never })).rejects.toThrow(
      'predictTiled: preprocess must be true or false, got yes',
    );
    tf.dispose([x, normalised, want, raw, tiled, off, big, a, b]);
    model.dispose();
  });

  /** Synthetic RGB cells as samples, and the same samples normalised by hand. */
  function samples(): { plain: SegmentationSample[]; normalised: SegmentationSample[] } {
    const plain = syntheticCells({ count: 6, size: 16, channels: 3, seed: 3 });
    const normalised = plain.map((s) => {
      const t = tf.tensor(s.image, [s.height, s.width, 3]);
      const n = normalizeChannels(t, channelStatistics(IMAGENET_PREPROCESSING, 3));
      const out = { ...s, image: n.dataSync() as Float32Array };
      tf.dispose([t, n]);
      return out;
    });
    return { plain, normalised };
  }

  it('evaluateSegmentation normalises the batches (preprocess: false does not)', () => {
    const model = smallUnet([16, 16, 3]);
    const { plain, normalised } = samples();
    const data = createSegmentationDataset(plain, { validationSplit: 0.5, seed: 1 });
    const dataN = createSegmentationDataset(normalised, { validationSplit: 0.5, seed: 1 });
    const batches = (d: typeof data) => d.batches(2, { split: 'validation' });
    expect(evaluateSegmentation(model, batches(data))).toEqual(evaluateSegmentation(model, batches(dataN), { preprocess: false }));
    expect(evaluateSegmentation(model, batches(data), { preprocess: false })).toEqual(
      evaluateSegmentation(model, batches(data), { preprocess: false }),
    );
    expect(() => evaluateSegmentation(model, batches(data), { preprocess: 1 as never })).toThrow(/preprocess must be true or false/);
    model.dispose();
  });

  it('train(): training and validation batches are normalised once (same weights and scores as training on normalised data with preprocess: false)', async () => {
    const { plain, normalised } = samples();
    const init = smallUnet([16, 16, 3]);
    const run = async (samplesToUse: SegmentationSample[], preprocess: boolean) => {
      const model = smallUnet([16, 16, 3], init);
      const data = createSegmentationDataset(samplesToUse, { validationSplit: 0.34, seed: 2 });
      const result = await train(model, data, { epochs: 1, batchSize: 2, optimizer: tf.train.sgd(0.05), verbose: 0, preprocess });
      return { model, result };
    };
    const a = await run(plain, true);
    const b = await run(normalised, false);
    const c = await run(plain, false);
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(weights(a.model)).toEqual(weights(b.model));
    expect(a.result.history[0]!.loss).toBe(b.result.history[0]!.loss);
    expect(a.result.history[0]!.validation).toEqual(b.result.history[0]!.validation);
    expect(a.result.history[0]!.loss).not.toBe(c.result.history[0]!.loss);
    [init, a.model, b.model, c.model].forEach((m) => m.dispose());
  });
});
