/**
 * How a segmentation model's output and its target are read: the output mode (sigmoid or
 * softmax), the checks of a (yTrue, yPred) pair, probabilities from logits and the packed
 * weight-map channel. Shared by the losses and the metrics. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';
import { checkOneOf } from './validate.js';

/**
 * How the model output is interpreted. 'binary': sigmoid outputs (1 channel, or several
 * independent channels). 'categorical': softmax over the last axis with one-hot `yTrue`.
 * Options that take a mode also accept 'auto' (their default): 'binary' when the output has
 * 1 channel, else 'categorical' (see `resolveMode`).
 */
export type OutputMode = 'binary' | 'categorical';

/** Gives a function a readable `.name` (tfjs-layers logs losses and metrics under `fn.name`). */
export function withName<F extends Function>(fn: F, name: string): F {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return fn;
}

/** Resolves 'auto' (or undefined) to a concrete mode from the channel count. */
export function resolveMode(mode: OutputMode | 'auto' | undefined, channels: number): OutputMode {
  if (mode === undefined || mode === 'auto') return channels === 1 ? 'binary' : 'categorical';
  return mode;
}

/** Rejects a `mode` option other than undefined, 'binary', 'categorical' or 'auto'. */
export function checkModeOption(where: string, mode: unknown): void {
  if (mode !== undefined) checkOneOf(where, 'mode', mode, ['binary', 'categorical', 'auto']);
}

/**
 * Validates a (yTrue, yPred) pair: tensors, float32, same rank >= 2, same shape except that
 * yTrue may carry `extraTrueChannels` more channels on the last axis (the packed weight map).
 */
export function checkPair(
  where: string,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  extraTrueChannels = 0,
): void {
  if (!(yTrue instanceof tf.Tensor) || !(yPred instanceof tf.Tensor)) {
    throw new Error(`${where}: yTrue and yPred must both be tf.Tensor objects.`);
  }
  if (yTrue.dtype !== 'float32' || yPred.dtype !== 'float32') {
    throw new Error(
      `${where}: yTrue (dtype ${yTrue.dtype}, shape [${yTrue.shape}]) and yPred (dtype ` +
        `${yPred.dtype}, shape [${yPred.shape}]) must both be float32; cast with ` +
        `tf.cast(t, 'float32').`,
    );
  }
  const rankOk = yPred.rank >= 2 && yTrue.rank === yPred.rank;
  const expectedTrue = yPred.shape.slice();
  expectedTrue[expectedTrue.length - 1] += extraTrueChannels;
  const shapeOk = rankOk && expectedTrue.every((d, i) => d === yTrue.shape[i]);
  if (!shapeOk) {
    const note =
      extraTrueChannels > 0
        ? ` (with weightMap: true, yTrue must have yPred's shape plus ${extraTrueChannels} ` +
          `channel for the packed weight map, i.e. [${expectedTrue}])`
        : ' (they must be equal; tensors are NHWC with channels last)';
    throw new Error(
      `${where}: yTrue shape [${yTrue.shape}] does not match yPred shape [${yPred.shape}]${note}.`,
    );
  }
}

/** Probabilities from `yPred`: sigmoid / softmax when `fromLogits`, else as given. */
export function toProbabilities(yPred: tf.Tensor, mode: OutputMode, fromLogits: boolean): tf.Tensor {
  if (!fromLogits) return yPred;
  return mode === 'binary' ? tf.sigmoid(yPred) : tf.softmax(yPred, -1);
}

/** Splits a packed yTrue ([..., C + 1]) into target ([..., C]) and weight map ([..., 1]). */
export function unpackWeightChannel(yTrue: tf.Tensor): { target: tf.Tensor; weights: tf.Tensor } {
  const c = yTrue.shape[yTrue.rank - 1];
  const [target, weights] = tf.split(yTrue, [c - 1, 1], -1);
  return { target, weights };
}
