// Helpers for the backend tests: run the same computation on 'cpu' and 'wasm' and compare.
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';

/** Runs f on a backend and returns plain arrays (tensors created inside are disposed). */
export async function on(backend: string, f: () => tf.Tensor[]): Promise<tf.backend_util.TypedArray[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const data = outs.map((t) => t.dataSync());
  tf.dispose(outs);
  return data;
}

/** max |a-b| / max |b|: the comparison used throughout (≤ 1e-4 required). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/**
 * Weights trained on wasm equal those trained on cpu from the same `init`: per weight tensor, max
 * |a-b| ≤ 1e-3 · max |b| + 1e-6 (the absolute part: weights with an analytically zero gradient,
 * such as conv biases in front of batch norm, only accumulate rounding noise of ~1e-9 on both
 * sides), and training really changed more than 100 values.
 */
export function expectTrainedAlike(wasm: Float32Array[], cpu: Float32Array[], init: Float32Array[]): void {
  expect(wasm.length).toBe(cpu.length);
  let moved = 0;
  for (let i = 0; i < cpu.length; i++) {
    let diff = 0;
    let scale = 1e-6;
    for (let j = 0; j < cpu[i]!.length; j++) {
      diff = Math.max(diff, Math.abs(wasm[i]![j]! - cpu[i]![j]!));
      scale = Math.max(scale, Math.abs(cpu[i]![j]!));
      if (Math.abs(cpu[i]![j]! - init[i]![j]!) > 1e-6) moved++;
    }
    expect(diff).toBeLessThanOrEqual(1e-3 * scale + 1e-6);
  }
  expect(moved).toBeGreaterThan(100);
}

export function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** f's outputs on wasm equal those on cpu (relative error ≤ 1e-4), with identical shapes. */
export async function compare(f: () => tf.Tensor[]): Promise<void> {
  const shapes = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => f().map((t) => t.shape.join('x')));
  };
  expect(await shapes('wasm')).toEqual(await shapes('cpu'));
  const ref = await on('cpu', f);
  const got = await on('wasm', f);
  expect(got.length).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) expect(relErr(got[i], ref[i])).toBeLessThanOrEqual(1e-4);
}

/** dW of conv2d(x, w) for a seeded dy (the filter gradient on its own). */
export function filterGrad(x: tf.Tensor, w: tf.Tensor, stride: number, pad: 'same' | 'valid', seed: number): tf.Tensor {
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
  return tf.grads(f)([x, w], seeded(f(x, w).shape, seed))[1]!;
}

/** Runs `body` with the filter-gradient kernel's chunking limits set, then restores them. */
export async function withChunkLimits(
  limits: { shiftedPixels?: number; patchFloats?: number },
  body: () => Promise<void>,
): Promise<void> {
  const { setPatchChunkLimit, setShiftedGroupPixels } = await import('../src/backend/kernels/conv2dBackpropFilter.js');
  const oldPixels = limits.shiftedPixels === undefined ? null : setShiftedGroupPixels(limits.shiftedPixels);
  const oldPatch = limits.patchFloats === undefined ? null : setPatchChunkLimit(limits.patchFloats);
  try {
    await body();
  } finally {
    if (oldPixels !== null) setShiftedGroupPixels(oldPixels);
    if (oldPatch !== null) setPatchChunkLimit(oldPatch);
  }
}

/**
 * Deterministic initial weights (the models' initializers are unseeded): He-normal kernels from a
 * seeded generator, the remaining weights (biases, BN gamma/beta/moving statistics) as the model
 * initialised them (constants).
 */
export function seededInit(model: tf.LayersModel, seed: number): Float32Array[] {
  return model.weights.map((w, i) => {
    const shape = w.shape as number[];
    if (shape.length < 2) return w.read().dataSync() as Float32Array;
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return tf.tidy(() => tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed * 1000 + i).dataSync() as Float32Array);
  });
}
