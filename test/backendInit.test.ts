import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, registerWasmKernels, WASM_KERNELS } from '../src/index.js';

describe('initBackend', () => {
  it("'auto' in Node without tfjs-node picks wasm and registers our kernels", async () => {
    expect(await initBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    for (const k of WASM_KERNELS) expect(tf.getKernel(k.kernelName, 'wasm').kernelFunc).toBe(k.kernelFunc);
    // idempotent
    expect(registerWasmKernels()).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'SplitV', 'Concat', 'Identity', 'Sum', 'Mean', 'Slice', 'MaxPoolGrad', 'Cast', 'FusedBatchNorm', 'Reshape', 'Add', 'ResizeBilinearGrad', 'ResizeNearestNeighborGrad', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']);
  });

  it('an explicit backend is honoured', async () => {
    expect(await initBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('an explicit backend that cannot initialise throws a clear error, or falls back on request', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(/tfjs-node/);
    await expect(initBackend('webgl')).rejects.toThrow(/browser/);
    await initBackend('cpu');
    expect(await initBackend('tensorflow', { fallback: true })).toBe('wasm');
  });

  it('rejects an unknown backend name', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(/unknown backend 'gpu'/);
  });

  it('the wasm backend can compute a conv2d filter gradient after initBackend', async () => {
    await initBackend('wasm');
    const x = tf.ones([1, 3, 3, 1]);
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))(tf.zeros([2, 2, 1, 1]));
    expect(Array.from(g.dataSync())).toEqual([4, 4, 4, 4]); // each tap sees 2×2 ones
    tf.dispose([x, g]);
  });
});
