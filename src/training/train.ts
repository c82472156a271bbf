import * as tf from '@tensorflow/tfjs';
import type { AugmentOptions } from '../data/augment.js';
import type { Batch, SegmentationDataset } from '../data/dataset.js';
import { deepSupervisionLosses } from '../losses/deepSupervision.js';
import { losses, type LossFunction } from '../losses/index.js';
import { frozenBatchNormsRunInInference } from '../encoders/freeze.js';
import { inputPreprocessor } from '../encoders/preprocess.js';
import { cgmTargets } from '../heads/classification.js';
import { checkModelInputSize } from '../layers/inputSizeCheck.js';
import { modelInfo, type ModelInfo } from '../models/info.js';
import { evaluateSegmentation, type SegmentationScores } from './evaluate.js';
import {
  defaultMemoryLimit, estimateTrainingMemory, formatBytes, largestBatchThatFits, type TrainingMemoryEstimate,
} from './memory.js';
import { defaultProgress, silentProgress, type ProgressSink } from './progress.js';
import { explainWasmFailure } from '../backend/recover.js';
import { guardWasmAllocations } from '../backend/wasmGuard.js';
import { checkInteger } from '../util/validate.js';
import { makeTrainStep, resolveMetrics, type TrainStep } from './step.js';

/** Options of {@link train}. */
export interface TrainOptions {
  /** Passes over the training split. Default 10. */
  epochs?: number;
  /** Images per step (per optimizer update). Default 8. */
  batchSize?: number;
  /**
   * Images per forward/backward pass: each batch is split into micro-batches whose gradients are
   * summed (weighted by their share of the batch) before one optimizer update. The update equals
   * that of the whole batch, except that BatchNormalization normalises each micro-batch with its
   * own statistics (and updates its moving averages once per micro-batch), and that losses which
   * are not means over images (e.g. `dice({ batchDice: true })`) are computed per micro-batch.
   * `'auto'`: the largest micro-batch whose estimated memory fits the backend (see
   * `memoryLimit`). Default: the whole batch.
   */
  microBatch?: number | 'auto';
  /**
   * Bytes one training step may use. Before training, the step's memory is estimated from the
   * model's layers (estimateTrainingMemory) and checked against this, less what is already
   * allocated: too large a batch is an error that names the largest batch that fits (or, with
   * `microBatch: 'auto'`, is split). Default: the wasm heap (4 GiB) on 'wasm', no check on other
   * backends; `null` disables the check.
   */
  memoryLimit?: number | null;
  /**
   * Loss of every segmentation output. Default: BCE + Dice for a 1-channel sigmoid model,
   * categorical CE + Dice otherwise (the UNet++ paper's hybrid loss).
   */
  loss?: LossFunction;
  /** Weights of the deep-supervision outputs, final first. Default: equal (the papers'). */
  deepSupervisionWeights?: number[];
  /** Optimizer instance or tfjs name. Default Adam with learning rate 1e-3. */
  optimizer?: tf.Optimizer | string;
  /** Score the validation split after every epoch. Default: when the dataset has one. */
  validation?: boolean;
  /** Extra tfjs training metrics for the final output (shown in the logs). Default none. */
  metrics?: (string | LossFunction)[];
  /** Augmentation applied to training batches (image and mask alike). Default none. */
  augment?: AugmentOptions;
  /**
   * Where to save the best model so far (best validation Dice, or lowest training loss without
   * validation): a directory (saved through `file://`, Node) or any tfjs URL (`indexeddb://...`).
   */
  checkpointDir?: string;
  /**
   * Replace a model that already exists at `checkpointDir` when training starts. Default false:
   * an existing model there is an error (so an unrelated model is never overwritten).
   */
  overwrite?: boolean;
  /** Called once before the first epoch with the micro-batch chosen and the step's memory estimate. */
  onTrainBegin?: (info: { microBatch: number; memory: TrainingMemoryEstimate }) => void | Promise<void>;
  /** Called after every epoch with its logs; may be async. */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void | Promise<void>;
  /**
   * Normalise the training and validation images with the encoder's statistics when the model has
   * an ImageNet encoder (`modelPreprocessing`; images in [0, 1]). Default true; false when your
   * dataset is already normalised.
   */
  preprocess?: boolean;
  /**
   * 1 (default): a progress bar on a TTY, and when output is not a terminal (logs, CI) a progress
   * line every `progressEvery` batches; a line per epoch either way. 0: silent.
   */
  verbose?: 0 | 1;
  /** Without a TTY: print a batch progress line every this many batches (and at each epoch's last). Default 10. */
  progressEvery?: number;
  /** Where epoch lines go. Default `console.log`. */
  log?: (line: string) => void;
}

