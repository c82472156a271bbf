// Backward-pass memory on wasm (src/backend/gradients.ts): leaner saving, progressive release,
// the tfjs internals they rely on, and a clear error at the 4 GiB limit.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/index.js';
import { guardMalloc, wasmAllocationsGuarded } from '../src/backend/wasmGuard.js';
import { compare, seeded } from './backendCompare.js';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

/** conv → batch norm (batch statistics) → ReLU, twice: what every model block does. */
function blocks(x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor): tf.Tensor {
  let y = x;
  for (const w of [w1, w2]) {
    y = tf.conv2d(y as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    const c = y.shape[3]!;
    y = tf.relu(tf.batchNorm(y as tf.Tensor4D, mean, variance, tf.fill([c], 0.1), tf.fill([c], 1.2), 1e-3));
  }
  return y;
}

describe('the tfjs internals the backward-pass release relies on', () => {
  it('engine state: gradientDepth is 0 and the forward tape is live while gradient functions run', async () => {
    await tf.setBackend('wasm');
    const state = tf.engine().state as unknown as { gradientDepth: number; activeTape: { outputs: tf.Tensor[] }[] | null };
    expect(state.gradientDepth).toBe(0);
    const seen: { depth: number; tapeLength: number }[] = [];
    const probe = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.mul(x, 2),
      gradFunc: (dy: tf.Tensor) => {
        seen.push({ depth: state.gradientDepth, tapeLength: state.activeTape?.length ?? -1 });
        return tf.mul(dy, 2);
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0]);
    const input = tf.tensor1d([1, -1]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.relu(probe(tf.mul(x, 3)) as tf.Tensor)))(input);
    expect(Array.from(g.dataSync())).toEqual([6, 0]);
    tf.dispose([g, input]);
    expect(seen.length).toBe(1);
    expect(seen[0]!.depth).toBe(0);
    expect(seen[0]!.tapeLength).toBeGreaterThanOrEqual(4); // mul, custom op, relu, sum
    expect(Array.isArray(state.activeTape)).toBe(false); // reset once backprop is done
  });

  it('on wasm, Relu saves its output and Mean / Sum / Reshape save nothing; elsewhere the stock inputs', async () => {
    await tf.setBackend('wasm');
    expect(tf.getGradient('Relu')!.inputsToSave).toEqual([]);
    expect(tf.getGradient('Relu')!.outputsToSave).toEqual([true]);
    for (const k of ['Mean', 'Sum', 'Reshape']) expect(tf.getGradient(k)!.inputsToSave).toEqual([]);
    await tf.setBackend('cpu');
    expect(tf.getGradient('Relu')!.inputsToSave).toEqual(['x']);
    for (const k of ['Mean', 'Sum', 'Reshape']) expect(tf.getGradient(k)!.inputsToSave).toEqual(['x']);
    await tf.setBackend('wasm');
  });
});

