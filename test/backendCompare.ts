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