/** What one epoch reports. */
export interface EpochLogs {
  epoch: number;
  /** Mean training loss (sum over outputs, as tfjs reports it). */
  loss: number;
  /** Means of the extra training `metrics` of the final output, by name. */
  metrics?: Record<string, number>;
  /** Validation scores (dataset-level hard Dice/IoU), when validation runs. */
  validation?: SegmentationScores;
  seconds: number;
  /** Whether this epoch is the best so far (then it was saved to `checkpointDir`, when one is set). */
  best: boolean;
}

/** What {@link train} returns: the per-epoch logs and the best epoch. */
export interface TrainResult {
  history: EpochLogs[];
  /** The best epoch (0-based) by validation Dice, or by training loss without validation. */
  bestEpoch: number;
  /** Its validation Dice, or its training loss without validation. */
  bestScore: number;
  /** `'valDice'` or `'loss'`. */
  monitor: 'valDice' | 'loss';
  /** Images per forward/backward pass that were used (equals the batch size without micro-batching). */
  microBatch: number;
  /** The memory estimate of one step at that micro-batch. */
  memory: TrainingMemoryEstimate;
}

interface OutputPlan {
  /** Indices of segmentation outputs (rank 4), final first. */
  segmentation: number[];
  /** Index of the classification-guided module's `[B, 2]` output, if any. */
  cls: number | null;
}

/**
 * Which output is which: from the model's ModelInfo (output roles), or, for a model without one,
 * from the shapes (rank 4: segmentation, final first; `[B, 2]`: the CGM).
 */
function planOutputs(model: tf.LayersModel): OutputPlan {
  const info = modelInfo(model);
  if (info !== null) return planFromInfo(model, info);
  const plan: OutputPlan = { segmentation: [], cls: null };
  model.outputs.forEach((out, i) => {
    if (out.shape.length === 4) plan.segmentation.push(i);
    else if (out.shape.length === 2 && out.shape[1] === 2 && plan.cls === null) plan.cls = i;
    else throw new Error(`train: output ${i} (${model.outputNames[i]}) has shape [${out.shape}]; expected NHWC segmentation outputs and at most one [B, 2] classification output`);
  });
  if (plan.segmentation.length === 0) throw new Error('train: the model has no NHWC segmentation output');
  return plan;
}

function planFromInfo(model: tf.LayersModel, info: ModelInfo): OutputPlan {
  const plan: OutputPlan = { segmentation: [], cls: null };
  info.outputs.forEach(({ name, role }, i) => {
    const shape = model.outputs[i]!.shape;
    if (role === 'classification') {
      if (plan.cls !== null || shape.length !== 2 || shape[1] !== 2) {
        throw new Error(
          `train: classification output '${name}' has shape ${JSON.stringify(shape)}; train() supports one classification ` +
            "output, the CGM's [B, 2] = [P(no object), P(object)]",
        );
      }
      plan.cls = i;
    } else if (shape.length !== 4) {
      throw new Error(`train: ${role} output '${name}' has shape ${JSON.stringify(shape)}; expected [B, H, W, C]`);
    } else {
      plan.segmentation.push(i);
    }
  });
  if (plan.segmentation.length === 0) throw new Error(`train: model '${model.name}' has no segmentation output`);
  return plan;
}

