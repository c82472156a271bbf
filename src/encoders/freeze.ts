/**
 * Encoder control for fine-tuning: freeze the encoder (weights and BatchNorm statistics), train the
 * decoder, unfreeze.
 */
import * as tf from '@tensorflow/tfjs';
import { modelInfo } from '../models/info.js';

type Layer = tf.layers.Layer;

/** Names of the plain encoder's layers in models saved before they carried a ModelInfo. */
const PLAIN_ENCODER_LAYER = /^(?:(?:enc\d+|bottleneck|x\d+_0)_|pool\d+$)/;

/**
 * The encoder's layers of a model built by this library, in `model.layers` order: every layer that
 * computes one of the encoder features recorded in the model's ModelInfo, and their ancestors (the
 * input excepted), plus any layer named `encoder.*`. For models saved before models carried their
 * ModelInfo, the plain encoder's layer names (`enc{i}_*`, `bottleneck_*`, `x{i}_0_*`, `pool{i}`).
 */
export function encoderLayers(model: tf.LayersModel): Layer[] {
  if (!(model instanceof tf.LayersModel)) throw new Error('encoderLayers: model must be a tf.LayersModel');
  const inModel = new Set<Layer>(model.layers);
  const info = modelInfo(model);
  const found = new Set<Layer>();
  if (info !== null) {
    const stack = model.layers.filter((l) => info.encoderFeatures.includes(l.name));
    while (stack.length > 0) {
      const layer = stack.pop()!;
      if (found.has(layer)) continue;
      found.add(layer);
      for (const node of layer.inboundNodes) {
        for (const parent of node.inboundLayers) if (inModel.has(parent)) stack.push(parent);
      }
    }
  }
  const byName = info === null ? (name: string) => name.startsWith('encoder.') || PLAIN_ENCODER_LAYER.test(name) : (name: string) => name.startsWith('encoder.');
  const layers = model.layers.filter((l) => (found.has(l) || byName(l.name)) && l.getClassName() !== 'InputLayer');
  if (layers.length === 0) {
    throw new Error(
      `model '${model.name}' has no encoder layers: it records no encoder features in its metadata ` +
        `(modelInfo) and no layer is named encoder.*, enc{i}_*, bottleneck_*, x{i}_0_* or pool{i}. ` +
        'Build it with createModel (or load a model saved from one)',
    );
  }
  return layers;
}

/** Names of {@link encoderLayers}. */
export function encoderLayerNames(model: tf.LayersModel): string[] {
  return encoderLayers(model).map((l) => l.name);
}

/**
 * Freezes the encoder for fine-tuning: its layers become non-trainable (the optimizer leaves their
 * weights alone), and its BatchNormalization layers normalise with their moving statistics and stop
 * updating them, also in training (Keras 2 semantics; tfjs's own BatchNormalization ignores
 * `trainable`). Call it before `compile` / `train` (tfjs collects the trainable weights at compile
 * time). `trainable: false` is saved with the model; after loading one, call `freezeEncoder` again
 * before training it with your own loop (`train()` does this by itself). Returns the frozen layers'
 * names.
 */
export function freezeEncoder(model: tf.LayersModel): string[] {
  return setEncoderTrainable(model, false);
}

/** Undoes {@link freezeEncoder}: the encoder trains again, BatchNorm included. Returns the layers' names. */
export function unfreezeEncoder(model: tf.LayersModel): string[] {
  return setEncoderTrainable(model, true);
}

function setEncoderTrainable(model: tf.LayersModel, trainable: boolean): string[] {
  const layers = encoderLayers(model);
  for (const layer of layers) {
    layer.trainable = trainable;
    frozenBatchNormRunsInInference(layer);
  }
  return layers.map((l) => l.name);
}

const PATCHED = Symbol('segmentation-models-tfjs frozen BatchNormalization');

/**
 * Makes a BatchNormalization layer run in inference mode whenever it is not trainable (checked at
 * every call, so unfreezing restores training mode). Other layers are left alone. Idempotent.
 */
export function frozenBatchNormRunsInInference(layer: Layer): void {
  const marked = layer as Layer & { [PATCHED]?: true };
  if (layer.getClassName() !== 'BatchNormalization' || marked[PATCHED]) return;
  const call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => call(inputs, layer.trainable ? kwargs : { ...kwargs, training: false });
  marked[PATCHED] = true;
}

/** {@link frozenBatchNormRunsInInference} for every layer of `model` (used by `train()`). */
export function frozenBatchNormsRunInInference(model: tf.LayersModel): void {
  for (const layer of model.layers) frozenBatchNormRunsInInference(layer);
}
