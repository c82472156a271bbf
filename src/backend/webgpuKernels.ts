/**
 * A correction to @tensorflow/tfjs-backend-webgpu 4.22, registered by `initBackend('webgpu')`.
 *
 * Its `Cast` from bool or int32 to float32 copies nothing: the float32 result shares the input's
 * i32 buffer. Shaders that read that buffer raw then fail to compile (the transpose inside every
 * reduction over leading axes, e.g. `tf.sum(mask, [0, 1, 2])` of a thresholded mask), and the
 * reduction silently yields zeros: the Dice/IoU metrics of this library came out wrong. This
 * `Cast` converts for real: the stock kernel, then `x · 1` through the stock `Multiply`, whose
 * shader reads its inputs through converting getters into a genuine float32 buffer.
 */
import * as tf from '@tensorflow/tfjs';

interface WebGPUBackendLike extends tf.KernelBackend {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

let stockCast: tf.KernelFunc | null = null;

const castConverting: tf.KernelFunc = (args) => {
  const x = args.inputs['x'] as tf.TensorInfo;
  const shared = stockCast!(args) as tf.TensorInfo;
  if (args.attrs?.['dtype'] !== 'float32' || (x.dtype !== 'int32' && x.dtype !== 'bool')) return shared;
  const backend = args.backend as WebGPUBackendLike;
  const one = backend.makeTensorInfo([], 'float32', new Float32Array([1]));
  const multiply = tf.getKernel('Multiply', 'webgpu')!.kernelFunc;
  const converted = multiply({ inputs: { a: shared, b: one }, backend, attrs: {} }) as tf.TensorInfo;
  backend.disposeData(one.dataId);
  backend.disposeData(shared.dataId);
  return converted;
};

/** Replaces the webgpu `Cast` kernel (idempotent); returns the names of the kernels replaced. */
export function registerWebGPUKernels(): string[] {
  const current = tf.getKernel('Cast', 'webgpu');
  if (!current) throw new Error("registerWebGPUKernels: the 'webgpu' backend's kernels are not registered (import '@tensorflow/tfjs-backend-webgpu' first)");
  if (current.kernelFunc !== castConverting) {
    stockCast = current.kernelFunc;
    tf.unregisterKernel('Cast', 'webgpu');
    tf.registerKernel({ ...current, kernelFunc: castConverting });
  }
  return ['Cast'];
}