function checkTargetShape(model: tf.LayersModel, plan: OutputPlan, ys: tf.Tensor): void {
  for (const i of plan.segmentation) {
    const shape = model.outputs[i]!.shape;
    const mismatch = [1, 2, 3].some((a) => shape[a] !== null && shape[a] !== ys.shape[a]);
    if (mismatch) {
      const hint =
        shape[1] !== ys.shape[1] && shape[3] === ys.shape[3]
          ? ` The model's output is smaller than its input (classic UNet): create the dataset with outputSize [${shape[1]}, ${shape[2]}] (see unetOutputSize).`
          : shape[3] !== ys.shape[3]
            ? ` The dataset's numClasses must match the model's ${shape[3]} output channel(s).`
            : '';
      throw new Error(`train: output '${model.outputNames[i]}' has shape [${shape}] but the targets are [${ys.shape}].${hint}`);
    }
  }
}

function defaultLoss(model: tf.LayersModel, plan: OutputPlan): LossFunction {
  const channels = model.outputs[plan.segmentation[0]!]!.shape[3];
  const ce = channels === 1 ? losses.binaryCrossentropy() : losses.categoricalCrossentropy();
  return losses.combine([
    [ce, 1],
    [losses.dice(), 1],
  ]);
}

/** Targets for every output of the model from one batch's masks. */
function targetsFor(plan: OutputPlan, outputs: number, ys: tf.Tensor): tf.Tensor[] {
  const targets: tf.Tensor[] = new Array(outputs);
  for (const i of plan.segmentation) targets[i] = ys;
  if (plan.cls !== null) targets[plan.cls] = cgmTargets(ys);
  return targets;
}

function checkpointUrl(dir: string): string {
  return dir.includes('://') ? dir : `file://${dir}`;
}

/** Whether a model is already stored at `url` (file://, indexeddb://, localstorage://; other schemes: unknown → false). */
async function modelExistsAt(url: string): Promise<boolean> {
  const scheme = url.slice(0, url.indexOf('://')).toLowerCase();
  if (scheme === 'indexeddb' || scheme === 'localstorage') {
    try {
      return url in (await tf.io.listModels());
    } catch {
      return false;
    }
  }
  if (scheme !== 'file') return false;
  const handler = tf.io.getLoadHandlers(url)[0] as (tf.io.IOHandler & { exists?: () => Promise<boolean> }) | undefined;
  if (handler === undefined) return false;
  if (typeof handler.exists === 'function') return handler.exists();
  try {
    await handler.load?.();
    return true;
  } catch {
    return false;
  }
}

interface StepPlan {
  microBatch: number;
  memory: TrainingMemoryEstimate;
}

/**
 * Checks one step against the memory limit and picks the micro-batch. Throws, naming the largest
 * batch that fits, when the requested one does not.
 */
