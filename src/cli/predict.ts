/** `segmentation-models-tfjs predict`: masks and colour overlays for an image or a folder. */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { explainWasmFailure } from '../backend/recover.js';
import { encodePng, readImage } from '../data/images.js';
import { rawToFloat, type Normalization } from '../data/loadDataset.js';
import { resizeBilinear } from '../data/pixels.js';
import { classMap, overlayMask } from '../inference/overlay.js';
import { optimizeForInference } from '../inference/optimize.js';
import { describeModelInfo, finalOutputIndex, modelInfo } from '../models/info.js';
import { predictTiled } from '../inference/tiled.js';
import { inputPreprocessor, modelPreprocessing } from '../encoders/preprocess.js';
import { pathKind } from '../io/nodeFiles.js';
import { prepareOutputFolder } from './outputs.js';
import { loadCliModel } from './smp.js';
import { describePreprocessing, TRAINING_RECORD, type TrainingRecord } from './train.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);
/** Tile size for an SMP checkpoint (any size; a multiple of 2^5 suits every encoder depth). */
const SMP_TILE_SIZE: [number, number] = [256, 256];

export interface PredictCommandOptions {
  /** A model folder (with model.json), the model.json file, or an SMP checkpoint folder (config.json + model.safetensors). */
  model: string;
  /** An image file or a folder of images. */
  input: string;
  /** Output folder for `<name>_mask.png` and `<name>_overlay.png`. */
  out: string;
  /** Normalisation of the inputs; default: what `train` recorded, else 'unit'. */
  normalize?: Normalization;
  /**
   * Tile size for overlap-tile prediction. Default: the model's fixed input size, else the size it
   * was trained at (training.json); required for variable-size models without a training record.
   */
  tileSize?: number | [number, number];
  /** Write into a non-empty output folder (replacing files of the same names). Default false. */
  overwrite?: boolean;
  /** Predict with `optimizeForInference(model)` (BatchNorm folded, activations fused). Default true. */
  optimize?: boolean;
  /**
   * Apply the encoder's input normalisation (a model on an ImageNet encoder; from its metadata).
   * Default: as `train` recorded (on unless it was trained with --no-preprocess), else true.
   */
  preprocess?: boolean;
  log?: (line: string) => void;
}

/**
 * The scale at which `train` saw the images: with `fit: 'resize'` from files of one size
 * (`sourceSize`) to `size`, the same factor; from files of mixed sizes, each image is resized to
 * `size` (null here). 1 when training did not resize (or crop), or without a record.
 */
type TrainingScale = { kind: 'factor'; sy: number; sx: number } | { kind: 'resize'; size: [number, number] };

export function trainingScale(record: TrainingRecord | undefined): TrainingScale {
  if (!record || (record.fit ?? 'resize') !== 'resize' || record.sourceSize === undefined) return { kind: 'factor', sy: 1, sx: 1 };
  if (record.sourceSize === null) return { kind: 'resize', size: record.size };
  return { kind: 'factor', sy: record.size[0] / record.sourceSize[0], sx: record.size[1] / record.sourceSize[1] };
}

function scaledSize(scale: TrainingScale, h: number, w: number): [number, number] {
  if (scale.kind === 'resize') return scale.size;
  return [Math.max(1, Math.round(h * scale.sy)), Math.max(1, Math.round(w * scale.sx))];
}

