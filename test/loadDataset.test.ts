import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildUNet, loadSegmentationDataset, loadSegmentationSamples, pairImageMaskFiles, writeImage, type RawImage,
} from '../src/node.js';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-data-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Fresh images/ and masks/ folders. */
async function folders(): Promise<{ images: string; masks: string }> {
  const base = join(root, `case${n++}`);
  const images = join(base, 'images');
  const masks = join(base, 'masks');
  await mkdir(images, { recursive: true });
  await mkdir(masks, { recursive: true });
  return { images, masks };
}

function gray(h: number, w: number, f: (y: number, x: number) => number, bits: 8 | 16 = 8): RawImage {
  const data = bits === 16 ? new Uint16Array(h * w) : new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(y, x);
  return { data, height: h, width: w, channels: 1, maxValue: bits === 16 ? 65535 : 255 };
}

/** Writes an all-zero gray image of h x w pixels (default 4x4) as `name` into `dir`. */
function writeBlank(dir: string, name: string, h = 4, w = h): Promise<void> {
  return writeImage(join(dir, name), gray(h, w, () => 0));
}

function rgb(h: number, w: number, f: (y: number, x: number, k: number) => number): RawImage {
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++) data[(y * w + x) * 3 + k] = f(y, x, k);
  return { data, height: h, width: w, channels: 3, maxValue: 255 };
}

describe('pairing files by name', () => {
  it('pairs by stem, ignores hidden and non-image files, supports maskSuffix', async () => {
    const { images, masks } = await folders();
    for (const s of ['b', 'a', 'c']) {
      await writeBlank(images, `${s}.png`);
      await writeBlank(masks, `${s}_mask.png`);
    }
    await writeFile(join(images, 'notes.txt'), 'x');
    await writeFile(join(images, '.DS_Store'), 'x');
    const pairs = await pairImageMaskFiles(images, masks, '_mask');
    expect(pairs.map((p) => [p.name, p.image, p.mask])).toEqual(
      ['a', 'b', 'c'].map((s) => [s, join(images, `${s}.png`), join(masks, `${s}_mask.png`)]),
    );
    await expect(pairImageMaskFiles(images, masks)).rejects.toThrow(/set maskSuffix/);
  });

  it('unmatched files are listed on both sides', async () => {
    const { images, masks } = await folders();
    await writeBlank(images, 'one.png');
    await writeBlank(images, 'two.png');
    await writeBlank(masks, 'one.png');
    await writeBlank(masks, 'three.png');
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `unmatched files (images without a mask in ${masks}: two.png; masks without an image in ${images}: three.png)`,
    );
  });

  it('duplicate stems, empty and missing folders are errors', async () => {
    const { images, masks } = await folders();
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `images folder ${images} contains no .png, .jpg or .jpeg files`,
    );
    await writeBlank(images, 'a.png');
    await writeBlank(images, 'a.jpg');
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(/two files named "a": a.jpg and a.png/);
    await expect(loadSegmentationDataset({ images: join(root, 'missing'), masks })).rejects.toThrow(
      `cannot read images folder ${join(root, 'missing')}`,
    );
  });
});

