import * as tf from '@tensorflow/tfjs';
import { uniqueLayerName } from './naming.js';
import { checkOneOf } from '../util/validate.js';

/** How the gated map encodes "background": see {@link ClassGate}. */
export type ClassGateActivation = 'sigmoid' | 'softmax';
export const CLASS_GATE_ACTIVATIONS: readonly ClassGateActivation[] = ['sigmoid', 'softmax'];

/** Config of {@link ClassGate}. */
export interface ClassGateConfig {
  /** The final activation of the gated segmentation map. Default `'sigmoid'`. */
  activation?: ClassGateActivation;
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
}

/**
 * The inference-time gate of UNet 3+'s classification-guided module. Inputs:
 * `[seg [B, H, W, C], cls [B, 2]]`, where `cls` holds the probabilities of [no object, object].
 *
 * - Training (`training: true`, as in `fit`): the identity on `seg`, so the segmentation heads learn
 *   from every image.
 * - Inference (`predict`): `a = argmax(cls) ∈ {0, 1}` per image (a tie counts as "no object"), and
 *   - `'sigmoid'`: `seg · a` — an image classified as empty gives all zeros;
 *   - `'softmax'`: channels 1.. become `seg · a`, channel 0 becomes `1 − a·(1 − seg₀)`, so an empty
 *     image gives exactly class 0 (background, probability 1) everywhere; still sums to 1.
 *
 * Images classified as containing an object pass through unchanged.
 */
export class ClassGate extends tf.layers.Layer {
  static className = 'SMTF>ClassGate';
  readonly activation: ClassGateActivation;

  constructor(config: ClassGateConfig = {}) {
    super({ ...config, name: config.name ?? uniqueLayerName('class_gate') });
    this.activation = checkOneOf('ClassGate', 'activation', config.activation ?? 'sigmoid', CLASS_GATE_ACTIVATIONS);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [seg, cls] = asPair(inputShape);
    checkShapes(seg, cls);
    return [...seg];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor {
    return tf.tidy(() => {
      const [seg, cls] = (Array.isArray(inputs) ? inputs : [inputs]) as tf.Tensor[];
      if (!seg || !cls) throw new Error('ClassGate expects two inputs: [segmentation, cls]');
      checkShapes(seg.shape, cls.shape);
      if (kwargs.training === true) return seg.clone();
      const [b] = seg.shape as number[];
      const channels = seg.shape[3]!;
      // a = argmax(cls) with ties going to "no object": 1 where P(object) > P(empty).
      const [empty, object] = tf.split(cls, 2, 1) as [tf.Tensor, tf.Tensor];
      const a = tf.cast(tf.greater(object, empty), seg.dtype).reshape([b!, 1, 1, 1]);
      const gated = tf.mul(seg, a);
      if (this.activation === 'sigmoid') return gated;
      const background = tf.oneHot([0], channels).reshape([1, 1, 1, channels]).cast(seg.dtype);
      return tf.add(gated, tf.mul(tf.sub(1, a), background));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), activation: this.activation };
  }
}

function asPair(inputShape: tf.Shape | tf.Shape[]): [tf.Shape, tf.Shape] {
  if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
    throw new Error('ClassGate expects two inputs: [segmentation [B,H,W,C], cls [B,2]]');
  }
  return inputShape as [tf.Shape, tf.Shape];
}

function checkShapes(seg: tf.Shape, cls: tf.Shape): void {
  if (seg.length !== 4) {
    throw new Error(`ClassGate: the segmentation input must be NHWC (rank 4), got shape ${JSON.stringify(seg)}`);
  }
  if (cls.length !== 2 || (cls[1] !== null && cls[1] !== 2)) {
    throw new Error(
      `ClassGate: the cls input must be [batch, 2] = [P(no object), P(object)], got shape ${JSON.stringify(cls)}`,
    );
  }
  if (seg[0] != null && cls[0] != null && seg[0] !== cls[0]) {
    throw new Error(`ClassGate: batch sizes differ: segmentation ${seg[0]}, cls ${cls[0]}`);
  }
}

tf.serialization.registerClass(ClassGate);
