/** `segmentation-models-tfjs train`: train a model by name on folders of images and masks. */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createSegmentationDataset } from '../data/dataset.js';
import { loadSegmentationSamples, type Normalization } from '../data/loadDataset.js';
import { modelPreprocessing, type InputNormalization } from '../encoders/preprocess.js';
import { describeModelInfo, finalOutputIndex, modelInfo, PLAIN_ENCODER } from '../models/info.js';
import { createModel, resolveModelName } from '../registry.js';
import { formatCount, paramCounts } from '../summary.js';
import { trainingCurveSvg } from '../training/curve.js';
import { train, type EpochLogs, type TrainResult } from '../training/train.js';
import { writeFileAtomic } from '../io/nodeFiles.js';
import { prepareOutputFolder } from './outputs.js';

/** What `train` records next to the model so `predict` preprocesses images the same way. */
export interface TrainingRecord {
  model: string;
  modelOptions: Record<string, unknown>;
  numClasses: number;
  channels: 1 | 3;
  /** Input size the model was trained at ([height, width]). */
  size: [number, number];
  /** How the files were brought to `size`. */
  fit?: 'resize' | 'crop';
  /** [height, width] of the training files when they all had one size, null when they differed. */
  sourceSize?: [number, number] | null;
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
  batchSize?: number;
  /** Images per forward/backward pass (gradient accumulation when below batchSize). */
  microBatch?: number;
}

export const TRAINING_RECORD = 'training.json';

/** The files `train` writes into its output folder. */
export const TRAIN_OUTPUT_FILES = ['model.json', 'weights.bin', TRAINING_RECORD, 'history.json', 'training-curve.svg'];

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
  /** How images reach `size`: 'resize' (default) or 'crop' (centre crop). */
  fit?: 'resize' | 'crop';
  validationSplit?: number;
  seed?: number;
  learningRate?: number;
  /** Images per forward/backward pass, or 'auto' (default): the largest that fits the backend's memory. */
  microBatch?: number | 'auto';
  /** Write into a non-empty output folder, replacing a previous run's files. Default false. */
  overwrite?: boolean;
  /** Flips and 90° rotations during training. */
  augment?: boolean;
  normalize?: Normalization;
  /** Apply the encoder's input normalisation (models on an ImageNet encoder). Default true. */
  preprocess?: boolean;
  /** Any other model option (filters, batchNorm, deepSupervision, encoder, encoderDepth, ...). */
  modelOptions?: Record<string, unknown>;
  log?: (line: string) => void;
}

export async function trainCommand(options: TrainCommandOptions): Promise<{ result: TrainResult; record: TrainingRecord }> {
  const log = options.log ?? console.log;
  const name = resolveModelName(options.model);
  const folder = await prepareOutputFolder(options.out, {
    command: 'train', overwrite: options.overwrite, inputs: [options.images, options.masks], ownFiles: TRAIN_OUTPUT_FILES,
  });
  try {
    return await trainInto(options, name, log);
  } catch (e) {
    await folder.cleanup();
    throw e;
  }
}

