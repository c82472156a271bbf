import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { deepSupervisionLosses } from '../src/index.js';

// A plain mean squared error written here, so the expected values can be worked out by hand.
const mse = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.mean(tf.square(tf.sub(yPred, yTrue)));

const yTrue = () => tf.tensor2d([[1, 0], [1, 1]]);
const yPred = () => tf.tensor2d([[0.5, 0.5], [0.5, 0.5]]);
// mse(yTrue, yPred) = mean(0.25, 0.25, 0.25, 0.25) = 0.25

function value(fn: (a: tf.Tensor, b: tf.Tensor) => tf.Scalar): number {
  return tf.tidy(() => fn(yTrue(), yPred()).dataSync()[0]!);
}

describe('deepSupervisionLosses', () => {
  it('a count gives that many losses with weight 1, named ds_loss_k', () => {
    const losses = deepSupervisionLosses(mse, 3);
    expect(losses).toHaveLength(3);
    expect(losses.map((f) => f.name)).toEqual(['ds_loss_0', 'ds_loss_1', 'ds_loss_2']);
    for (const f of losses) expect(value(f)).toBeCloseTo(0.25, 7);
  });

  it('bakes each weight in: value = weight × loss', () => {
    const losses = deepSupervisionLosses(mse, [2, 0.5, 0]);
    expect(losses.map(value)).toEqual([0.5, 0.125, 0]);
    const [f] = deepSupervisionLosses(mse, [3]);
    // (0.1 - 0)^2 and (0.4 - 1)^2 -> mean(0.01, 0.36) = 0.185, × 3 = 0.555
    const v = tf.tidy(() => f!(tf.tensor1d([0, 1]), tf.tensor1d([0.1, 0.4])).dataSync()[0]!);
    expect(v).toBeCloseTo(0.555, 6);
  });

  it('returns scalars, leaks nothing and keeps gradients (weight × dloss)', () => {
    const [f] = deepSupervisionLosses(mse, [4]);
    const t = yTrue();
    const p = yPred();
    const before = tf.memory().numTensors;
    const out = f!(t, p);
    expect(out.rank).toBe(0);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // d/dp of 4 × mean((p − y)²) = 4 × 2 (p − y) / 4 = 2 (p − y)
    const g = tf.grad((q: tf.Tensor) => f!(t, q))(p);
    expect(Array.from(g.dataSync())).toEqual([-1, 1, -1, -1]);
    tf.dispose([t, p, g]);
  });

  it('rejects a loss that does not return a scalar, without leaking', () => {
    const perPixel = (a: tf.Tensor, b: tf.Tensor) => tf.square(tf.sub(a, b));
    const [f] = deepSupervisionLosses(perPixel, 1);
    const t = yTrue();
    const p = yPred();
    const before = tf.memory().numTensors;
    expect(() => f!(t, p)).toThrow(/loss of output 0 returned shape \[2, 2\]; per-output losses must return scalars/);
    expect(tf.memory().numTensors).toBe(before);
    const [g] = deepSupervisionLosses((() => 0.5) as never, 1);
    expect(() => g!(t, p)).toThrow(/returned a number; per-output losses must return scalars/);
    tf.dispose([t, p]);
  });

  const bad: [string, unknown, unknown, RegExp][] = [
    ['zero outputs', mse, 0, /number of outputs must be an integer >= 1, got 0/],
    ['fractional count', mse, 2.5, /integer >= 1, got 2\.5/],
    ['negative count', mse, -2, /integer >= 1, got -2/],
    ['empty weights', mse, [], /one weight per output, got an empty array/],
    ['negative weight', mse, [1, -0.5], /finite number >= 0, got -0\.5 at index 1/],
    ['NaN weight', mse, [NaN], /finite number >= 0, got NaN at index 0/],
    ['infinite weight', mse, [1, Infinity], /got Infinity at index 1/],
    ['string weight', mse, [1, '2'], /finite number >= 0, got 2 at index 1/],
    ['all zero', mse, [0, 0], /at least one weight must be > 0/],
    ['weights not a list', mse, 'four', /weights must be a number of outputs or an array/],
    ['loss not a function', 'binaryCrossentropy', 2, /loss must be a function/],
  ];
  it.each(bad)('rejects %s', (_, loss, weights, message) => {
    expect(() => deepSupervisionLosses(loss as never, weights as never)).toThrow(message);
  });
});
