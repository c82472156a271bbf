/**
 * The input normalisation of a model on an ImageNet encoder, `x' = (x − mean) / std` per channel on
 * images in [0, 1], read from the model's ModelInfo. Applied by `train()`, `evaluateSegmentation`,
 * `predictTiled` and the CLI; `preprocessInput` applies it to your own batches.
 */
import * as tf from '@tensorflow/tfjs';
import { modelInfo } from '../models/info.js';
import type { EncoderPreprocessing } from './types.js';

/** Per-channel statistics for a model's input channels: `x' = (x − mean[c]) / std[c]`. */
export interface InputNormalization {
  /** The encoder whose pretraining statistics these are. */
  encoder: string;
  /** One entry per input channel. */
  mean: number[];
  std: number[];
  /** The range the statistics refer to (`[0, 1]`): inputs must be scaled to it first. */
  inputRange: [number, number];
}

/**
 * The statistics of an encoder's RGB preprocessing for `channels` input channels, consistent with
 * segmentation_models.pytorch's first-conv adaptation (`patch_first_conv`):
 *
 * - 3 channels: the RGB statistics.
 * - 1 channel: the adapted kernel is the sum of the RGB kernels, i.e. the gray channel stands for
 *   R = G = B, so it takes the mean of the RGB means and the mean of the RGB stds
 *   (ImageNet: 0.449, 0.226).
 * - C = 2 or C > 3: channel i takes the kernel of RGB channel i mod 3, so it takes that channel's
 *   mean and std.
 */
export function channelStatistics(p: EncoderPreprocessing, channels: number): { mean: number[]; std: number[] } {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new Error(`channelStatistics: channels must be an integer >= 1, got ${String(channels)}`);
  }
  if (channels === 1) {
    const avg = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    return { mean: [avg(p.mean)], std: [avg(p.std)] };
  }
  return {
    mean: Array.from({ length: channels }, (_, i) => p.mean[i % 3]!),
    std: Array.from({ length: channels }, (_, i) => p.std[i % 3]!),
  };
}

/**
 * The normalisation `model` expects for its input, from its ModelInfo: the encoder's statistics
 * for the model's input channels ({@link channelStatistics}), or `null` for a model without an
 * ImageNet encoder (the plain models, models built elsewhere).
 */
export function modelPreprocessing(model: tf.LayersModel): InputNormalization | null {
  const info = modelInfo(model);
  if (info === null || info.preprocessing === undefined) return null;
  const channels = model.inputs[0]?.shape[3];
  if (typeof channels !== 'number') {
    throw new Error(`modelPreprocessing: model '${model.name}' has no input with a known channel count`);
  }
  return { encoder: info.encoder, ...channelStatistics(info.preprocessing, channels), inputRange: [...info.preprocessing.inputRange] };
}

/** `(x − mean) / std` along the last axis of `x`. A new tensor; `x` is not disposed. */
export function normalizeChannels<T extends tf.Tensor>(x: T, stats: { mean: number[]; std: number[] }): T {
  const c = x.shape[x.rank - 1];
  if (c !== stats.mean.length) {
    throw new Error(
      `normalizeChannels: the input has ${String(c)} channel(s) (shape [${x.shape.join(', ')}]) but the normalisation has ${stats.mean.length}`,
    );
  }
  return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(stats.mean)), tf.tensor1d(stats.std)) as T);
}

/**
 * Prepares images for `model.predict` / `model.fit`: normalised with the model's encoder statistics
 * ({@link modelPreprocessing}) when it has an ImageNet encoder, else unchanged. `images` are NHWC
 * (or HWC) in [0, 1]. Always returns a new tensor (a clone when nothing is applied) that the caller
 * disposes; `images` is not disposed.
 */
export function preprocessInput<T extends tf.Tensor>(model: tf.LayersModel, images: T): T {
  const stats = modelPreprocessing(model);
  return stats === null ? (images.clone() as T) : normalizeChannels(images, stats);
}

/**
 * The function that preprocesses `model`'s inputs for `where` (`train`, `predictTiled`, …): `null`
 * when there is nothing to do (no encoder, or `preprocess: false`). Validates the option.
 */
export function inputPreprocessor(
  model: tf.LayersModel,
  preprocess: unknown,
  where: string,
): ((x: tf.Tensor) => tf.Tensor) | null {
  if (preprocess !== undefined && typeof preprocess !== 'boolean') {
    throw new Error(`${where}: preprocess must be true or false, got ${String(preprocess)}`);
  }
  if (preprocess === false) return null;
  const stats = modelPreprocessing(model);
  return stats === null ? null : (x) => normalizeChannels(x, stats);
}