describe('gradients with lean saving and progressive release', () => {
  it('conv / batch norm / ReLU blocks: gradients equal cpu', async () => {
    await compare(() => {
      const x = seeded([2, 6, 5, 3], 80);
      const w1 = seeded([3, 3, 3, 4], 81);
      const w2 = seeded([3, 3, 4, 4], 82);
      const y = blocks(x, w1, w2);
      return [y, ...tf.grads(blocks)([x, w1, w2], seeded(y.shape, 83))];
    });
  });

  it('a dy passed in is left alone, and nothing leaks', async () => {
    await tf.setBackend('wasm');
    const x = seeded([2, 6, 5, 3], 84);
    const w1 = seeded([3, 3, 3, 4], 85);
    const w2 = seeded([3, 3, 4, 4], 86);
    const dy = seeded([2, 6, 5, 4], 87);
    const before = tf.memory().numTensors;
    const g1 = tf.grads(blocks)([x, w1, w2], dy);
    expect(dy.isDisposed).toBe(false);
    const g2 = tf.grads(blocks)([x, w1, w2], dy); // the same dy again
    g1.forEach((g, i) => expect(Array.from(g.dataSync())).toEqual(Array.from(g2[i]!.dataSync())));
    tf.dispose([...g1, ...g2]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w1, w2, dy]);
  });

  it('gradients kept by the caller survive later additions and later backward passes', async () => {
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const x = seeded([2, 6, 5, 3], 92);
    const [w1, w2] = tf.tidy(() => [tf.variable(seeded([3, 3, 3, 4], 93)), tf.variable(seeded([3, 3, 4, 4], 94))]);
    const loss = () => tf.sum(blocks(x, w1!, w2!)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(loss);
    const kept = Object.values(grads).map((g) => Array.from(g.dataSync()));
    const sums = Object.values(grads).map((g) => tf.tidy(() => tf.add(tf.ones(g.shape), g))); // g as Add's 2nd operand
    const again = tf.variableGrads(loss);
    Object.values(grads).forEach((g, i) => {
      expect(g.isDisposed).toBe(false);
      expect(Array.from(g.dataSync())).toEqual(kept[i]);
    });
    tf.dispose([x, w1!, w2!, value, ...sums, ...Object.values(grads), ...Object.values(again.grads), again.value]);
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });

  it('second-order gradients (nothing released while an outer tape records) equal cpu', async () => {
    await compare(() => {
      const x = seeded([5], 88);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), tf.mean(tf.square(tf.reshape(a, [5, 1])))));
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.grad(f)(a)))(x)];
    });
  });

  it('the backward pass of conv / batch norm / ReLU blocks peaks at far fewer live bytes than stock', async () => {
    const x = seeded([4, 16, 16, 8], 89);
    const w1 = seeded([3, 3, 8, 8], 90);
    const w2 = seeded([3, 3, 8, 8], 91);
    /** Highest tf.memory().numBytes seen at the end of any kernel during one tf.grads. */
    const peak = async (backend: string): Promise<number> => {
      await tf.setBackend(backend);
      const inputs = [x, w1, w2].map((t) => tf.clone(t)); // on this backend
      const base = tf.memory().numBytes;
      let max = 0;
      const kernels = tf.getKernelsForBackend(backend);
      for (const k of kernels) {
        tf.unregisterKernel(k.kernelName, backend);
        tf.registerKernel({ ...k, kernelFunc: (a) => { const r = k.kernelFunc(a); max = Math.max(max, tf.memory().numBytes); return r; } });
      }
      try {
        tf.dispose(tf.grads(blocks)(inputs));
      } finally {
        for (const k of kernels) {
          tf.unregisterKernel(k.kernelName, backend);
          tf.registerKernel(k);
        }
      }
      tf.dispose(inputs);
      return max - base;
    };
    const stock = await peak('cpu'); // stock saving and release (only wasm changes them)
    const lean = await peak('wasm');
    // Measured: 0.38 of stock; 0.75 with the leaner saving alone (no progressive release).
    expect(lean).toBeLessThan(0.5 * stock);
    tf.dispose([x, w1, w2]);
  });
});

describe('the 4 GiB limit', () => {
  it('a failed allocation, or one that could take the heap past 4 GiB, is a clear Error', () => {
    const GiB = 2 ** 30;
    let calls = 0;
    const failing = guardMalloc(() => { calls++; return 0; }, () => GiB);
    expect(() => failing(1024)).toThrow(/wasm backend is out of memory: it cannot allocate 0\.0 MiB more \(1024\.0 MiB of wasm memory in use, at most 4096\.0 MiB\).*smaller batch/);
    expect(calls).toBe(1);
    // Blocks handed out up to 3.9 GiB: a 0.2 GiB request could wrap the heap break around.
    let next = 16;
    // (the memory grows with the blocks, as Emscripten's does)
    const bump = guardMalloc((n) => { calls++; const at = next; next += n; return at; }, () => Math.max(next, 65536));
    expect(bump(Math.floor(3.9 * GiB))).toBe(16);
    expect(() => bump(0.2 * GiB)).toThrow(/cannot allocate 204\.8 MiB more/);
    expect(calls).toBe(2); // not even tried
    expect(bump(1024)).toBe(16 + Math.floor(3.9 * GiB)); // small requests still go through
    const beyond = guardMalloc(() => 3.9 * GiB, () => 3.9 * GiB);
    expect(() => beyond(1024)).toThrow(/out of memory/); // a block past the end of the memory
  });

  it('initBackend installs the guard on the running wasm backend, also when threaded', async () => {
    for (const threads of [1, 2]) {
      await initBackend('wasm', { threads });
      expect(wasmAllocationsGuarded()).toBe(true);
      tf.dispose(tf.fill([1000], 1)); // (Emscripten's first _malloc call used to replace the guard)
      expect(wasmAllocationsGuarded()).toBe(true);
      expect(() => tf.fill([1_070_000_000], 0)).toThrow(/wasm backend is out of memory/);
      const t = tf.tidy(() => tf.add(tf.ones([3]), 1));
      expect(Array.from(t.dataSync())).toEqual([2, 2, 2]);
      t.dispose();
    }
  });
});
