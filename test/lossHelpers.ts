import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** Runs `fn` and checks no tensor is left behind. */
export function expectNoLeak(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  expect(tf.memory().numTensors).toBe(before);
}

/** Evaluates a scalar-returning function and disposes the result. */
export function value(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random probabilities in (0, 1), shape [b, h, w, c]. */
export function randomProbs(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.02 + 0.96 * r());
}

/** Random binary targets. */
export function randomBinary(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() < 0.4 ? 1 : 0));
}

/** Random one-hot targets (last axis c). */
export function randomOneHot(pixels: number, c: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(pixels * c);
  for (let i = 0; i < pixels; i++) out[i * c + Math.floor(r() * c)] = 1;
  return out;
}

/** Row-wise softmax of random logits (plain JS). */
export function randomSoftmax(pixels: number, c: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(pixels * c);
  for (let i = 0; i < pixels; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += out[i * c + k] = Math.exp(4 * r() - 2);
    for (let k = 0; k < c; k++) out[i * c + k] /= s;
  }
  return out;
}
