/**
 * Cheaper gradients on the wasm backend for the ops that batch-norm training is made of. tfjs keeps
 * one gradient per op for all backends; ours take over only while 'wasm' is the active backend and
 * hand every other case to the stock gradient (same formulas, fewer full-size passes):
 *
 * - `Mean`, `Sum`: the stock gradients multiply dy by a freshly allocated `ones(x.shape)` (built
 *   in JavaScript and copied into the heap); here the (scaled) dy is tiled instead.
 * - `FusedBatchNorm` (NHWC, per-channel statistics): the stock gradient makes ~14 full-size
 *   passes; here dx = dy·(scale/√(var+ε)) is one 1×1 depthwise convolution and the statistics
 *   gradients come from two per-channel sums, Σdy and Σdy·x (Σdy·(x−mean) = Σdy·x − mean·Σdy).
 */
import * as tf from '@tensorflow/tfjs';
import { WASM } from './kernels/wasmUtil.js';

type GradFunc = tf.GradConfig['gradFunc'];

function onWasm(stock: GradFunc, fast: GradFunc): GradFunc {
  return (dy, saved, attrs) => (tf.getBackend() === WASM ? fast(dy, saved, attrs) : stock(dy, saved, attrs));
}

/** Mean and Sum: dy (divided by the reduced size for Mean) tiled back over the reduced axes. */
function reduceGrad(kernel: 'Mean' | 'Sum'): GradFunc {
  return (dy, saved, attrs) => {
    const [x] = saved as tf.Tensor[];
    const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x!.shape);
    const expanded = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const reps = x!.shape.map((d, i) => (axes.includes(i) ? d : 1));
    const size = axes.reduce((n, a) => n * x!.shape[a]!, 1);
    return {
      x: () => {
        const g = kernel === 'Mean' ? tf.div(dy as tf.Tensor, size) : (dy as tf.Tensor);
        return tf.tile(tf.reshape(g, expanded), reps);
      },
    };
  };
}

function fusedBatchNormGrad(stock: GradFunc): GradFunc {
  return (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as (tf.Tensor | undefined)[];
    const c = x!.shape[3];
    const perChannel = (t: tf.Tensor | undefined) => t === undefined || (t.rank === 1 && t.size === c);
    if (x!.rank !== 4 || x!.dtype !== 'float32' || ![mean, variance, scale].every(perChannel)) {
      return stock(dy, saved, attrs);
    }
    const d = dy as tf.Tensor4D;
    const axes = [0, 1, 2];
    const rstd = tf.rsqrt(tf.add(variance!, (attrs as { varianceEpsilon: number }).varianceEpsilon));
    const scaledRstd = scale === undefined ? rstd : tf.mul(rstd, scale);
    const sumDy = tf.sum(d, axes);
    const sumDyXmu = tf.sub(tf.sum(tf.mul(d, x!), axes), tf.mul(mean!, sumDy));
    return {
      x: () => tf.depthwiseConv2d(d, tf.reshape(scaledRstd, [1, 1, c!, 1]) as tf.Tensor4D, 1, 'valid'),
      mean: () => tf.neg(tf.mul(scaledRstd, sumDy)),
      variance: () => tf.mul(tf.mul(tf.mul(tf.square(rstd), scaledRstd), -0.5), sumDyXmu),
      scale: () => tf.mul(rstd, sumDyXmu),
      offset: () => tf.clone(sumDy),
    };
  };
}

let registered = false;

/** Installs the wasm gradients (idempotent; called by registerWasmKernels). */
export function registerWasmGradients(): void {
  if (registered) return;
  const fast: Record<string, (stock: GradFunc) => GradFunc> = {
    [tf.Mean]: () => reduceGrad('Mean'),
    [tf.Sum]: () => reduceGrad('Sum'),
    [tf.FusedBatchNorm]: fusedBatchNormGrad,
  };
  for (const [name, make] of Object.entries(fast)) {
    const stock = tf.getGradient(name);
    if (stock === undefined) continue;
    tf.registerGradient({ ...stock, gradFunc: onWasm(stock.gradFunc, make(stock.gradFunc)) });
  }
  registered = true;
}
