/**
 * In-memory segmentation datasets: seeded train/validation split, mask-to-target conversion
 * (binary or one-hot) and batching into tensors, with optional augmentation. Browser-safe.
 *
 * Ownership: samples are plain typed arrays (nothing to dispose). Every `{ xs, ys }` pair
 * yielded by `batches()` or returned by `batchSamples()` is owned by the caller, who must
 * dispose both tensors (e.g. `tf.dispose([xs, ys])`). Nothing else allocates tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { augmentSample, validateAugmentOptions, type AugmentOptions } from './augment.js';
import { crop } from './pixels.js';
import { checkSeed, createRng } from './rng.js';
import { sampleLabel, validateSample, type SegmentationSample } from './sample.js';
import { checkHeightWidth, checkInteger, checkOneOf, invalid } from '../util/validate.js';

/** A batch: xs [B, H, W, C] images and ys [B, H', W', K] targets. Caller disposes both. */
export interface Batch {
  xs: tf.Tensor4D;
  ys: tf.Tensor4D;
}

/** Builds the target for one (already augmented) sample; overrides the default mask encoding. */
export type TargetFn = (sample: SegmentationSample) => { data: Float32Array; channels: number };

/** Options shared by dataset creation and `batchSamples`. */
export interface TargetOptions {
  /**
   * 1 (default): binary target [.., 1], foreground where label > 0 (so 0/1, 0/255 and instance
   * label masks all work). >= 2: one-hot target [.., numClasses]; labels must be in [0, numClasses).
   */
  numClasses?: number;
  /**
   * Centre-crop targets to this [height, width], e.g. the output size of the classic (valid)
   * UNet, whose output is smaller than its input. Default: targets keep the image size.
   */
  outputSize?: [number, number];
  /** Custom target builder (e.g. to pack a UNet weight map next to the mask). */
  target?: TargetFn;
}

export interface DatasetOptions extends TargetOptions {
  /** Fraction of samples held out for validation, in [0, 1). Default 0.2. */
  validationSplit?: number;
  /** Seed for the split and for default batch shuffling/augmentation. Default 0. */
  seed?: number;
}

/** Options of `SegmentationDataset.batches`. */
export interface BatchOptions {
  /** Which split to iterate. Default 'train'. */
  split?: 'train' | 'validation';
  /** Shuffle sample order. Default true for 'train', false for 'validation'. */
  shuffle?: boolean;
  /**
   * Seed for shuffling and augmentation. Default: the dataset seed plus the number of earlier
   * `batches()` calls, so successive epochs differ but whole runs are reproducible.
   */
  seed?: number;
  /** Augmentations applied per sample, identically to image and mask. Default none. */
  augment?: AugmentOptions;
  /** Drop a last batch smaller than batchSize. Default false. */
  dropRemainder?: boolean;
}

/**
 * Throws if a label map holds a value that does not fit `numClasses`, naming `where` and the
 * value. Binary (numClasses 1): any value >= 0 is accepted (> 0 is foreground).
 */
export function checkMaskValues(mask: ArrayLike<number>, numClasses: number, where: string): void {
  checkInteger(where, 'numClasses', numClasses);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i];
    if (v < 0 || !Number.isInteger(v)) {
      throw new Error(`${where}: mask value ${v} at pixel ${i} is not a non-negative integer label.`);
    }
    if (numClasses >= 2 && v >= numClasses) {
      const hint = v === 255 && numClasses === 2
        ? ' For 0/255 binary masks use numClasses: 1.'
        : ' Increase numClasses or fix the mask.';
      throw new Error(
        `${where}: mask value ${v} at pixel ${i} is >= numClasses (${numClasses}); ` +
          `labels must be in [0, ${numClasses - 1}].${hint}`,
      );
    }
  }
}

/**
 * Encodes a label map as a float target: numClasses 1 -> one channel (label > 0 ? 1 : 0);
 * numClasses >= 2 -> one-hot with numClasses channels. Length mask.length * channels.
 */
export function maskToTarget(mask: ArrayLike<number>, numClasses: number, where = 'mask'): Float32Array {
  checkMaskValues(mask, numClasses, where);
  if (numClasses === 1) {
    const out = new Float32Array(mask.length);
    for (let i = 0; i < mask.length; i++) out[i] = mask[i] > 0 ? 1 : 0;
    return out;
  }
  const out = new Float32Array(mask.length * numClasses);
  for (let i = 0; i < mask.length; i++) out[i * numClasses + mask[i]] = 1;
  return out;
}