async function listInputs(input: string): Promise<string[]> {
  const kind = await pathKind(input);
  if (kind === null) throw new Error(`predict: ${input} does not exist`);
  if (kind === 'file') return [input];
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
export async function predictCommand(options: PredictCommandOptions): Promise<string[]> {
  const log = options.log ?? console.log;
  const inputs = await listInputs(options.input);
  // Plan every output before reading the model or writing anything.
  const planned = inputs.map((file) => {
    const stem = basename(file, extname(file));
    return { file, mask: join(options.out, `${stem}_mask.png`), overlay: join(options.out, `${stem}_overlay.png`) };
  });
  const inputPaths = new Set(inputs.map((f) => resolve(f)));
  const byOutput = new Map<string, string>();
  for (const p of planned) {
    for (const target of [p.mask, p.overlay]) {
      if (inputPaths.has(resolve(target))) {
        throw new Error(`predict: writing ${target} would overwrite the input image ${target}; choose another --out folder.`);
      }
      const other = byOutput.get(resolve(target));
      if (other !== undefined) {
        throw new Error(`predict: ${other} and ${p.file} would both be written to ${target} (same name); rename one of them.`);
      }
      byOutput.set(resolve(target), p.file);
    }
  }
  const folder = await prepareOutputFolder(options.out, { command: 'predict', overwrite: options.overwrite, inputs: [options.input] });
  try {
    return await predictInto(options, planned, log);
  } catch (e) {
    await folder.cleanup();
    throw e;
  }
}

async function predictInto(
  options: PredictCommandOptions, planned: { file: string; mask: string; overlay: string }[], log: (line: string) => void,
): Promise<string[]> {
  const { model: loaded, modelJson, smp } = await loadCliModel(options.model);
  // Optimised once here; predictTiled then gets optimize: false.
  const model = options.optimize === false ? loaded : optimizeForInference(loaded);
  if (model !== loaded) loaded.dispose();
  const record = modelJson === null ? undefined : await readRecord(dirname(modelJson));
  const normalize = options.normalize ?? record?.normalize ?? 'unit';
  const channels = model.inputs[0]!.shape[3];
  if (channels !== 1 && channels !== 3) throw new Error(`predict: models with ${channels} input channels are not supported (1 or 3)`);
  const [, mh, mw] = model.inputs[0]!.shape;
  const info = modelInfo(model);
  if (info !== null) log(`model: ${describeModelInfo(info)}`);
  // A training record written before records had `preprocessing` comes from a plain model.
  const preprocess = options.preprocess ?? (record === undefined || record.preprocessing !== null);
  const normalizeInput = inputPreprocessor(model, preprocess, 'predict');
  const stats = modelPreprocessing(model);
  if (normalizeInput !== null && stats !== null) log(`preprocessing: ${describePreprocessing(stats)}`);
  const final = finalOutputIndex(model);
  const scale = trainingScale(record);
  // Variable-size models tile at the size they were trained at.
  const tileSize = options.tileSize ?? (mh == null || mw == null ? record?.size ?? (smp ? SMP_TILE_SIZE : undefined) : undefined);
  const written: string[] = [];
  try {
    for (const { file, mask: maskFile, overlay: overlayFile } of planned) {
      const raw = await readImage(file);
      const data = rawToFloat(raw, channels, normalize, file);
      const [sh, sw] = scaledSize(scale, raw.height, raw.width);
      const scaled = sh !== raw.height || sw !== raw.width;
      const input = scaled ? resizeBilinear(data, raw.height, raw.width, channels, sh, sw) : data;
      const image = tf.tensor3d(input, [sh, sw, channels]);
      // A whole image of the model's own size is one call; anything else goes through overlap-tile.
      const whole = mh === sh && mw === sw && model.outputs[final]!.shape[1] === mh;
      let pred: tf.Tensor;
      try {
        pred = whole
          ? tf.tidy(() => {
              const x = image.expandDims(0);
              const y = model.predict(normalizeInput === null ? x : normalizeInput(x)) as tf.Tensor | tf.Tensor[];
              return Array.isArray(y) ? y[final]! : y;
            })
          : await predictTiled(model, image, { tileSize, optimize: false, preprocess });
      } catch (e) {
        throw await explainWasmFailure(e, `predict: ${file} (${sh}x${sw})`, 'predict with a smaller --tile-size');
      } finally {
        image.dispose();
      }
      if (scaled) {
        // Back to the image's own size: resample the class probabilities, then take the classes.
        const k = pred.shape[pred.rank - 1]!;
        const probs = resizeBilinear((await pred.data()) as Float32Array, sh, sw, k, raw.height, raw.width);
        pred.dispose();
        pred = tf.tensor3d(probs, [raw.height, raw.width, k]);
      }
      const { classes, height, width } = classMap(pred);
      const nClasses = pred.shape[pred.rank - 1]!;
      pred.dispose();
      const scaleNote = scaled ? ` (predicted at ${sh}x${sw}, the training scale)` : '';
      const pixelScale = nClasses === 1 ? 255 : 1;
      await writeFile(maskFile, encodePng({ data: Uint8Array.from(classes, (c) => c * pixelScale), height, width, channels: 1, maxValue: 255 }));
      const rgb = overlayMask({ data, height: raw.height, width: raw.width, channels }, classes, height, width);
      await writeFile(overlayFile, encodePng({ data: rgb, height, width, channels: 3, maxValue: 255 }));
      const fg = classes.reduce((a, c) => a + (c > 0 ? 1 : 0), 0) / classes.length;
      log(`${file}: ${height}x${width}${scaleNote}, foreground ${(100 * fg).toFixed(1)} % -> ${maskFile}, ${overlayFile}`);
      written.push(maskFile, overlayFile);
    }
  } finally {
    model.dispose();
  }
  return written;
}
