import * as tf from '@tensorflow/tfjs';

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
