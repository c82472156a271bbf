/** `segmentation-models-tfjs train`: train a model by name on folders of images and masks. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSegmentationDataset } from '../data/dataset.js';
import { loadSegmentationSamples, type Normalization } from '../data/loadDataset.js';
import { modelPreprocessing, type InputNormalization } from '../encoders/preprocess.js';
import { describeModelInfo, finalOutputIndex, modelInfo, PLAIN_ENCODER } from '../models/info.js';
import { createModel, resolveModelName } from '../registry.js';
import { formatCount, paramCounts } from '../summary.js';
import { trainingCurveSvg } from '../training/curve.js';
import { train, type TrainResult } from '../training/train.js';

/** What `train` records next to the model so `predict` preprocesses images the same way. */
export interface TrainingRecord {
  model: string;
  modelOptions: Record<string, unknown>;
  numClasses: number;
  channels: 1 | 3;
  size: [number, number];
  normalize: Normalization;
  /**
   * The encoder normalisation applied after `normalize` (models on an ImageNet encoder), or null
   * (plain models, or trained with `preprocess: false`). `predict` applies the same.
   */
  preprocessing: InputNormalization | null;
  epochs: number;
  bestEpoch: number;
  monitor: TrainResult['monitor'];
  bestScore: number;
}

export const TRAINING_RECORD = 'training.json';

export interface TrainCommandOptions {
  model: string;
  images: string;
  masks: string;
  out: string;
  epochs?: number;
  batchSize?: number;
  numClasses?: number;
  /** Resize every pair to this size (square side or [H, W]); default the images' own size. */
  size?: number | [number, number];
  maskSuffix?: string;
  validationSplit?: number;
  seed?: number;
  learningRate?: number;
  /** Flips and 90° rotations during training. */
  augment?: boolean;
  normalize?: Normalization;
  /** Apply the encoder's input normalisation (models on an ImageNet encoder). Default true. */
  preprocess?: boolean;
  /** Any other model option (filters, batchNorm, deepSupervision, encoder, encoderDepth, ...). */
  modelOptions?: Record<string, unknown>;
  log?: (line: string) => void;
}

export async function trainCommand(o: TrainCommandOptions): Promise<{ result: TrainResult; record: TrainingRecord }> {
  const log = o.log ?? console.log;
  const name = resolveModelName(o.model);
  const numClasses = o.numClasses ?? 1;
  const normalize = o.normalize ?? 'unit';
  const samples = await loadSegmentationSamples({
    images: o.images,
    masks: o.masks,
    maskSuffix: o.maskSuffix,
    numClasses,
    size: o.size,
    normalize,
  });
  const { height, width, channels } = samples[0]!;
  const modelOptions = { ...o.modelOptions, inputShape: [height, width, channels], numClasses };
  const model = createModel(name, modelOptions);
  const preprocessing = o.preprocess === false ? null : modelPreprocessing(model);
  if (preprocessing !== null && normalize !== 'unit') {
    model.dispose();
    throw new Error(
      `train: the model's encoder (${preprocessing.encoder}) normalises images in [0, 1] itself; ` +
        `use normalize 'unit' (the default), or preprocess: false (--no-preprocess) to keep your own normalisation`,
    );
  }
  const out = model.outputs[finalOutputIndex(model)]!.shape;
  const outputSize: [number, number] | undefined =
    out[1] !== height || out[2] !== width ? [out[1] as number, out[2] as number] : undefined;
  const data = createSegmentationDataset(samples, {
    numClasses,
    validationSplit: o.validationSplit ?? 0.2,
    seed: o.seed ?? 0,
    outputSize,
  });
  log(
    `${name}: ${formatCount(paramCounts(model).total)} parameters; ${data.train.length} training / ` +
      `${data.validation.length} validation pairs of ${height}x${width}x${channels}`,
  );
  const info = modelInfo(model);
  if (info !== null && info.encoder !== PLAIN_ENCODER) log(`model: ${describeModelInfo(info)}`);
  if (preprocessing !== null) log(`preprocessing: ${describePreprocessing(preprocessing)}`);
  await mkdir(o.out, { recursive: true });
  const result = await train(model, data, {
    epochs: o.epochs ?? 20,
    batchSize: o.batchSize ?? 8,
    optimizer: tf.train.adam(o.learningRate ?? 1e-3),
    augment: o.augment ? { flip: true, rotate90: true } : undefined,
    checkpointDir: o.out,
    preprocess: preprocessing !== null,
    log,
  });
  if (result.monitor === 'loss' && result.bestEpoch < 0) throw new Error('train: no epoch finished');
  const record: TrainingRecord = {
    model: name,
    modelOptions,
    numClasses,
    channels: channels as 1 | 3,
    size: [height, width],
    normalize,
    preprocessing,
    epochs: result.history.length,
    bestEpoch: result.bestEpoch,
    monitor: result.monitor,
    bestScore: result.bestScore,
  };
  await writeFile(join(o.out, TRAINING_RECORD), JSON.stringify(record, null, 2));
  await writeFile(join(o.out, 'training-curve.svg'), trainingCurveSvg(result.history, `${name} training`));
  await writeFile(join(o.out, 'history.json'), JSON.stringify(result.history, null, 2));
  model.dispose();
  log(`best epoch ${result.bestEpoch + 1} (${result.monitor} ${result.bestScore.toFixed(4)}); model saved to ${o.out}/model.json`);
  return { result, record };
}

/** `(x − mean) / std on [0, 1] inputs, mean [...], std [...] (resnet34)`. */
export function describePreprocessing(p: InputNormalization): string {
  const list = (v: number[]) => `[${v.map((x) => Number(x.toFixed(4))).join(', ')}]`;
  return `(x - mean) / std on inputs in [${p.inputRange.join(', ')}], mean ${list(p.mean)}, std ${list(p.std)} (${p.encoder})`;
}
