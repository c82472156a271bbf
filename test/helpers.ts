import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { registerFileHandler } from '../src/io/fileHandler.js';

/** Saves a model to memory and loads it back (the tfjs round trip without any file system). */
export async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(artifacts!));
}

/** Largest absolute difference between two tensors (or lists of tensors). */
export function maxAbsDiff(a: tf.Tensor | tf.Tensor[], b: tf.Tensor | tf.Tensor[]): number {
  const as = Array.isArray(a) ? a : [a];
  const bs = Array.isArray(b) ? b : [b];
  if (as.length !== bs.length) throw new Error(`different output counts ${as.length} vs ${bs.length}`);
  let m = 0;
  as.forEach((t, i) => {
    const u = bs[i]!;
    if (t.shape.join() !== u.shape.join()) throw new Error(`shapes differ ${t.shape} vs ${u.shape}`);
    m = Math.max(m, tf.tidy(() => tf.max(tf.abs(tf.sub(t, u))).dataSync()[0]!));
  });
  return m;
}

/** Seeded random NHWC tensor. */
export function randomImage(shape: number[], seed = 1): tf.Tensor {
  return tf.randomUniform(shape, 0, 1, 'float32', seed);
}

/** Saves a model through the file:// handler into a temporary directory and loads it back (the directory is removed). */
export async function fileRoundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  registerFileHandler();
  const dir = await mkdtemp(join(tmpdir(), 'smtf-roundtrip-'));
  try {
    await model.save(`file://${dir}`);
    return await tf.loadLayersModel(`file://${join(dir, 'model.json')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Both models give bit-identical outputs (same count, shapes and values) on `x`. */
export function expectSamePredictions(a: tf.LayersModel, b: tf.LayersModel, x: tf.Tensor): void {
  const ya = [a.predict(x)].flat() as tf.Tensor[];
  const yb = [b.predict(x)].flat() as tf.Tensor[];
  expect(yb.map((t) => t.shape)).toEqual(ya.map((t) => t.shape));
  ya.forEach((t, i) => expect(Array.from(yb[i]!.dataSync())).toEqual(Array.from(t.dataSync())));
  tf.dispose([...ya, ...yb]);
}

/** 8x8x1 -> conv 2 filters (3x3, same) -> relu -> conv 1 filter (1x1, sigmoid): layer outputs of 128, 128 and 64 elements. */
export function tinyConvModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  const c1 = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  const r = tf.layers.activation({ activation: 'relu' }).apply(c1) as tf.SymbolicTensor;
  const out = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }).apply(r) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}
