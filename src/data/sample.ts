/**
 * The in-memory sample type shared by the data pipeline. Browser-safe.
 *
 * Ownership: samples hold plain typed arrays, never tensors, so they need no disposal. Tensors
 * appear only when batching (`SegmentationDataset.batches`, `batchSamples`); the caller disposes
 * those.
 */
import { checkInteger } from '../util/validate.js';

/** One image with its label mask, stored row-major (HWC for the image, HW for label maps). */
export interface SegmentationSample {
  /** Normalised pixel values, length height * width * channels, channel-last. */
  image: Float32Array;
  /**
   * Class labels per pixel, length height * width. With numClasses 1 any value > 0 is
   * foreground; with numClasses >= 2 values must lie in [0, numClasses).
   */
  mask: Int32Array;
  height: number;
  width: number;
  channels: number;
  /** Optional instance ids per pixel (0 = background), e.g. for UNet border weight maps. */
  instances?: Int32Array;
  /** Optional name (file stem) used in error messages. */
  name?: string;
  /** [height, width] of the file before resizing or cropping (set by the folder loader). */
  sourceSize?: [number, number];
}

/** Pixel arrays the geometric helpers operate on. */
export type PixelArray = Float32Array | Int32Array;

/** Allocates an array of the same type as `like` with `length` elements. */
export function allocLike<T extends PixelArray>(like: T, length: number): T {
  return (like instanceof Float32Array ? new Float32Array(length) : new Int32Array(length)) as T;
}

/** Human-readable sample name for error messages. */
export function sampleLabel(sample: SegmentationSample, index: number): string {
  return sample.name !== undefined ? `sample "${sample.name}"` : `sample #${index}`;
}

/** Throws a clear error when a sample's arrays do not match its declared shape. */
export function validateSample(sample: SegmentationSample, index: number): void {
  const label = sampleLabel(sample, index);
  const { height, width, channels } = sample;
  for (const [key, v] of [['height', height], ['width', width], ['channels', channels]] as const) {
    checkInteger(label, key, v);
  }
  if (!(sample.image instanceof Float32Array) || sample.image.length !== height * width * channels) {
    throw new Error(
      `${label}: image must be a Float32Array of length height*width*channels = ` +
        `${height * width * channels}, got ${describeArray(sample.image)}.`,
    );
  }
  if (!(sample.mask instanceof Int32Array) || sample.mask.length !== height * width) {
    throw new Error(
      `${label}: mask must be an Int32Array of length height*width = ${height * width}, ` +
        `got ${describeArray(sample.mask)}.`,
    );
  }
  if (sample.instances !== undefined &&
      (!(sample.instances instanceof Int32Array) || sample.instances.length !== height * width)) {
    throw new Error(
      `${label}: instances must be an Int32Array of length height*width = ${height * width}, ` +
        `got ${describeArray(sample.instances)}.`,
    );
  }
}

function describeArray(a: unknown): string {
  if (a === undefined || a === null) return String(a);
  const ctor = (a as object).constructor?.name ?? typeof a;
  const len = (a as { length?: number }).length;
  return len === undefined ? ctor : `${ctor}(${len})`;
}