function planStep(
  model: tf.LayersModel, batchSize: number, inputSize: [number, number], options: TrainOptions, name: string,
): StepPlan {
  const requested = options.microBatch;
  if (requested !== undefined && requested !== 'auto') {
    checkInteger('train', 'microBatch', requested);
    if (requested > batchSize) throw new Error(`train: microBatch (${requested}) must not exceed batchSize (${batchSize})`);
  }
  const estimate = (b: number) =>
    estimateTrainingMemory(model, { batchSize: b, inputSize, optimizer: options.optimizer, accumulate: b < batchSize });
  const limit = options.memoryLimit === undefined ? defaultMemoryLimit() : options.memoryLimit;
  if (limit !== null && !(typeof limit === 'number' && limit > 0)) {
    throw new Error(`train: memoryLimit must be a number of bytes > 0 or null, got ${String(limit)}`);
  }
  if (limit === null) {
    const micro = requested === undefined || requested === 'auto' ? batchSize : requested;
    return { microBatch: micro, memory: estimate(micro) };
  }
  // What is already allocated, less the model's weights (the estimate counts those).
  const full = estimate(batchSize);
  const inUse = Math.max(0, tf.memory().numBytes - full.weightBytes);
  const available = limit - inUse;
  const where = `${tf.getBackend()} backend`;
  const size = `${inputSize[0]}x${inputSize[1]}`;
  const fits = largestBatchThatFits(estimate(Math.min(2, batchSize)), available);
  if (fits < 1) {
    throw new Error(
      `train: one training step of ${name} on a single ${size} image needs about ${formatBytes(estimate(1).bytes)} ` +
        `(estimate), more than the ${formatBytes(available)} the ${where} has free (limit ${formatBytes(limit)}). ` +
        'Train on smaller images (size or a crop), use fewer filters, or another backend; see docs/memory.md.',
    );
  }
  if (requested === 'auto') {
    const micro = Math.min(batchSize, fits);
    return { microBatch: micro, memory: estimate(micro) };
  }
  const micro = requested ?? batchSize;
  const memory = estimate(micro);
  if (memory.bytes > available) {
    const what = micro < batchSize ? `microBatch ${micro}` : `batch ${micro}`;
    throw new Error(
      `train: one training step of ${name} with ${what} of ${size} images needs about ${formatBytes(memory.bytes)} ` +
        `(estimate), more than the ${formatBytes(available)} the ${where} has free (limit ${formatBytes(limit)}). ` +
        `The largest batch that fits is ${fits}: use batchSize: ${fits}, or keep batchSize ${batchSize} and accumulate ` +
        `gradients over micro-batches with microBatch: ${fits} (or 'auto'); see docs/memory.md.`,
    );
  }
  return { microBatch: micro, memory };
}

/**
 * Trains a segmentation model on a {@link SegmentationDataset}: builds the per-output losses (deep
 * supervision, CGM targets from the masks), checks that a step fits the backend's memory, runs
 * the optimizer over (micro-)batches, shows progress, scores the validation split after every
 * epoch and checkpoints the best model.
 *
 * The model is compiled with the same losses and optimizer (so `model.fit`/`evaluate` work
 * afterwards), and each step computes what `model.fit` would: the sum over outputs of each
 * output's mean loss, plus any regularisation losses.
 */
