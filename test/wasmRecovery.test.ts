// The wasm backend at its 4 GiB limit: a full heap is a clean error (not silent corruption), a
// real abort of the module is reported clearly and the backend is re-initialised so the process
// stays usable, and train() refuses a step that cannot fit before running it. Filling the heap
// uses raw allocations that are never touched, so this costs address space, not RAM.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel, createSegmentationDataset, estimateTrainingMemory, explainWasmFailure, initBackend, syntheticCells, train,
  WasmOutOfMemoryError, LAYER_MEMORY_FACTORS, LOSS_MEMORY_FACTOR, WASM_LAYER_MEMORY_FACTOR,
} from '../src/index.js';
import { tinyConvModel } from './helpers.js';

interface WasmModule {
  asm: { malloc(n: number): number; free(p: number): void };
  HEAPU8: Uint8Array;
}
const wasmModule = () => (tf.backend() as unknown as { wasm: WasmModule }).wasm;

/** Allocates (without touching) until even 64 bytes fail; returns the blocks, largest first. */
function fillHeap(): { ptr: number; size: number }[] {
  const raw = wasmModule().asm.malloc;
  const held: { ptr: number; size: number }[] = [];
  for (let size = 2 ** 31; size >= 64;) {
    const ptr = raw(size);
    if (ptr !== 0) held.push({ ptr, size });
    else size = Math.floor(size / 2);
  }
  return held;
}

/** Frees the blocks, unless the module they came from has been replaced since. */
function release(module: WasmModule, held: { ptr: number; size: number }[]): void {
  if (wasmModule() === module) for (const { ptr } of held) module.asm.free(ptr);
  held.length = 0;
}

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('wasm out of memory', () => {
  it('a tensor that does not fit throws WasmOutOfMemoryError instead of corrupting other tensors', () => {
    const keep = tf.tensor1d([1, 2, 3, 4]);
    const module = wasmModule();
    const held = fillHeap();
    try {
      expect(() => tf.zeros([1024 * 1024])).toThrow(WasmOutOfMemoryError);
      expect(() => tf.zeros([1024 * 1024])).toThrow(/The wasm backend is out of memory: it cannot allocate 4\.0 MiB more .*microBatch/);
    } finally {
      release(module, held);
    }
    expect(Array.from(keep.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(tf.add(keep, 1).dataSync())).toEqual([2, 3, 4, 5]);
    keep.dispose();
  });

  it('an abort inside the module is explained and the backend re-initialised: later ops are right and earlier tensors survive', async () => {
    const keep = tf.tensor1d([1, 2, 3, 4]);
    const x = tf.randomUniform([1, 8, 8, 512], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 512, 512], 0, 1, 'float32', 2) as tf.Tensor4D;
    const expected = await tf.conv2d(x, w, 1, 'same').data();
    // A filter with new data: its XNNPACK operator (with 9 MiB of packed weights) is not cached yet.
    const w2 = tf.add(w, 0) as tf.Tensor4D;
    // Leave room for the conv's 128 KiB output but not for the packed weights: the allocation
    // inside the C++ kernel fails and the module aborts.
    const module = wasmModule();
    const hole = module.asm.malloc(1024 * 1024);
    const held = fillHeap();
    let error: unknown;
    try {
      module.asm.free(hole);
      tf.conv2d(x, w2, 1, 'same').dataSync();
    } catch (e) {
      error = e;
    } finally {
      release(module, held);
    }
    expect(error).toBeInstanceOf(WebAssembly.RuntimeError);
    expect(String((error as Error).message)).toMatch(/Aborted\(\)/);
    const explained = (await explainWasmFailure(error, 'predict: a 8x8 image', 'use smaller tiles')) as Error;
    expect(explained.message).toMatch(
      /^predict: a 8x8 image crashed the wasm module \("Aborted\(\)\. Build with -sASSERTIONS for more info\."\), most likely because it ran out of memory \(the wasm heap is capped at 4 GiB\): use smaller tiles \(the wasm backend was re-initialised, so this process can go on\)\.$/,
    );
    expect(explained.cause).toBe(error);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmModule().HEAPU8.length).toBeLessThan(1024 ** 3); // a fresh module
    expect(Array.from(tf.add(keep, 1).dataSync())).toEqual([2, 3, 4, 5]);
    const again = await tf.conv2d(x, w, 1, 'same').data();
    let maxDiff = 0;
    for (let i = 0; i < again.length; i++) maxDiff = Math.max(maxDiff, Math.abs(again[i]! - expected[i]!));
    expect(maxDiff).toBeLessThan(1e-3);
    tf.dispose([keep, x, w, w2]);
  });
});

describe('train() on wasm checks the 4 GiB limit before the first step', () => {
  it("counts the wasm backend's leaner backward pass: WASM_LAYER_MEMORY_FACTOR per costly layer output", () => {
    expect(tf.getBackend()).toBe('wasm');
    const model = tinyConvModel(); // layer outputs of 128 (conv), 128 (relu) and 64 (conv + sigmoid) elements
    const lean = estimateTrainingMemory(model, { batchSize: 3 });
    const w = WASM_LAYER_MEMORY_FACTOR;
    expect(lean.backprop).toBe('lean-wasm');
    expect(lean.perSampleBytes).toBe(Math.ceil(4 * (w * 128 + w * 128 + 2 * w * 64 + LOSS_MEMORY_FACTOR * 64 + 2 * (64 + 64))));
    const stock = estimateTrainingMemory(model, { batchSize: 3, backend: 'cpu' });
    expect(stock.backprop).toBe('stock');
    const f = LAYER_MEMORY_FACTORS;
    expect(stock.perSampleBytes).toBe(4 * (f['Conv2D']! * 128 + f['Activation']! * 128 + (f['Conv2D']! + f['Activation']!) * 64 + LOSS_MEMORY_FACTOR * 64 + 2 * (64 + 64)));
    // On wasm the optimizer update's peak is counted beside the activations.
    expect(lean.updateBytes).toBe(stock.updateBytes);
    expect(lean.fixedBytes).toBe(Math.max(stock.fixedBytes, stock.updateBytes));
    expect(lean.bytes).toBe(3 * lean.perSampleBytes + lean.fixedBytes);
    model.dispose();
  });

  it("refuses the README's UNet++ at batch 8 on 256x256, naming the largest batch that fits", async () => {
    const data = createSegmentationDataset(syntheticCells({ count: 8, size: 256, seed: 1 }), { validationSplit: 0 });
    const model = createModel('unet++', { inputShape: [256, 256, 1], filters: [16, 32, 64, 128, 256], deepSupervision: true });
    await expect(train(model, data, { epochs: 1, verbose: 0 })).rejects.toThrow(
      /^train: one training step of .* with batch 8 of 256x256 images needs about 4\.\d GiB \(estimate\), more than the 4\.0 GiB the wasm backend has free \(limit 4\.0 GiB\)\. The largest batch that fits is 7: use batchSize: 7, or keep batchSize 8 and accumulate gradients over micro-batches with microBatch: 7/,
    );
    model.dispose();
  });
});
