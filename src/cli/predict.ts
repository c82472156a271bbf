/** `segmentation-models-tfjs predict`: masks and colour overlays for an image or a folder. */
import { readdir, readFile, stat, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodePng, readImage } from '../data/images.js';
import { rawToFloat, type Normalization } from '../data/loadDataset.js';
import { classMap, overlayMask } from '../inference/overlay.js';
import { optimizeForInference } from '../inference/optimize.js';
import { describeModelInfo, finalOutputIndex, modelInfo } from '../models/info.js';
import { predictTiled } from '../inference/tiled.js';
import { inputPreprocessor, modelPreprocessing } from '../encoders/preprocess.js';
import { describePreprocessing, TRAINING_RECORD, type TrainingRecord } from './train.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

export interface PredictCommandOptions {
  /** A model folder (with model.json) or the model.json file. */
  model: string;
  /** An image file or a folder of images. */
  input: string;
  /** Output folder for `<name>_mask.png` and `<name>_overlay.png`. */
  out: string;
  /** Normalisation of the inputs; default: what `train` recorded, else 'unit'. */
  normalize?: Normalization;
  /** Predict with `optimizeForInference(model)` (BatchNorm folded, activations fused). Default true. */
  optimize?: boolean;
  /**
   * Apply the encoder's input normalisation (a model on an ImageNet encoder; from its metadata).
   * Default: as `train` recorded (on unless it was trained with --no-preprocess), else true.
   */
  preprocess?: boolean;
  log?: (line: string) => void;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    throw new Error(`predict: ${path} does not exist`);
  }
}

async function listInputs(input: string): Promise<string[]> {
  if (!(await isDirectory(input))) return [input];
  const files = (await readdir(input)).filter((f) => !f.startsWith('.') && IMAGE_EXT.has(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new Error(`predict: no .png/.jpg/.jpeg images in ${input}`);
  return files.map((f) => join(input, f));
}

async function readRecord(modelDir: string): Promise<TrainingRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(modelDir, TRAINING_RECORD), 'utf8')) as TrainingRecord;
  } catch {
    return undefined;
  }
}

/**
 * Predicts every input image with overlap-tile inference (any image size), and writes the class
 * mask (binary: 0/255; multi-class: the class id) and a colour overlay as PNG.
 */
export async function predictCommand(o: PredictCommandOptions): Promise<string[]> {
  const log = o.log ?? console.log;
  const modelJson = o.model.endsWith('.json') ? o.model : join(o.model, 'model.json');
  const loaded = await tf.loadLayersModel(`file://${modelJson}`);
  // Optimised once here; predictTiled then gets optimize: false.
  const model = o.optimize === false ? loaded : optimizeForInference(loaded);
  if (model !== loaded) loaded.dispose();
  const record = await readRecord(dirname(modelJson));
  const normalize = o.normalize ?? record?.normalize ?? 'unit';
  const channels = model.inputs[0]!.shape[3];
  if (channels !== 1 && channels !== 3) throw new Error(`predict: models with ${channels} input channels are not supported (1 or 3)`);
  const [, mh, mw] = model.inputs[0]!.shape;
  const info = modelInfo(model);
  if (info !== null) log(`model: ${describeModelInfo(info)}`);
  // A training record written before records had `preprocessing` comes from a plain model.
  const preprocess = o.preprocess ?? (record === undefined || record.preprocessing !== null);
  const normalizeInput = inputPreprocessor(model, preprocess, 'predict');
  const stats = modelPreprocessing(model);
  if (normalizeInput !== null && stats !== null) log(`preprocessing: ${describePreprocessing(stats)}`);
  const final = finalOutputIndex(model);
  await mkdir(o.out, { recursive: true });
  const written: string[] = [];
  for (const file of await listInputs(o.input)) {
    const raw = await readImage(file);
    const data = rawToFloat(raw, channels, normalize, file);
    const image = tf.tensor3d(data, [raw.height, raw.width, channels]);
    // A whole image of the model's own size is one call; anything else goes through overlap-tile.
    const whole = mh === raw.height && mw === raw.width && model.outputs[final]!.shape[1] === mh;
    let pred: tf.Tensor;
    try {
      pred = whole
        ? tf.tidy(() => {
            const x = image.expandDims(0);
            const y = model.predict(normalizeInput === null ? x : normalizeInput(x)) as tf.Tensor | tf.Tensor[];
            return Array.isArray(y) ? y[final]! : y;
          })
        : await predictTiled(model, image, { optimize: false, preprocess });
    } finally {
      image.dispose();
    }
    const { classes, height, width } = classMap(pred);
    const nClasses = pred.shape[pred.rank - 1]!;
    pred.dispose();
    const stem = basename(file, extname(file));
    const maskFile = join(o.out, `${stem}_mask.png`);
    const scale = nClasses === 1 ? 255 : 1;
    await writeFile(maskFile, encodePng({ data: Uint8Array.from(classes, (c) => c * scale), height, width, channels: 1, maxValue: 255 }));
    const overlayFile = join(o.out, `${stem}_overlay.png`);
    const rgb = overlayMask({ data, height: raw.height, width: raw.width, channels }, classes, height, width);
    await writeFile(overlayFile, encodePng({ data: rgb, height, width, channels: 3, maxValue: 255 }));
    const fg = classes.reduce((a, c) => a + (c > 0 ? 1 : 0), 0) / classes.length;
    log(`${file}: ${height}x${width}, foreground ${(100 * fg).toFixed(1)} % -> ${maskFile}, ${overlayFile}`);
    written.push(maskFile, overlayFile);
  }
  model.dispose();
  return written;
}
