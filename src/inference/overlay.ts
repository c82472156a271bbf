/**
 * Turning predictions into pictures: class maps and coloured overlays on the input image.
 * Browser-safe (plain typed arrays; the Node CLI writes them as PNG, the example page draws them).
 */
import * as tf from '@tensorflow/tfjs';

/** Colours of classes 0..7 (class 0, background, is never drawn). */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [0, 0, 0], [255, 64, 64], [64, 200, 64], [64, 128, 255], [255, 200, 0], [200, 64, 255], [0, 220, 220], [255, 128, 0],
];

/** The per-pixel classes of a prediction, row-major. */
export interface ClassMap {
  classes: Int32Array;
  height: number;
  width: number;
}

function classTensor(where: string, pred: tf.Tensor, threshold: number): { t: tf.Tensor; h: number; w: number } {
  if (pred.rank !== 3 && !(pred.rank === 4 && pred.shape[0] === 1)) {
    throw new Error(`${where}: expected one prediction [1, H, W, C] or [H, W, C], got [${pred.shape}]`);
  }
  const [h, w, c] = pred.shape.slice(-3) as [number, number, number];
  const t = tf.tidy(() => {
    const p = pred.reshape([h, w, c]);
    return c === 1 ? tf.greater(p, threshold).toInt().reshape([h, w]) : tf.argMax(p, -1).toInt();
  });
  return { t, h, w };
}

/**
 * The per-pixel class of one prediction `[1, H, W, C]` or `[H, W, C]`: probability > `threshold`
 * for a single channel, arg-max otherwise. Returns `{ classes, height, width }`. Reads the result
 * synchronously; on the webgpu backend use {@link classMapAsync}.
 */
export function classMap(pred: tf.Tensor, threshold = 0.5): ClassMap {
  const { t, h, w } = classTensor('classMap', pred, threshold);
  const classes = t.dataSync() as Int32Array;
  t.dispose();
  return { classes: Int32Array.from(classes), height: h, width: w };
}

/**
 * {@link classMap} with an asynchronous read, for GPU backends: webgpu cannot read synchronously
 * in Node at all, and in browsers its synchronous read is slow (in headless Chromium on SwiftShader
 * it even loses the device).
 */
export async function classMapAsync(pred: tf.Tensor, threshold = 0.5): Promise<ClassMap> {
  const { t, h, w } = classTensor('classMapAsync', pred, threshold);
  try {
    return { classes: Int32Array.from((await t.data()) as Int32Array), height: h, width: w };
  } finally {
    t.dispose();
  }
}

/** The background image of {@link overlayMask}. */
export interface OverlayImage {
  /** Float pixels in [0, 1], channel-last. */
  data: ArrayLike<number>;
  height: number;
  width: number;
  channels: number;
}

/**
 * An RGB picture (Uint8 `[h, w, 3]`) of the image in gray with each non-background class tinted in
 * its palette colour (opacity `alpha`). When the class map is smaller than the image (the classic
 * UNet's output), the image's centre is used.
 */
export function overlayMask(
  image: OverlayImage,
  classes: ArrayLike<number>,
  height: number,
  width: number,
  options: { alpha?: number; palette?: readonly (readonly [number, number, number])[] } = {},
): Uint8Array {
  const { alpha = 0.5, palette = PALETTE } = options;
  if (classes.length !== height * width) {
    throw new Error(`overlayMask: class map has ${classes.length} values, expected ${height}x${width}`);
  }
  if (height > image.height || width > image.width) {
    throw new Error(`overlayMask: class map ${height}x${width} is larger than the image ${image.height}x${image.width}`);
  }
  const top = Math.floor((image.height - height) / 2);
  const left = Math.floor((image.width - width) / 2);
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = ((y + top) * image.width + (x + left)) * image.channels;
      let g = 0;
      for (let k = 0; k < image.channels; k++) g += image.data[p + k]!;
      g = Math.min(255, Math.max(0, (255 * g) / image.channels));
      const cls = classes[y * width + x]!;
      const a = cls > 0 ? alpha : 0;
      const color = palette[cls % palette.length]!;
      for (let k = 0; k < 3; k++) out[(y * width + x) * 3 + k] = Math.round((1 - a) * g + a * color[k]!);
    }
  }
  return out;
}
