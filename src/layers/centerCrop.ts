import * as tf from '@tensorflow/tfjs';
import { uniqueLayerName } from './naming.js';

/**
 * The UNet "copy and crop": crops the first input (a skip feature map, NHWC) to the spatial size of
 * the second input (the reference), centred. Output: `[B, H_ref, W_ref, C_skip]`.
 *
 * Works on variable-size inputs: the crop offsets are computed from the runtime shapes.
 */
export class CenterCrop2D extends tf.layers.Layer {
  static className = 'SMTF>CenterCrop2D';

  constructor(config: { name?: string; trainable?: boolean; dtype?: tf.DataType } = {}) {
    super({ ...config, name: config.name ?? uniqueLayerName('center_crop2d') });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [skip, ref] = asPair(inputShape);
    if (skip.length !== 4 || ref.length !== 4) {
      throw new Error(`CenterCrop2D expects two NHWC inputs, got shapes ${JSON.stringify(inputShape)}`);
    }
    for (const axis of [1, 2]) {
      const s = skip[axis];
      const r = ref[axis];
      if (s != null && r != null && r > s) {
        throw new Error(
          `CenterCrop2D cannot crop a ${skip[1]}x${skip[2]} map to the larger ${ref[1]}x${ref[2]}`,
        );
      }
    }
    return [skip[0], ref[1], ref[2], skip[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [skip, ref] = inputs as tf.Tensor[];
      if (!skip || !ref) throw new Error('CenterCrop2D expects two inputs: [skip, reference]');
      const [, h, w] = skip.shape as number[];
      const [, th, tw] = ref.shape as number[];
      if (th > h || tw > w) {
        throw new Error(
          `CenterCrop2D cannot crop a ${h}x${w} map to the larger ${th}x${tw}; ` +
            'check the input size (see unetValidInputSize)',
        );
      }
      const top = Math.floor((h - th) / 2);
      const left = Math.floor((w - tw) / 2);
      if (top === 0 && left === 0 && th === h && tw === w) return skip.clone();
      return tf.slice(skip, [0, top, left, 0], [-1, th, tw, -1]);
    });
  }
}

function asPair(inputShape: tf.Shape | tf.Shape[]): [tf.Shape, tf.Shape] {
  if (!Array.isArray(inputShape[0]) || inputShape.length !== 2) {
    throw new Error('CenterCrop2D expects two inputs: [skip, reference]');
  }
  return inputShape as [tf.Shape, tf.Shape];
}

tf.serialization.registerClass(CenterCrop2D);