/**
 * Deterministic split: shuffles indices with `seed` and holds out round(n * validationSplit)
 * samples (at least one of each when 0 < validationSplit and n >= 2).
 */
export function splitSamples<T>(
  samples: readonly T[], validationSplit: number, seed: number,
): { train: T[]; validation: T[] } {
  if (!(validationSplit >= 0 && validationSplit < 1)) {
    throw invalid('splitSamples', 'validationSplit', 'in [0, 1)', validationSplit);
  }
  checkSeed(seed, 'splitSamples');
  const order = createRng(seed).shuffle(samples.map((_, i) => i));
  let nVal = Math.round(samples.length * validationSplit);
  if (validationSplit > 0 && samples.length >= 2) nVal = Math.min(Math.max(nVal, 1), samples.length - 1);
  const valIdx = order.slice(0, nVal).sort((a, b) => a - b);
  const trainIdx = order.slice(nVal).sort((a, b) => a - b);
  return { train: trainIdx.map((i) => samples[i]), validation: valIdx.map((i) => samples[i]) };
}

function sampleTarget(
  s: SegmentationSample, index: number, opts: Required<Pick<TargetOptions, 'numClasses'>> & TargetOptions,
): { data: Float32Array; channels: number; height: number; width: number } {
  let cropped = s;
  if (opts.outputSize) {
    const [oh, ow] = opts.outputSize;
    if (oh > s.height || ow > s.width) {
      throw new Error(
        `${sampleLabel(s, index)}: outputSize ${oh}x${ow} is larger than the ${s.height}x${s.width} sample.`,
      );
    }
    const top = Math.floor((s.height - oh) / 2);
    const left = Math.floor((s.width - ow) / 2);
    cropped = {
      ...s,
      image: crop(s.image, s.width, s.channels, top, left, oh, ow),
      mask: crop(s.mask, s.width, 1, top, left, oh, ow),
      instances: s.instances ? crop(s.instances, s.width, 1, top, left, oh, ow) : undefined,
      height: oh,
      width: ow,
    };
  }
  if (opts.target) {
    const t = opts.target(cropped);
    if (!(t.data instanceof Float32Array) || t.data.length !== cropped.height * cropped.width * t.channels) {
      throw new Error(
        `target function returned ${t.data?.length} values for ${sampleLabel(s, index)}; expected ` +
          `height*width*channels = ${cropped.height}*${cropped.width}*${t.channels}.`,
      );
    }
    return { ...t, height: cropped.height, width: cropped.width };
  }
  return {
    data: maskToTarget(cropped.mask, opts.numClasses, sampleLabel(s, index)),
    channels: opts.numClasses,
    height: cropped.height,
    width: cropped.width,
  };
}

/** Checks that all samples are well-formed and share one size and channel count. */
export function checkUniformSamples(samples: readonly SegmentationSample[]): void {
  samples.forEach((s, i) => validateSample(s, i));
  const first = samples[0];
  if (!first) return;
  samples.forEach((s, i) => {
    if (s.height !== first.height || s.width !== first.width || s.channels !== first.channels) {
      throw new Error(
        `${sampleLabel(s, i)} is ${s.height}x${s.width}x${s.channels} but ${sampleLabel(first, 0)} is ` +
          `${first.height}x${first.width}x${first.channels}; all samples in a batch must share one size ` +
          `(resize them, or load with a fixed size).`,
      );
    }
  });
}

/**
 * Stacks samples into { xs: [B, H, W, C], ys: [B, H', W', K] } tensors. The caller disposes both.
 * `indexOffset` only affects sample numbering in error messages.
 */
