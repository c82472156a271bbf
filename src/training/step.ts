/**
 * One optimizer update of {@link train}: the loss of a (micro-)batch as `model.fit` computes it,
 * and gradient accumulation over micro-batches.
 */
import * as tf from '@tensorflow/tfjs';
import type { LossFunction } from '../losses/index.js';

export type MetricFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** tfjs metric names ('accuracy', 'binaryAccuracy', 'mse', ...) and functions, with display names. */
export function resolveMetrics(metrics: (string | LossFunction)[], channels: number): [string, MetricFn][] {
  const table = tf.metrics as unknown as Record<string, MetricFn | undefined>;
  return metrics.map((m, i) => {
    if (typeof m === 'function') return [m.name || `metric${i}`, m as MetricFn];
    if (m === 'accuracy' || m === 'acc') return [m, channels === 1 ? tf.metrics.binaryAccuracy : tf.metrics.categoricalAccuracy];
    const fn = table[m];
    if (typeof fn !== 'function') {
      throw new Error(`train: unknown metric '${m}'; use 'accuracy', a tf.metrics name (e.g. 'binaryAccuracy', 'precision') or a function (e.g. metrics.dice()).`);
    }
    return [m, fn];
  });
}

/** Splits [0, n) into chunks of at most `size`. */
function chunks(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)]);
  return out;
}

/** Adds `grads` into `sum` (disposing what it replaces); returns the sum (`grads` itself the first time). */
function addGradients(sum: tf.NamedTensorMap | null, grads: tf.NamedTensorMap): tf.NamedTensorMap {
  if (sum === null) return grads;
  for (const k of Object.keys(grads)) {
    const s = tf.add(sum[k]!, grads[k]!);
    tf.dispose([sum[k]!, grads[k]!]);
    sum[k] = s;
  }
  return sum;
}

/**
 * One optimizer update over a batch `xs`, `ys`; returns its loss (the caller disposes it) and
 * pushes the batch means of the metrics onto `metricOut`.
 */
export type TrainStep = (xs: tf.Tensor, ys: tf.Tensor, metricOut: tf.Scalar[]) => tf.Scalar;

export interface TrainStepOptions {
  /** The loss of every model output. */
  lossList: LossFunction[];
  /** The targets of every output from one batch's masks. */
  targets: (outputs: number, ys: tf.Tensor) => tf.Tensor[];
  /** The output the metrics score. */
  finalIndex: number;
  metricFns: [string, MetricFn][];
  /** Images per forward/backward pass; a larger batch is split and its gradients summed. */
  microBatch: number;
}

/**
 * The training step of a compiled `model`: the sum over outputs of each output's mean loss, plus
 * the regularisation losses, minimised by the model's optimizer over its trainable weights. A
 * batch larger than `microBatch` is split; each part's loss and gradients are weighted by its
 * share of the batch and summed before one update.
 */
export function makeTrainStep(model: tf.LayersModel, opts: TrainStepOptions): TrainStep {
  const { lossList, finalIndex, metricFns, microBatch } = opts;
  const optimizer = model.optimizer;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);

  /** The loss of one (micro-)batch, scaled by its share of the batch; metric means go to `metricOut`. */
  const batchLoss = (xs: tf.Tensor, ys: tf.Tensor, scale: number, metricOut: tf.Scalar[]): tf.Scalar => {
    const raw = model.apply(xs, { training: true }) as tf.Tensor | tf.Tensor[];
    const outputs = Array.isArray(raw) ? raw : [raw];
    const targets = opts.targets(outputs.length, ys);
    let total: tf.Tensor | null = null;
    outputs.forEach((out, i) => {
      const l = lossList[i]!(targets[i]!, out);
      total = total === null ? l : tf.add(total, l);
    });
    let loss = tf.mean(total!) as tf.Scalar;
    for (const reg of (model as unknown as { calculateLosses(): tf.Scalar[] }).calculateLosses()) loss = tf.add(loss, reg);
    for (const [, fn] of metricFns) metricOut.push(tf.keep(tf.mul(tf.mean(fn(targets[finalIndex]!, outputs[finalIndex]!)), scale)));
    return scale === 1 ? loss : tf.mul(loss, scale);
  };

  return (xs, ys, metricOut) => {
    const n = xs.shape[0]!;
    if (n <= microBatch) {
      return optimizer.minimize(() => batchLoss(xs, ys, 1, metricOut), true, variables) as tf.Scalar;
    }
    let summed: tf.NamedTensorMap | null = null;
    let lossSum: tf.Scalar | null = null;
    const parts: tf.Scalar[] = [];
    for (const [a, b] of chunks(n, microBatch)) {
      const [xc, yc] = tf.tidy(() => [xs.slice(a, b - a), ys.slice(a, b - a)]);
      const { value, grads } = tf.variableGrads(() => batchLoss(xc!, yc!, (b - a) / n, parts), variables);
      tf.dispose([xc!, yc!]);
      summed = addGradients(summed, grads);
      const next: tf.Scalar = lossSum === null ? value : tf.add(lossSum, value);
      if (lossSum !== null) tf.dispose([lossSum, value]);
      lossSum = next;
    }
    optimizer.applyGradients(summed!);
    tf.dispose(Object.values(summed!));
    // Metric parts are already weighted by their share: sum them per metric.
    const k = metricFns.length;
    for (let m = 0; m < k; m++) {
      const own = parts.filter((_, i) => i % k === m);
      metricOut.push(tf.tidy(() => tf.addN(own) as tf.Scalar));
    }
    tf.dispose(parts);
    return lossSum!;
  };
}
