/**
 * Floating-point operations of a model's convolutions, per image (multiply + add = 2 FLOP).
 * Only Conv2D / Conv2DTranspose / SeparableConv / Dense layers are counted: they are > 95 % of
 * the work of the UNet family; batch norm, activations, pooling and resizing are left out.
 */
import type * as tf from '@tensorflow/tfjs';

/** [H, W, C] of a layer's (single) input or output. */
function dims(t: tf.SymbolicTensor | tf.SymbolicTensor[]): number[] {
  const shape = (Array.isArray(t) ? t[0]! : t).shape;
  return shape.slice(1).map((d) => {
    if (d === null) throw new Error('convFlopsPerImage: the model needs a fixed input size to count FLOPs.');
    return d;
  });
}

export function convFlopsPerImage(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as { kernelSize?: number[]; filters?: number; units?: number };
    if (cls === 'Conv2D' || cls === 'Conv2DTranspose') {
      const k = cfg.kernelSize ?? [1, 1];
      const [ih, iw, cin] = dims(layer.input);
      const [oh, ow, cout] = dims(layer.output);
      // Conv2D: every output pixel sees k×k×cin inputs; transposed: every input pixel feeds k×k×cout.
      const positions = cls === 'Conv2D' ? oh * ow : ih * iw;
      flops += 2 * positions * k[0] * k[1] * cin * cout;
    } else if (cls === 'Dense') {
      const inShape = dims(layer.input);
      const outShape = dims(layer.output);
      const rows = inShape.slice(0, -1).reduce((a, b) => a * b, 1);
      flops += 2 * rows * inShape[inShape.length - 1] * outShape[outShape.length - 1];
    }
  }
  return flops;
}