export async function train(model: tf.LayersModel, data: SegmentationDataset, options: TrainOptions = {}): Promise<TrainResult> {
  const epochs = checkInteger('train', 'epochs', options.epochs ?? 10);
  const batchSize = checkInteger('train', 'batchSize', options.batchSize ?? 8);
  const progressEvery = checkInteger('train', 'progressEvery', options.progressEvery ?? 10);
  if (data.train.length === 0) throw new Error('train: the dataset has no training samples');
  const plan = planOutputs(model);
  const preprocess = inputPreprocessor(model, options.preprocess, 'train');
  const validate = options.validation ?? data.validation.length > 0;
  if (validate && data.validation.length === 0) {
    throw new Error('train: validation was requested but the dataset has no validation samples (set validationSplit > 0)');
  }
  const inputSize = checkFirstSample(model, plan, data);
  const checkpoint = await checkpointTarget(options);

  guardWasmAllocations();
  const step = planStep(model, batchSize, inputSize, options, model.name);
  const microBatch = step.microBatch;

  const lossList = outputLosses(model, plan, options);
  // A frozen encoder's BatchNorm layers keep their statistics (see freezeEncoder), also after loading.
  frozenBatchNormsRunInInference(model);
  // Compiled as before (model.fit/evaluate work afterwards; a tfjs optimizer name becomes an instance).
  model.compile({ optimizer: options.optimizer ?? tf.train.adam(1e-3), loss: model.outputs.length === 1 ? lossList[0]! : lossList });
  const finalIndex = plan.segmentation[0]!;
  const metricFns = resolveMetrics(options.metrics ?? [], model.outputs[finalIndex]!.shape[3] as number);
  const trainStep = makeTrainStep(model, {
    lossList, targets: (outputs, ys) => targetsFor(plan, outputs, ys), finalIndex, metricFns, microBatch,
  });

  const epochRun: EpochRun = {
    model, data, batchSize, augment: options.augment, preprocess, trainStep, metricCount: metricFns.length, epochs,
    sink: options.verbose === 0 ? silentProgress : defaultProgress(options.log, { every: progressEvery }),
    batchesPerEpoch: data.numBatches(batchSize, 'train'),
    failure: stepFailureContext(model.name, inputSize, microBatch),
  };
  const history: EpochLogs[] = [];
  const monitor: TrainResult['monitor'] = validate ? 'valDice' : 'loss';
  let bestEpoch = -1;
  let bestScore = validate ? -Infinity : Infinity;

  await options.onTrainBegin?.({ microBatch, memory: step.memory });
  for (let epoch = 0; epoch < epochs; epoch++) {
    const epochStart = Date.now();
    const { loss, metricMeans } = await runEpoch(epochRun, epoch);
    const metrics = metricFns.length > 0 ? Object.fromEntries(metricFns.map(([name], m) => [name, metricMeans[m]!])) : undefined;
    let validation: SegmentationScores | undefined;
    try {
      validation = validate
        ? evaluateSegmentation(model, data.batches(batchSize, { split: 'validation', shuffle: false }), { preprocess: options.preprocess })
        : undefined;
    } catch (e) {
      throw await explainWasmFailure(e, `train: validating ${model.name}`, epochRun.failure.fix);
    }
    const score = validation ? validation.dice : loss;
    const best = validation ? score > bestScore : score < bestScore;
    if (best) {
      bestScore = score;
      bestEpoch = epoch;
      if (checkpoint !== undefined) await model.save(checkpoint);
    }
    const entry: EpochLogs = { epoch, loss, metrics, validation, seconds: (Date.now() - epochStart) / 1000, best };
    history.push(entry);
    epochRun.sink.epoch(epochLine(entry, epochs, best && checkpoint !== undefined));
    await options.onEpochEnd?.(epoch, entry);
  }
  return { history, bestEpoch, bestScore, monitor, microBatch, memory: step.memory };
}

/**
 * Checks the dataset against the model once, on one sample, before anything is compiled: the
 * image size the model takes and the target shape of every segmentation output. Returns the
 * images' height and width.
 */
function checkFirstSample(model: tf.LayersModel, plan: OutputPlan, data: SegmentationDataset): [number, number] {
  const probe = data.batches(1, { split: 'train', shuffle: false }).next().value as Batch;
  try {
    const [, h, w] = probe.xs.shape;
    checkModelInputSize(model, h!, w!, "train: the dataset's images");
    checkTargetShape(model, plan, probe.ys);
    return [h!, w!];
  } finally {
    tf.dispose([probe.xs, probe.ys]);
  }
}

/** The checkpoint URL, after making sure no model is overwritten there without `overwrite`. */
async function checkpointTarget(options: TrainOptions): Promise<string | undefined> {
  if (!options.checkpointDir) return undefined;
  const checkpoint = checkpointUrl(options.checkpointDir);
  if (!options.overwrite && (await modelExistsAt(checkpoint))) {
    throw new Error(
      `train: checkpointDir ${options.checkpointDir} already holds a model; choose another folder, or pass ` +
        'overwrite: true to replace it with this run\'s best model.',
    );
  }
  return checkpoint;
}

