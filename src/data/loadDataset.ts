/**
 * Loading a segmentation dataset from an images folder and a masks folder. Node-only (fs).
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { checkMaskValues, createSegmentationDataset, type DatasetOptions, type SegmentationDataset } from './dataset.js';
import { readImage, type RawImage } from './images.js';
import { crop, resizeBilinear, resizeNearest } from './pixels.js';
import type { SegmentationSample } from './sample.js';
import { checkOneOf, checkSize } from '../util/validate.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** How image intensities are normalised. */
export type Normalization = 'unit' | 'standardize' | { mean: number[]; std: number[] };

export interface LoadSegmentationDatasetOptions extends DatasetOptions {
  /** Folder of images (.png, .jpg, .jpeg; other and hidden files are ignored). */
  images: string;
  /** Folder of label masks, paired with images by file name without extension. */
  masks: string;
  /** Mask names are the image name plus this suffix, e.g. '_mask' pairs a.png with a_mask.png. Default ''. */
  maskSuffix?: string;
  /** Target [height, width] (or square side). Default: the model's input size, else the images' own size. */
  size?: number | [number, number];
  /** 'resize' (default; image bilinear, mask nearest) or 'crop' (centre crop; images must be large enough). */
  fit?: 'resize' | 'crop';
  /** Image channels (1 or 3): RGB is converted to gray by luminance, gray replicated to RGB. Default: the model's, else the first image's. */
  channels?: 1 | 3;
  /**
   * 'unit' (default): divide by the format's maximum (255, 65535, ...) to [0, 1].
   * 'standardize': per image and channel, zero mean and unit variance.
   * { mean, std }: per channel (x / max - mean) / std.
   */
  normalize?: Normalization;
  /**
   * Read size and channels from the model's input, and `outputSize` from its output when that is
   * smaller (the classic valid UNet).
   */
  model?: tf.LayersModel;
}

function stemOf(file: string): string {
  return file.slice(0, file.length - extname(file).length);
}

async function listImages(dir: string, what: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new Error(`loadSegmentationDataset: cannot read ${what} folder ${dir}: ${(e as Error).message}`);
  }
  const byStem = new Map<string, string>();
  for (const name of names.sort()) {
    if (name.startsWith('.') || !IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) continue;
    const stem = stemOf(name);
    const prev = byStem.get(stem);
    if (prev !== undefined) {
      throw new Error(`loadSegmentationDataset: ${what} folder ${dir} has two files named "${stem}": ${prev} and ${name}.`);
    }
    byStem.set(stem, name);
  }
  if (byStem.size === 0) {
    throw new Error(`loadSegmentationDataset: ${what} folder ${dir} contains no .png, .jpg or .jpeg files.`);
  }
  return byStem;
}

function listSome(names: string[]): string {
  return names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
}

/** Pairs image and mask files by name; throws naming unmatched files. Returns [imageFile, maskFile][] sorted by name. */
export async function pairImageMaskFiles(
  imagesDir: string, masksDir: string, maskSuffix = '',
): Promise<{ name: string; image: string; mask: string }[]> {
  const images = await listImages(imagesDir, 'images');
  const masksRaw = await listImages(masksDir, 'masks');
  const masks = new Map<string, string>();
  const badSuffix: string[] = [];
  for (const [stem, file] of masksRaw) {
    if (maskSuffix && !stem.endsWith(maskSuffix)) badSuffix.push(file);
    else masks.set(maskSuffix ? stem.slice(0, -maskSuffix.length) : stem, file);
  }
  const noMask = [...images.keys()].filter((s) => !masks.has(s)).map((s) => images.get(s) as string);
  const noImage = [...masks.keys()].filter((s) => !images.has(s)).map((s) => masks.get(s) as string);
  noImage.push(...badSuffix);
  if (noMask.length > 0 || noImage.length > 0) {
    const parts: string[] = [];
    if (noMask.length) parts.push(`images without a mask in ${masksDir}: ${listSome(noMask)}`);
    if (noImage.length) parts.push(`masks without an image in ${imagesDir}: ${listSome(noImage)}`);
    throw new Error(
      `loadSegmentationDataset: unmatched files (${parts.join('; ')}). Masks pair with images by name ` +
        `without extension${maskSuffix ? ` plus the suffix "${maskSuffix}"` : ''}; set maskSuffix if mask names carry one (e.g. '_mask').`,
    );
  }
  return [...images.keys()].map((stem) => ({
    name: stem, image: join(imagesDir, images.get(stem) as string), mask: join(masksDir, masks.get(stem) as string),
  }));
}

function toChannels(raw: RawImage, channels: 1 | 3): Float32Array {
  const n = raw.width * raw.height;
  const out = new Float32Array(n * channels);
  const d = raw.data;
  for (let p = 0; p < n; p++) {
    if (raw.channels === channels) {
      for (let k = 0; k < channels; k++) out[p * channels + k] = d[p * channels + k];
    } else if (channels === 1) {
      out[p] = 0.299 * d[p * 3] + 0.587 * d[p * 3 + 1] + 0.114 * d[p * 3 + 2];
    } else {
      out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = d[p];
    }
  }
  return out;
}

function maskLabels(raw: RawImage, file: string): Int32Array {
  const n = raw.width * raw.height;
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    if (raw.channels === 3) {
      const r = raw.data[p * 3];
      if (raw.data[p * 3 + 1] !== r || raw.data[p * 3 + 2] !== r) {
        throw new Error(
          `loadSegmentationDataset: mask ${file} is a colour image (pixel ${p} is ${raw.data[p * 3]},${raw.data[p * 3 + 1]},` +
            `${raw.data[p * 3 + 2]}); masks must be gray label images (value = class id).`,
        );
      }
      out[p] = r;
    } else {
      out[p] = raw.data[p];
    }
  }
  return out;
}

