/**
 * `npm run demo`: generate synthetic cells, train a small UNet++ with deep supervision on the
 * default backend, report validation Dice/IoU, and write overlays and a training curve.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/initBackend.js';
import { createSegmentationDataset } from '../data/dataset.js';
import { encodePng } from '../data/images.js';
import { syntheticCells } from '../data/synthetic.js';
import { classMap, overlayMask } from '../inference/overlay.js';
import { createModel } from '../registry.js';
import { paramCounts, formatCount } from '../summary.js';
import { trainingCurveSvg } from '../training/curve.js';
import { finalPrediction } from '../inference/finalPrediction.js';
import { train, type TrainResult } from '../training/train.js';
import { prepareOutputFolder } from './outputs.js';

export interface DemoOptions {
  /** Output folder. Default `demo-output`. */
  out?: string;
  /** Synthetic images (80 % train, 20 % validation). Default 320. */
  count?: number;
  /** Image side. Default 64. */
  size?: number;
  /** Training epochs. Default 8 (about two minutes on wasm here). */
  epochs?: number;
  /** Filters of the UNet++. Default [8, 16, 32, 64]. */
  filters?: number[];
  batchSize?: number;
  seed?: number;
  /** Backend preference for initBackend. Default 'auto'. */
  backend?: string;
  /**
   * Write into a folder holding other files than a previous demo's (overlay-*.png,
   * training-curve.svg, model/). Default false.
   */
  overwrite?: boolean;
  log?: (line: string) => void;
}

export interface DemoResult {
  backend: string;
  result: TrainResult;
  dice: number;
  iou: number;
  seconds: number;
  files: string[];
}

/** Side-by-side RGB picture: input | truth overlay | prediction overlay, each scaled ×`zoom`. */
function panel(parts: Uint8Array[], h: number, w: number, zoom: number): { data: Uint8Array; height: number; width: number } {
  const gap = 4;
  const W = parts.length * w * zoom + (parts.length - 1) * gap;
  const H = h * zoom;
  const data = new Uint8Array(W * H * 3).fill(255);
  parts.forEach((rgb, k) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < w * zoom; x++) {
        const src = (Math.floor(y / zoom) * w + Math.floor(x / zoom)) * 3;
        const dst = (y * W + k * (w * zoom + gap) + x) * 3;
        data[dst] = rgb[src]!;
        data[dst + 1] = rgb[src + 1]!;
        data[dst + 2] = rgb[src + 2]!;
      }
    }
  });
  return { data, height: H, width: W };
}

/** The validation Dice the demo should reach; below it the CLI warns and exits with code 2. */
export const DEMO_TARGET_DICE = 0.8;

/** The exit code of `demo`: 0 when the validation Dice reaches {@link DEMO_TARGET_DICE}, else 2. */
export function demoExitCode(dice: number): 0 | 2 {
  return dice >= DEMO_TARGET_DICE ? 0 : 2;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const log = options.log ?? console.log;
  const out = options.out ?? 'demo-output';
  const size = options.size ?? 64;
  const seed = options.seed ?? 7;
  const t0 = Date.now();
  // A previous demo's files are replaced; anything else in the folder needs overwrite.
  const folder = await prepareOutputFolder(out, {
    command: 'demo',
    overwrite: options.overwrite,
    allowed: (name) => /^overlay-\d+\.png$/.test(name) || name === 'training-curve.svg' || name === 'model',
  });
  try {
    return await demoInto(options, out, size, seed, t0, log);
  } catch (e) {
    await folder.cleanup();
    throw e;
  }
}

async function demoInto(
  options: DemoOptions, out: string, size: number, seed: number, t0: number, log: (line: string) => void,
): Promise<DemoResult> {
  const backend = await initBackend((options.backend ?? 'auto') as never);
  log(`backend: ${backend}`);

  const samples = syntheticCells({ count: options.count ?? 320, size, seed });
  const data = createSegmentationDataset(samples, { numClasses: 1, validationSplit: 0.2, seed });
  log(`data: ${data.train.length} training and ${data.validation.length} validation images of ${size}x${size} synthetic cells`);

  const model = createModel('unet++', {
    inputShape: [size, size, 1],
    numClasses: 1,
    filters: options.filters ?? [8, 16, 32, 64],
    deepSupervision: true,
    name: 'demo_unetpp',
  });
  const counts = paramCounts(model);
  log(`model: UNet++ with deep supervision, ${model.outputs.length} outputs, ${formatCount(counts.total)} parameters`);

  const result = await train(model, data, {
    epochs: options.epochs ?? 8,
    batchSize: options.batchSize ?? 8,
    optimizer: tf.train.adam(3e-3),
    augment: { flip: true, rotate90: true },
    checkpointDir: join(out, 'model'),
    overwrite: true, // the demo's own folder (checked above)
    log,
  });
  const best = result.history[result.bestEpoch]!;
  const dice = best.validation!.dice;
  const iou = best.validation!.iou;

  // Overlays of validation images with the best checkpoint's predictions.
  const bestModel = await tf.loadLayersModel(`file://${join(out, 'model', 'model.json')}`);
  const files: string[] = [];
  for (let i = 0; i < Math.min(6, data.validation.length); i++) {
    const s = data.validation[i]!;
    const x = tf.tensor4d(s.image, [1, s.height, s.width, s.channels]);
    const y = bestModel.predict(x) as tf.Tensor | tf.Tensor[];
    const { classes, height, width } = classMap(finalPrediction(y));
    tf.dispose([x, y]);
    const truth = Int32Array.from(s.mask, (v) => (v > 0 ? 1 : 0));
    const img = { data: s.image, height: s.height, width: s.width, channels: s.channels };
    const gray = overlayMask(img, new Int32Array(height * width), height, width);
    const pic = panel([gray, overlayMask(img, truth, height, width), overlayMask(img, classes, height, width)], height, width, 4);
    const file = join(out, `overlay-${i}.png`);
    await writeFile(file, encodePng({ ...pic, channels: 3, maxValue: 255 }));
    files.push(file);
  }
  bestModel.dispose();
  model.dispose();
  const curve = join(out, 'training-curve.svg');
  await writeFile(curve, trainingCurveSvg(result.history, `UNet++ (deep supervision) on synthetic cells — ${backend}`));
  files.push(curve);
  const seconds = (Date.now() - t0) / 1000;
  log(`validation Dice ${dice.toFixed(4)}, IoU ${iou.toFixed(4)} (best epoch ${result.bestEpoch + 1}), ${seconds.toFixed(0)} s in all`);
  if (demoExitCode(dice) !== 0) log(`warning: validation Dice ${dice.toFixed(4)} is below ${DEMO_TARGET_DICE} — train longer (--epochs)`);
  log(`wrote ${files.length} files to ${out}/ (overlay-*.png: input | truth | prediction; training-curve.svg; model/)`);
  return { backend, result, dice, iou, seconds, files };
}