describe('loading samples', () => {
  it('8-bit gray images with 0/255 binary masks: unit normalisation, binary targets', async () => {
    const { images, masks } = await folders();
    for (let i = 0; i < 5; i++) {
      await writeImage(join(images, `s${i}.png`), gray(6, 8, (y, x) => (y * 8 + x + i) % 256));
      await writeImage(join(masks, `s${i}.png`), gray(6, 8, (y, x) => (x >= 4 ? 255 : 0)));
    }
    const ds = await loadSegmentationDataset({ images, masks, validationSplit: 0.4, seed: 3 });
    expect(ds.train.length + ds.validation.length).toBe(5);
    expect(ds.validation).toHaveLength(2);
    const all = [...ds.train, ...ds.validation].sort((a, b) => (a.name! < b.name! ? -1 : 1));
    expect(all.map((s) => s.name)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    const s1 = all[1];
    expect([s1.height, s1.width, s1.channels]).toEqual([6, 8, 1]);
    expect(s1.image[0]).toBeCloseTo(1 / 255, 6);
    expect(s1.image[10]).toBeCloseTo(11 / 255, 6);
    const batch = ds.batches(5, { split: 'train', shuffle: false }).next().value!;
    expect(batch.ys.shape).toEqual([3, 6, 8, 1]);
    const ys = batch.ys.arraySync() as number[][][][];
    expect(ys[0][2].map((v) => v[0])).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    tf.dispose([batch.xs, batch.ys]);
  });

  it('16-bit images normalise by 65535; RGB becomes gray by luminance; size resizes (mask nearest)', async () => {
    const { images, masks } = await folders();
    await writeImage(join(images, 'a.png'), gray(4, 4, () => 65535 / 5, 16));
    await writeImage(join(masks, 'a.png'), gray(4, 4, (y, x) => (x < 2 ? 0 : 2)));
    await writeImage(join(images, 'b.png'), rgb(4, 4, (_y, _x, k) => [100, 200, 50][k]));
    await writeImage(join(masks, 'b.png'), gray(4, 4, (y) => (y < 2 ? 1 : 0)));
    const samples = await loadSegmentationSamples({ images, masks, numClasses: 3, size: [8, 8], channels: 1 });
    expect(samples[0].image.every((v) => Math.abs(v - 0.2) < 1e-6)).toBe(true);
    const lum = (0.299 * 100 + 0.587 * 200 + 0.114 * 50) / 255;
    expect(samples[1].image.every((v) => Math.abs(v - lum) < 1e-5)).toBe(true);
    expect([samples[0].height, samples[0].width]).toEqual([8, 8]);
    // Nearest-neighbour label upsampling: columns 0-3 are 0, 4-7 are 2.
    expect(Array.from(samples[0].mask.subarray(8, 16))).toEqual([0, 0, 0, 0, 2, 2, 2, 2]);
    // Gray replicated to RGB.
    const rgbSamples = await loadSegmentationSamples({ images, masks, numClasses: 3, channels: 3 });
    expect(Array.from(rgbSamples[0].image.subarray(0, 3)).map((v) => +v.toFixed(6))).toEqual([0.2, 0.2, 0.2]);
  });

  it("fit: 'crop' centre-crops; standardize and mean/std normalisation", async () => {
    const { images, masks } = await folders();
    await writeImage(join(images, 'a.png'), gray(6, 6, (y, x) => y * 6 + x));
    await writeImage(join(masks, 'a.png'), gray(6, 6, (y, x) => (y * 6 + x) % 2));
    const [c] = await loadSegmentationSamples({ images, masks, numClasses: 2, size: 2, fit: 'crop', normalize: { mean: [0], std: [1 / 255] } });
    expect(Array.from(c.image)).toEqual([14, 15, 20, 21]);
    expect(Array.from(c.mask)).toEqual([0, 1, 0, 1]);
    const [s] = await loadSegmentationSamples({ images, masks, numClasses: 2, normalize: 'standardize' });
    const mean = s.image.reduce((a, v) => a + v, 0) / s.image.length;
    const variance = s.image.reduce((a, v) => a + (v - mean) ** 2, 0) / s.image.length;
    expect(mean).toBeCloseTo(0, 5);
    expect(variance).toBeCloseTo(1, 4);
    await expect(loadSegmentationSamples({ images, masks, numClasses: 2, size: 8, fit: 'crop' })).rejects.toThrow(
      /is 6x6, smaller than the crop size 8x8; use fit: 'resize'/,
    );
  });

  it('one-hot targets for numClasses 3', async () => {
    const { images, masks } = await folders();
    await writeBlank(images, 'a.png', 2, 3);
    await writeImage(join(masks, 'a.png'), gray(2, 3, (y, x) => x));
    const ds = await loadSegmentationDataset({ images, masks, numClasses: 3, validationSplit: 0 });
    const b = ds.batches(1).next().value!;
    expect(b.ys.shape).toEqual([1, 2, 3, 3]);
    expect((b.ys.arraySync() as number[][][][])[0][1]).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    tf.dispose([b.xs, b.ys]);
  });

  it('reads size and output crop from a classic UNet model', async () => {
    const { images, masks } = await folders();
    await writeImage(join(images, 'a.png'), gray(50, 50, () => 10));
    await writeImage(join(masks, 'a.png'), gray(50, 50, (y, x) => (x + y) % 2));
    const model = buildUNet({ filters: [2, 4, 8], inputShape: [44, 44, 1], numClasses: 1 });
    const ds = await loadSegmentationDataset({ images, masks, model, validationSplit: 0 });
    const out = model.outputs[0].shape;
    expect(ds.outputSize).toEqual([out[1], out[2]]);
    const b = ds.batches(1).next().value!;
    expect(b.xs.shape).toEqual([1, 44, 44, 1]);
    expect(b.ys.shape).toEqual([1, out[1], out[2], 1]);
    tf.dispose([b.xs, b.ys]);
    model.dispose();
  });
});

describe('data errors name the file', () => {
  it('image/mask size mismatch', async () => {
    const { images, masks } = await folders();
    await writeBlank(images, 'a.png');
    await writeBlank(masks, 'a.png', 4, 5);
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `size mismatch: image ${join(images, 'a.png')} is 4x4 but mask ${join(masks, 'a.png')} is 4x5`,
    );
  });

  it('mask value >= numClasses (with a hint for 0/255 masks)', async () => {
    const { images, masks } = await folders();
    await writeBlank(images, 'a.png');
    await writeImage(join(masks, 'a.png'), gray(4, 4, (y, x) => (y === 1 && x === 2 ? 7 : 1)));
    await expect(loadSegmentationDataset({ images, masks, numClasses: 3 })).rejects.toThrow(
      `mask ${join(masks, 'a.png')}: mask value 7 at pixel 6 is >= numClasses (3); labels must be in [0, 2]`,
    );
    await writeImage(join(masks, 'a.png'), gray(4, 4, (y) => (y > 1 ? 255 : 0)));
    await expect(loadSegmentationDataset({ images, masks, numClasses: 2 })).rejects.toThrow(
      /mask value 255 .* For 0\/255 binary masks use numClasses: 1/,
    );
    // numClasses 1 accepts 0/255 (foreground = value > 0).
    const ds = await loadSegmentationDataset({ images, masks, numClasses: 1, validationSplit: 0 });
    expect(Array.from(ds.train[0].mask.subarray(0, 16))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]);
  });

  it('unreadable file and colour mask', async () => {
    const { images, masks } = await folders();
    await writeFile(join(images, 'a.png'), 'this is not a png');
    await writeBlank(masks, 'a.png');
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `Cannot decode ${join(images, 'a.png')}: not a PNG or JPEG file`,
    );
    await writeBlank(images, 'a.png');
    await writeImage(join(masks, 'a.png'), rgb(4, 4, (_y, _x, k) => k * 10));
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `mask ${join(masks, 'a.png')} is a colour image (pixel 0 is 0,10,20)`,
    );
  });

  it('images of different sizes without a target size', async () => {
    const { images, masks } = await folders();
    await writeBlank(images, 'a.png');
    await writeBlank(masks, 'a.png');
    await writeBlank(images, 'b.png', 5);
    await writeBlank(masks, 'b.png', 5);
    await expect(loadSegmentationDataset({ images, masks })).rejects.toThrow(
      `image ${join(images, 'b.png')} is 5x5 but earlier images are 4x4; pass size`,
    );
    const ds = await loadSegmentationDataset({ images, masks, size: 4 });
    expect(ds.train.length + ds.validation.length).toBe(2);
  });
});