function normalizeImage(data: Float32Array, channels: number, maxValue: number, norm: Normalization, file: string): void {
  for (let i = 0; i < data.length; i++) data[i] /= maxValue;
  if (norm === 'unit') return;
  const n = data.length / channels;
  for (let k = 0; k < channels; k++) {
    let mean: number;
    let std: number;
    if (norm === 'standardize') {
      mean = 0;
      for (let p = 0; p < n; p++) mean += data[p * channels + k];
      mean /= n;
      let v = 0;
      for (let p = 0; p < n; p++) v += (data[p * channels + k] - mean) ** 2;
      std = Math.sqrt(v / n) || 1;
    } else {
      if (norm.mean.length !== channels || norm.std.length !== channels || norm.std.some((s) => !(s > 0))) {
        throw new Error(
          `loadSegmentationDataset: normalize.mean and normalize.std need ${channels} values (std > 0) for ${file}.`,
        );
      }
      mean = norm.mean[k];
      std = norm.std[k];
    }
    for (let p = 0; p < n; p++) data[p * channels + k] = (data[p * channels + k] - mean) / std;
  }
}

/** Reads, pairs, checks and normalises every image/mask pair into samples (no split). */
export async function loadSegmentationSamples(options: LoadSegmentationDatasetOptions): Promise<SegmentationSample[]> {
  const numClasses = options.numClasses ?? 1;
  const fit = checkOneOf('loadSegmentationDataset', 'fit', options.fit ?? 'resize', ['resize', 'crop'] as const);
  const normalize = options.normalize ?? 'unit';
  const inShape = options.model?.inputs[0].shape;
  const optSize = options.size !== undefined ? checkSize('loadSegmentationDataset', 'size', options.size) : undefined;
  const size = optSize ?? (inShape && inShape[1] != null && inShape[2] != null ? [inShape[1], inShape[2]] : undefined);
  const modelChannels = inShape?.[3] === 1 || inShape?.[3] === 3 ? inShape[3] : undefined;
  let channels = options.channels !== undefined
    ? checkOneOf('loadSegmentationDataset', 'channels', options.channels, [1, 3] as const)
    : modelChannels;
  const pairs = await pairImageMaskFiles(options.images, options.masks, options.maskSuffix ?? '');
  const samples: SegmentationSample[] = [];
  for (const pair of pairs) {
    const img = await readImage(pair.image);
    const msk = await readImage(pair.mask);
    if (img.height !== msk.height || img.width !== msk.width) {
      throw new Error(
        `loadSegmentationDataset: size mismatch: image ${pair.image} is ${img.height}x${img.width} but mask ` +
          `${pair.mask} is ${msk.height}x${msk.width}.`,
      );
    }
    channels ??= img.channels;
    const target = size ?? [img.height, img.width];
    const first = samples[0];
    if (!size && first && (first.height !== img.height || first.width !== img.width)) {
      throw new Error(
        `loadSegmentationDataset: image ${pair.image} is ${img.height}x${img.width} but earlier images are ` +
          `${first.height}x${first.width}; pass size (with fit 'resize' or 'crop') to bring all images to one size.`,
      );
    }
    let image = toChannels(img, channels);
    normalizeImage(image, channels, img.maxValue, normalize, pair.image);
    let mask = maskLabels(msk, pair.mask);
    checkMaskValues(mask, numClasses, `mask ${pair.mask}`);
    const [th, tw] = target;
    if (th !== img.height || tw !== img.width) {
      if (fit === 'resize') {
        image = resizeBilinear(image, img.height, img.width, channels, th, tw);
        mask = resizeNearest(mask, img.height, img.width, 1, th, tw);
      } else {
        if (img.height < th || img.width < tw) {
          throw new Error(
            `loadSegmentationDataset: image ${pair.image} is ${img.height}x${img.width}, smaller than the crop ` +
              `size ${th}x${tw}; use fit: 'resize' or a smaller size.`,
          );
        }
        const top = Math.floor((img.height - th) / 2);
        const left = Math.floor((img.width - tw) / 2);
        image = crop(image, img.width, channels, top, left, th, tw);
        mask = crop(mask, img.width, 1, top, left, th, tw);
      }
    }
    samples.push({ image, mask, height: th, width: tw, channels, name: pair.name, sourceSize: [img.height, img.width] });
  }
  return samples;
}

/**
 * Loads an images folder and a masks folder as a `SegmentationDataset` (seeded train/validation
 * split; `batches()` yields tensors the caller disposes). Errors name the offending file:
 * unmatched names, image/mask size mismatch, a mask value >= numClasses, unreadable files.
 */
export async function loadSegmentationDataset(options: LoadSegmentationDatasetOptions): Promise<SegmentationDataset> {
  const samples = await loadSegmentationSamples(options);
  let outputSize = options.outputSize;
  const outShape = options.model?.outputs[0].shape;
  if (!outputSize && outShape && outShape[1] != null && outShape[2] != null &&
      (outShape[1] < samples[0].height || outShape[2] < samples[0].width)) {
    outputSize = [outShape[1], outShape[2]];
  }
  return createSegmentationDataset(samples, { ...options, outputSize });
}

/**
 * Converts a decoded image to normalised float pixels with `channels` channels, exactly as the
 * dataset loader does (so inference sees what training saw).
 */
export function rawToFloat(raw: RawImage, channels: 1 | 3, normalize: Normalization = 'unit', file = 'image'): Float32Array {
  const data = toChannels(raw, channels);
  normalizeImage(data, channels, raw.maxValue, normalize, file);
  return data;
}