async function trainInto(
  options: TrainCommandOptions, name: string, log: (line: string) => void,
): Promise<{ result: TrainResult; record: TrainingRecord }> {
  const numClasses = options.numClasses ?? 1;
  const normalize = options.normalize ?? 'unit';
  const fit = options.fit ?? 'resize';
  const samples = await loadSegmentationSamples({
    images: options.images,
    masks: options.masks,
    maskSuffix: options.maskSuffix,
    numClasses,
    size: options.size,
    fit,
    normalize,
  });
  const { height, width, channels } = samples[0]!;
  const first = samples[0]!.sourceSize;
  const sourceSize = first && samples.every((s) => s.sourceSize?.[0] === first[0] && s.sourceSize[1] === first[1]) ? first : null;
  const modelOptions = { ...options.modelOptions, inputShape: [height, width, channels], numClasses };
  const model = createModel(name, modelOptions);
  const preprocessing = options.preprocess === false ? null : modelPreprocessing(model);
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
    validationSplit: options.validationSplit ?? 0.2,
    seed: options.seed ?? 0,
    outputSize,
  });
  log(
    `${name}: ${formatCount(paramCounts(model).total)} parameters; ${data.train.length} training / ` +
      `${data.validation.length} validation pairs of ${height}x${width}x${channels}`,
  );
  const info = modelInfo(model);
  if (info !== null && info.encoder !== PLAIN_ENCODER) log(`model: ${describeModelInfo(info)}`);
  if (preprocessing !== null) log(`preprocessing: ${describePreprocessing(preprocessing)}`);
  const batchSize = options.batchSize ?? 8;
  const record = (history: EpochLogs[], result?: TrainResult, microBatch?: number): TrainingRecord => {
    const bestEpoch = result?.bestEpoch ?? history.reduce((b, h, i) => (h.best ? i : b), -1);
    const best = history[bestEpoch];
    return {
      model: name,
      modelOptions,
      numClasses,
      channels: channels as 1 | 3,
      size: [height, width],
      fit,
      sourceSize,
      normalize,
      preprocessing,
      epochs: history.length,
      bestEpoch,
      monitor: result?.monitor ?? (best?.validation ? 'valDice' : 'loss'),
      bestScore: result?.bestScore ?? (best ? best.validation?.dice ?? best.loss : NaN),
      batchSize,
      microBatch,
    };
  };
  const history: EpochLogs[] = [];
  let microBatch: number | undefined;
  const writeRunFiles = async (result?: TrainResult): Promise<TrainingRecord> => {
    const r = record(history, result, microBatch);
    // Written after each best checkpoint, so the folder's model and training.json always agree.
    await writeFileAtomic(join(options.out, TRAINING_RECORD), JSON.stringify(r, null, 2));
    await writeFileAtomic(join(options.out, 'training-curve.svg'), trainingCurveSvg(history, `${name} training`));
    await writeFileAtomic(join(options.out, 'history.json'), JSON.stringify(history, null, 2));
    return r;
  };
  let result: TrainResult;
  try {
    result = await train(model, data, {
      epochs: options.epochs ?? 20,
      batchSize,
      microBatch: options.microBatch ?? 'auto',
      optimizer: tf.train.adam(options.learningRate ?? 1e-3),
      augment: options.augment ? { flip: true, rotate90: true } : undefined,
      checkpointDir: options.out,
      overwrite: true, // the folder was checked (and cleared with --overwrite) above
      preprocess: preprocessing !== null,
      log,
      onEpochEnd: async (_, entry) => {
        history.push(entry);
        if (entry.best) await writeRunFiles();
      },
      onTrainBegin: (plan) => {
        microBatch = plan.microBatch;
        if (plan.microBatch < batchSize) {
          log(`memory: a step of ${batchSize} images does not fit the backend's memory; accumulating gradients over micro-batches of ${plan.microBatch}`);
        }
      },
    });
  } finally {
    model.dispose();
  }
  if (result.monitor === 'loss' && result.bestEpoch < 0) throw new Error('train: no epoch finished');
  const finalRecord = await writeRunFiles(result);
  log(`best epoch ${result.bestEpoch + 1} (${result.monitor} ${result.bestScore.toFixed(4)}); model saved to ${options.out}/model.json`);
  return { result, record: finalRecord };
}


/** `(x − mean) / std on [0, 1] inputs, mean [...], std [...] (resnet34)`. */
export function describePreprocessing(p: InputNormalization): string {
  const list = (v: number[]) => `[${v.map((x) => Number(x.toFixed(4))).join(', ')}]`;
  return `(x - mean) / std on inputs in [${p.inputRange.join(', ')}], mean ${list(p.mean)}, std ${list(p.std)} (${p.encoder})`;
}