/** The loss of every model output: the segmentation loss (weighted over deep supervision), BCE for the CGM. */
function outputLosses(model: tf.LayersModel, plan: OutputPlan, options: TrainOptions): LossFunction[] {
  const segLoss = options.loss ?? defaultLoss(model, plan);
  const nSeg = plan.segmentation.length;
  const segLosses = nSeg > 1 ? deepSupervisionLosses(segLoss, options.deepSupervisionWeights ?? nSeg) : [segLoss];
  const lossList: LossFunction[] = new Array(model.outputs.length);
  plan.segmentation.forEach((i, k) => (lossList[i] = segLosses[k]!));
  if (plan.cls !== null) lossList[plan.cls] = losses.binaryCrossentropy();
  return lossList;
}

/** What a failed step reports (explainWasmFailure): which step, and the fix to suggest. */
interface StepFailureContext {
  what: (images: number) => string;
  fix: string;
}

function stepFailureContext(name: string, inputSize: [number, number], microBatch: number): StepFailureContext {
  return {
    what: (images) => `train: a training step of ${name} (${images} images of ${inputSize[0]}x${inputSize[1]})`,
    fix: microBatch > 1
      ? `use a smaller batch or micro-batch (this step used ${microBatch} images per pass; microBatch: ${Math.max(1, Math.floor(microBatch / 2))})`
      : 'train on smaller images or use fewer filters',
  };
}

/** Everything one training epoch needs. */
interface EpochRun {
  model: tf.LayersModel;
  data: SegmentationDataset;
  batchSize: number;
  augment: AugmentOptions | undefined;
  preprocess: ((x: tf.Tensor) => tf.Tensor) | null;
  trainStep: TrainStep;
  metricCount: number;
  epochs: number;
  sink: ProgressSink;
  batchesPerEpoch: number;
  failure: StepFailureContext;
}

/** One pass over the training split; returns the mean loss and the means of the extra metrics, per image. */
async function runEpoch(run: EpochRun, epoch: number): Promise<{ loss: number; metricMeans: number[] }> {
  let lossSum = 0;
  let seen = 0;
  const metricSums = new Array<number>(run.metricCount).fill(0);
  let batch = 0;
  for (const batchData of run.data.batches(run.batchSize, { split: 'train', augment: run.augment })) {
    const { ys } = batchData;
    let xs: tf.Tensor = batchData.xs;
    if (run.preprocess !== null) {
      xs = run.preprocess(batchData.xs);
      batchData.xs.dispose();
    }
    const n = xs.shape[0]!;
    const metricValues: tf.Scalar[] = [];
    let loss: number;
    try {
      const lossTensor = run.trainStep(xs, ys, metricValues);
      loss = (await lossTensor.data())[0]!;
      for (let m = 0; m < metricValues.length; m++) metricSums[m]! += (await metricValues[m]!.data())[0]! * n;
      tf.dispose([lossTensor, ...metricValues]);
    } catch (e) {
      tf.dispose(metricValues);
      throw await explainWasmFailure(e, run.failure.what(n), run.failure.fix);
    } finally {
      tf.dispose([xs, ys]);
    }
    lossSum += loss * n;
    seen += n;
    batch++;
    run.sink.batch(epoch, run.epochs, batch, run.batchesPerEpoch, loss);
  }
  return { loss: lossSum / seen, metricMeans: metricSums.map((sum) => sum / seen) };
}

/** The log line of an epoch. */
function epochLine(entry: EpochLogs, epochs: number, saved: boolean): string {
  const { epoch, loss, metrics, validation } = entry;
  const met = metrics ? Object.entries(metrics).map(([k, v]) => ` ${k} ${v.toFixed(4)}`).join('') : '';
  const val = validation ? ` val_dice ${validation.dice.toFixed(4)} val_iou ${validation.iou.toFixed(4)}` : '';
  return `epoch ${epoch + 1}/${epochs} loss ${loss.toFixed(4)}${met}${val} (${entry.seconds.toFixed(1)} s)${saved ? ' *saved' : ''}`;
}
