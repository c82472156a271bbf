import * as tf from '@tensorflow/tfjs';
import type { AugmentOptions } from '../data/augment.js';
import type { Batch, SegmentationDataset } from '../data/dataset.js';
import { deepSupervisionLosses } from '../losses/deepSupervision.js';
import { losses, type LossFunction } from '../losses/index.js';
import { isPositiveInt } from '../models/options.js';
import { frozenBatchNormsRunInInference } from '../encoders/freeze.js';
import { inputPreprocessor } from '../encoders/preprocess.js';
import { cgmTargets } from '../heads/classification.js';
import { checkModelInputSize } from '../layers/inputSizeCheck.js';
import { modelInfo, type ModelInfo } from '../models/info.js';
import { evaluateSegmentation, type SegmentationScores } from './evaluate.js';
import { defaultProgress, silentProgress, type ProgressSink } from './progress.js';

/** Options of {@link train}. */
export interface TrainOptions {
  /** Passes over the training split. Default 10. */
  epochs?: number;
  /** Images per step. Default 8. */
  batchSize?: number;
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
  /** Called after every epoch with its logs; may be async. */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void | Promise<void>;
  /**
   * Normalise the training and validation images with the encoder's statistics when the model has
   * an ImageNet encoder (`modelPreprocessing`; images in [0, 1]). Default true; false when your
   * dataset is already normalised.
   */
  preprocess?: boolean;
  /** 1 (default): a progress bar on a TTY and a line per epoch; 0: silent. */
  verbose?: 0 | 1;
  /** Where epoch lines go. Default `console.log`. */
  log?: (line: string) => void;
}

/** What one epoch reports. */
export interface EpochLogs {
  epoch: number;
  /** Mean training loss (sum over outputs, as tfjs reports it). */
  loss: number;
  /** Validation scores (dataset-level hard Dice/IoU), when validation runs. */
  validation?: SegmentationScores;
  seconds: number;
  /** Whether this epoch is the best so far (and was checkpointed). */
  best: boolean;
}

export interface TrainResult {
  history: EpochLogs[];
  /** The best epoch (0-based) by validation Dice, or by training loss without validation. */
  bestEpoch: number;
  /** Its validation Dice, or its training loss without validation. */
  bestScore: number;
  /** `'valDice'` or `'loss'`. */
  monitor: 'valDice' | 'loss';
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

function positiveInt(name: string, v: number): number {
  if (!isPositiveInt(v)) throw new Error(`train: ${name} must be an integer >= 1, got ${String(v)}`);
  return v;
}

/**
 * Trains a segmentation model on a {@link SegmentationDataset} with `model.fitDataset`: builds the
 * per-output losses (deep supervision, CGM targets from the masks), shows progress, scores the
 * validation split after every epoch and checkpoints the best model.
 */
export async function train(model: tf.LayersModel, data: SegmentationDataset, options: TrainOptions = {}): Promise<TrainResult> {
  const epochs = positiveInt('epochs', options.epochs ?? 10);
  const batchSize = positiveInt('batchSize', options.batchSize ?? 8);
  if (data.train.length === 0) throw new Error('train: the dataset has no training samples');
  const plan = planOutputs(model);
  const preprocess = inputPreprocessor(model, options.preprocess, 'train');
  const validate = options.validation ?? data.validation.length > 0;
  if (validate && data.validation.length === 0) {
    throw new Error('train: validation was requested but the dataset has no validation samples (set validationSplit > 0)');
  }

  // Check the target shape once, on one sample, before compiling anything.
  const probe = data.batches(1, { split: 'train', shuffle: false }).next().value as Batch;
  try {
    checkModelInputSize(model, probe.xs.shape[1]!, probe.xs.shape[2]!, "train: the dataset's images");
    checkTargetShape(model, plan, probe.ys);
  } finally {
    tf.dispose([probe.xs, probe.ys]);
  }

  const segLoss = options.loss ?? defaultLoss(model, plan);
  const nSeg = plan.segmentation.length;
  const segLosses = nSeg > 1 ? deepSupervisionLosses(segLoss, options.deepSupervisionWeights ?? nSeg) : [segLoss];
  const lossList: LossFunction[] = new Array(model.outputs.length);
  plan.segmentation.forEach((i, k) => (lossList[i] = segLosses[k]!));
  if (plan.cls !== null) lossList[plan.cls] = losses.binaryCrossentropy();
  const optimizer = options.optimizer ?? tf.train.adam(1e-3);
  // A frozen encoder's BatchNorm layers keep their statistics (see freezeEncoder), also after loading.
  frozenBatchNormsRunInInference(model);
  const finalName = model.outputNames[plan.segmentation[0]!]!;
  model.compile({
    optimizer,
    loss: model.outputs.length === 1 ? lossList[0]! : lossList,
    metrics: options.metrics && options.metrics.length > 0 ? { [finalName]: options.metrics as never } : undefined,
  });

  const sink: ProgressSink = options.verbose === 0 ? silentProgress : defaultProgress(options.log);
  const batchesPerEpoch = data.numBatches(batchSize, 'train');
  const dataset = tf.data.generator(function* () {
    for (const { xs, ys } of data.batches(batchSize, { split: 'train', augment: options.augment })) {
      let inputs: tf.Tensor = xs;
      if (preprocess !== null) {
        inputs = preprocess(xs);
        xs.dispose();
      }
      yield { xs: inputs, ys: targetsFor(plan, model.outputs.length, ys) };
    }
  } as unknown as () => Iterator<tf.TensorContainer>);

  const history: EpochLogs[] = [];
  const monitor: TrainResult['monitor'] = validate ? 'valDice' : 'loss';
  let bestEpoch = -1;
  let bestScore = validate ? -Infinity : Infinity;
  let epochStart = 0;
  let epoch = 0;

  await model.fitDataset(dataset, {
    epochs,
    verbose: 0,
    callbacks: {
      onEpochBegin: async (e) => {
        epoch = e;
        epochStart = Date.now();
      },
      onBatchEnd: async (batch, logs) => {
        sink.batch(epoch, epochs, batch + 1, batchesPerEpoch, (logs?.['loss'] as number) ?? NaN);
      },
      onEpochEnd: async (e, logs) => {
        const loss = logs?.['loss'] as number;
        const validation = validate
          ? evaluateSegmentation(model, data.batches(batchSize, { split: 'validation', shuffle: false }), {
              preprocess: options.preprocess,
            })
          : undefined;
        const score = validation ? validation.dice : loss;
        const best = validation ? score > bestScore : score < bestScore;
        if (best) {
          bestScore = score;
          bestEpoch = e;
          if (options.checkpointDir) await model.save(checkpointUrl(options.checkpointDir));
        }
        const entry: EpochLogs = { epoch: e, loss, validation, seconds: (Date.now() - epochStart) / 1000, best };
        history.push(entry);
        const val = validation ? ` val_dice ${validation.dice.toFixed(4)} val_iou ${validation.iou.toFixed(4)}` : '';
        sink.epoch(`epoch ${e + 1}/${epochs} loss ${loss.toFixed(4)}${val} (${entry.seconds.toFixed(1)} s)${best && options.checkpointDir ? ' *saved' : ''}`);
        await options.onEpochEnd?.(e, entry);
      },
    },
  });
  return { history, bestEpoch, bestScore, monitor };
}
