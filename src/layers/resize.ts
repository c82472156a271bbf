import * as tf from '@tensorflow/tfjs';
import { bilinearTaps, type ResizeAxisTaps } from '../backend/kernels/resizeGrad.js';
import { uniqueLayerName } from './naming.js';
import { checkOneOf, isPositiveInt } from '../util/validate.js';

/** Interpolation of {@link Resize2D}, with PyTorch's `F.interpolate` semantics. */
export type ResizeInterpolation = 'nearest' | 'bilinear';
/** Every {@link ResizeInterpolation}. */
export const RESIZE_INTERPOLATIONS: readonly ResizeInterpolation[] = ['nearest', 'bilinear'];

/** Config of {@link Resize2D}. */
export interface Resize2DConfig {
  /** Default `'nearest'`. */
  interpolation?: ResizeInterpolation;
  /**
   * Integer scale factor: the layer takes one input and multiplies its height and width by it.
   * Without it the layer takes two inputs `[x, reference]` and resizes `x` to the reference's
   * height × width (read at run time, so it works on variable-size inputs).
   */
  scale?: number | null;
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
}

/**
 * Resizes NHWC feature maps as PyTorch's `F.interpolate` does (`align_corners=False`):
 * - `'nearest'`: PyTorch's legacy nearest, `src = min(floor(dst · in / out), in − 1)` =
 *   `tf.image.resizeNearestNeighbor(alignCorners=false, halfPixelCenters=false)`;
 * - `'bilinear'`: half-pixel centres, `src = max((dst + 0.5) · in / out − 0.5, 0)` =
 *   `tf.image.resizeBilinear(halfPixelCenters=true)`. Its gradient is computed here (see
 *   `resizeLikeTorch`).
 *
 * Two forms: `[x, reference]` → x at the reference's size (segmentation_models.pytorch's Unet
 * resizes every decoder stage to its skip's actual size), or one input with `scale`.
 */
export class Resize2D extends tf.layers.Layer {
  static className = 'SMTF>Resize2D';
  readonly interpolation: ResizeInterpolation;
  readonly scale: number | null;

  constructor(config: Resize2DConfig = {}) {
    super({ ...config, name: config.name ?? uniqueLayerName('resize2d') });
    const interpolation = checkOneOf('Resize2D', 'interpolation', config.interpolation ?? 'nearest', RESIZE_INTERPOLATIONS);
    const scale = config.scale ?? null;
    if (scale !== null && !isPositiveInt(scale)) {
      throw new Error(`Resize2D: scale must be an integer >= 1 (or unset to resize like a reference), got ${String(scale)}`);
    }
    this.interpolation = interpolation;
    this.scale = scale;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as tf.Shape[];
    checkInputCount(this.scale, shapes.length);
    const x = shapes[0]!;
    if (x.length !== 4) throw new Error(`Resize2D expects NHWC input (rank 4), got shape ${JSON.stringify(x)}`);
    if (this.scale !== null) {
      const s = this.scale;
      return [x[0]!, x[1] == null ? null : x[1] * s, x[2] == null ? null : x[2] * s, x[3]!];
    }
    const ref = shapes[1]!;
    if (ref.length !== 4) throw new Error(`Resize2D: the reference must be NHWC (rank 4), got shape ${JSON.stringify(ref)}`);
    return [x[0]!, ref[1]!, ref[2]!, x[3]!];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      checkInputCount(this.scale, list.length);
      const x = list[0] as tf.Tensor4D;
      const [, h, w] = x.shape;
      const size: [number, number] =
        this.scale !== null ? [h * this.scale, w * this.scale] : [list[1]!.shape[1]!, list[1]!.shape[2]!];
      return resizeLikeTorch(x, size, this.interpolation);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), interpolation: this.interpolation, scale: this.scale };
  }
}

function checkInputCount(scale: number | null, n: number): void {
  if (scale !== null && n !== 1) throw new Error(`Resize2D with a scale takes one input, got ${n}`);
  if (scale === null && n !== 2) {
    throw new Error(`Resize2D without a scale takes two inputs [x, reference], got ${n}`);
  }
}

/**
 * `F.interpolate(x, size, mode, align_corners=False)` on an NHWC tensor (see {@link Resize2D}).
 * Same size is the identity (a copy). Nearest is tfjs's op with its gradient kernel (right on every
 * backend once this library fixed the cpu one). Bilinear needs `halfPixelCenters`, which the
 * gradient kernels of the webgl, webgpu and tensorflow backends ignore (this library fixes only
 * cpu's and wasm's), so its gradient is computed here from the same sampling rule.
 */
export function resizeLikeTorch(x: tf.Tensor4D, size: [number, number], interpolation: ResizeInterpolation): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (size[0] === h && size[1] === w) return x.clone();
  if (interpolation === 'nearest') return tf.image.resizeNearestNeighbor(x, size, false, false);
  const resize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.image.resizeBilinear(args[0] as tf.Tensor4D, size, false, true),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => bilinearGradient(dy as tf.Tensor4D, h, w),
  }));
  return resize(x) as tf.Tensor4D;
}

/** dL/dx of the half-pixel bilinear resize: every output's gradient goes back to the two × two samples it read, with their weights. */
function bilinearGradient(dy: tf.Tensor4D, inH: number, inW: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, outH, outW] = dy.shape;
    const sampling = { alignCorners: false, halfPixelCenters: true };
    // Along H on [outH, b, outW, c], then along W on [outW, b, inH, c].
    const alongH = scatterRows(tf.transpose(dy, [1, 0, 2, 3]), bilinearTaps(inH, outH, sampling), inH);
    const alongW = scatterRows(tf.transpose(alongH, [2, 1, 0, 3]), bilinearTaps(inW, outW, sampling), inW);
    return tf.transpose(alongW, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** Sums the rows of `g` (`[out, …]`) into `[inSize, …]` as the taps read them (sorted segment sums). */
function scatterRows(g: tf.Tensor, taps: ResizeAxisTaps, inSize: number): tf.Tensor {
  const out = g.shape[0]!;
  const rows = tf.range(0, out, 1, 'int32') as tf.Tensor1D;
  const sum = (data: tf.Tensor, ids: Int32Array) => {
    const s = tf.sparse.sparseSegmentSum(data, rows, tf.tensor1d(ids, 'int32'));
    const missing = inSize - s.shape[0]!;
    return missing > 0 ? tf.pad(s, [[0, missing], ...g.shape.slice(1).map((): [number, number] => [0, 0])]) : s;
  };
  const frac = tf.tensor(Float32Array.from(taps.frac), [out, ...g.shape.slice(1).map(() => 1)]);
  return tf.add(sum(tf.mul(g, tf.sub(1, frac)), taps.lo), sum(tf.mul(g, frac), taps.hi));
}

tf.serialization.registerClass(Resize2D);