export function batchSamples(samples: readonly SegmentationSample[], options: TargetOptions = {}, indexOffset = 0): Batch {
  const numClasses = checkInteger('batchSamples', 'numClasses', options.numClasses ?? 1);
  if (samples.length === 0) throw new Error('batchSamples: no samples to batch.');
  checkUniformSamples(samples);
  const { height: h, width: w, channels: c } = samples[0];
  const targets = samples.map((s, i) => sampleTarget(s, i + indexOffset, { ...options, numClasses }));
  const t0 = targets[0];
  targets.forEach((t, i) => {
    if (t.channels !== t0.channels || t.height !== t0.height || t.width !== t0.width) {
      throw new Error(`target for ${sampleLabel(samples[i], i + indexOffset)} has a different shape than the first.`);
    }
  });
  const xData = new Float32Array(samples.length * h * w * c);
  const yData = new Float32Array(samples.length * t0.height * t0.width * t0.channels);
  samples.forEach((s, i) => xData.set(s.image, i * h * w * c));
  targets.forEach((t, i) => yData.set(t.data, i * t.data.length));
  return {
    xs: tf.tensor4d(xData, [samples.length, h, w, c]),
    ys: tf.tensor4d(yData, [samples.length, t0.height, t0.width, t0.channels]),
  };
}

/** Train/validation samples with seeded, leak-free batching. Create with `createSegmentationDataset`. */
export class SegmentationDataset {
  readonly train: SegmentationSample[];
  readonly validation: SegmentationSample[];
  readonly numClasses: number;
  readonly outputSize?: [number, number];
  readonly seed: number;
  private readonly targetFn?: TargetFn;
  private calls = 0;

  constructor(
    train: SegmentationSample[], validation: SegmentationSample[],
    options: { numClasses: number; seed: number; outputSize?: [number, number]; target?: TargetFn },
  ) {
    this.train = train;
    this.validation = validation;
    this.numClasses = options.numClasses;
    this.seed = options.seed;
    this.outputSize = options.outputSize;
    this.targetFn = options.target;
  }

  /** Number of batches `batches()` yields for a split. */
  numBatches(batchSize: number, split: 'train' | 'validation' = 'train', dropRemainder = false): number {
    checkInteger('numBatches', 'batchSize', batchSize);
    const n = this[split].length;
    return dropRemainder ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  }

  /**
   * Yields { xs, ys } batches of one split (one pass = one epoch). Tensors are created lazily,
   * one batch at a time; the caller disposes each pair. Abandoning the loop early leaks nothing.
   */
  *batches(batchSize: number, options: BatchOptions = {}): Generator<Batch, void, undefined> {
    checkInteger('batches', 'batchSize', batchSize);
    const split = checkOneOf('batches', 'split', options.split ?? 'train', ['train', 'validation'] as const);
    if (options.augment) validateAugmentOptions(options.augment);
    const seed = options.seed ?? this.seed + this.calls;
    this.calls++;
    const rng = createRng(checkSeed(seed, 'batches'));
    const source = this[split];
    const order = source.map((_, i) => i);
    if (options.shuffle ?? split === 'train') rng.shuffle(order);
    const end = options.dropRemainder ? order.length - (order.length % batchSize) : order.length;
    for (let start = 0; start < end; start += batchSize) {
      const idx = order.slice(start, Math.min(start + batchSize, end));
      const items = idx.map((i) => (options.augment ? augmentSample(source[i], options.augment, rng) : source[i]));
      yield batchSamples(items, { numClasses: this.numClasses, outputSize: this.outputSize, target: this.targetFn });
    }
  }
}

/**
 * Builds a dataset from in-memory samples: validates them (shape, mask values against
 * numClasses), then splits train/validation with a seed.
 */
export function createSegmentationDataset(
  samples: readonly SegmentationSample[], options: DatasetOptions = {},
): SegmentationDataset {
  const numClasses = checkInteger('createSegmentationDataset', 'numClasses', options.numClasses ?? 1);
  const seed = checkSeed(options.seed ?? 0, 'createSegmentationDataset');
  if (samples.length === 0) throw new Error('createSegmentationDataset: no samples given.');
  checkUniformSamples(samples);
  samples.forEach((s, i) => checkMaskValues(s.mask, numClasses, sampleLabel(s, i)));
  if (options.outputSize) checkHeightWidth('createSegmentationDataset', 'outputSize', options.outputSize);
  const { train, validation } = splitSamples(samples, options.validationSplit ?? 0.2, seed);
  return new SegmentationDataset(train, validation, {
    numClasses, seed, outputSize: options.outputSize, target: options.target,
  });
}
