// Our wasm module of memory-movement kernels (src/backend/kernels/simd.ts): the committed binary
// matches its source, each function against a plain reference, and the kernels' JavaScript
// fallbacks (module switched off) against cpu.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/index.js';
import { type SimdKernels, setSimdKernelsEnabled, simdKernels } from '../src/backend/kernels/simd.js';
import { SIMD_KERNELS_WASM } from '../src/backend/kernels/simdKernelsWasm.js';
import type { WasmBackend } from '../src/backend/kernels/wasmUtil.js';
import { compare, filterGrad, seeded, withChunkLimits } from './backendCompare.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The module on a fresh memory of its own, and a float view of that memory. */
function standalone(): { k: SimdKernels; f32: Float32Array } {
  const memory = new WebAssembly.Memory({ initial: 4 });
  const bytes = Uint8Array.from(atob(SIMD_KERNELS_WASM.unshared), (c) => c.charCodeAt(0));
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as SimdKernels;
  return { k, f32: new Float32Array(memory.buffer) };
}

describe('the wasm module', () => {
  it('the committed binary is the compiled simdKernels.wat (npm run build:simd)', () => {
    const r = spawnSync(process.execPath, ['scripts/build-simd-kernels.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('up to date');
    expect(r.status).toBe(0);
  });

  it('both variants validate; the shared one instantiates on a shared memory', () => {
    for (const v of [SIMD_KERNELS_WASM.unshared, SIMD_KERNELS_WASM.shared]) {
      expect(WebAssembly.validate(Uint8Array.from(atob(v), (c) => c.charCodeAt(0)))).toBe(true);
    }
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const bytes = Uint8Array.from(atob(SIMD_KERNELS_WASM.shared), (c) => c.charCodeAt(0));
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } })).not.toThrow();
  });

  it('copy_blocks copies strided blocks of any length (16-byte and 4-byte tails), nothing else', () => {
    const { k, f32 } = standalone();
    for (const len of [1, 3, 4, 5, 16, 19]) {
      f32.fill(0);
      for (let i = 0; i < 1000; i++) f32[i] = i + 1;
      const rows = 7;
      k.copy_blocks(4 * 3, 4 * (len + 2), 4 * 2000, 4 * (len + 5), rows, 4 * len);
      for (let r = 0; r < rows; r++) {
        for (let j = -1; j <= len; j++) {
          const expected = j >= 0 && j < len ? 3 + r * (len + 2) + j + 1 : 0;
          if (j >= 0 || r > 0) expect(f32[2000 + r * (len + 5) + j]).toBe(expected);
        }
      }
    }
  });

  it('gather reads with row and column strides', () => {
    const { k, f32 } = standalone();
    for (let i = 0; i < 1000; i++) f32[i] = i;
    k.gather(4 * 5, 4 * 40, 4 * 3, 4 * 2000, 4 * 10, 4, 7);
    for (let r = 0; r < 4; r++) for (let j = 0; j < 7; j++) expect(f32[2000 + r * 10 + j]).toBe(5 + r * 40 + j * 3);
  });

  it('to_planes transposes pixels × channels into planes, for any channel and pixel count', () => {
    const { k, f32 } = standalone();
    for (const [n, c] of [[8, 4], [9, 6], [3, 3], [16, 17], [1, 1], [5, 8]]) {
      for (let i = 0; i < n * c; i++) f32[i] = i + 0.5;
      const plane = n + 3;
      f32.fill(-1, 4000, 4000 + c * plane);
      k.to_planes(0, n, c, 4 * 4000, 4 * plane);
      for (let ch = 0; ch < c; ch++) {
        for (let p = 0; p < plane; p++) expect(f32[4000 + ch * plane + p]).toBe(p < n ? p * c + ch + 0.5 : -1);
      }
    }
  });
});

describe('the module runs on the backend memory, single- and multi-threaded', () => {
  for (const threads of [1, 2]) {
    it(`${threads} thread(s): instantiated on the wasm backend's memory`, async () => {
      await initBackend('wasm', { threads });
      expect(simdKernels(tf.backend() as unknown as WasmBackend)).not.toBeNull();
    });
  }
});

describe('the kernels without the wasm module (JavaScript paths) match cpu', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    setSimdKernelsEnabled(false);
  });
  afterAll(() => {
    setSimdKernelsEnabled(true);
  });

  it('module off: simdKernels() says so', () => {
    expect(simdKernels(tf.backend() as unknown as WasmBackend)).toBeNull();
  });

  it('conv2d filter gradients: shifted (groups and bands) and strided (groups and row chunks)', async () => {
    await withChunkLimits({ shiftedPixels: 8 * 25, patchFloats: 3 * 3 * 5 * 4 * 2 }, () =>
      compare(() => {
        const x = seeded([3, 20, 23, 5], 60);
        const w = seeded([3, 3, 5, 4], 61);
        return [filterGrad(x, w, 1, 'same', 62), filterGrad(x, w, 2, 'same', 63)];
      }),
    );
  });

  it('conv2d input gradients and transposed convolutions (rotation, spread, non-overlapping shuffle)', async () => {
    await compare(() => {
      const x = seeded([2, 7, 6, 3], 66);
      const out: tf.Tensor[] = [];
      for (const [k, s, pad] of [[3, 1, 'same'], [3, 2, 'same'], [2, 2, 'valid']] as [number, number, 'same' | 'valid'][]) {
        const w = seeded([k, k, 3, 4], 67);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad);
        out.push(tf.grads(f)([x, w], seeded(f(x, w).shape, 68))[0]!);
      }
      out.push(tf.conv2dTranspose(seeded([2, 3, 4, 4], 69) as tf.Tensor4D, seeded([2, 2, 3, 4], 70) as tf.Tensor4D, [2, 6, 8, 3], 2, 'valid'));
      return out;
    });
  });

  it('concat, split, slice (float32 and int32) and max-pool gradients', async () => {
    await compare(() => {
      const x = seeded([2, 5, 6, 7], 64);
      const xi = tf.cast(tf.mul(x, 50), 'int32');
      const parts = tf.split(x, [2, 5], 3);
      const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'same');
      return [
        tf.concat([parts[1]!, x, parts[0]!], 3),
        tf.cast(tf.concat([xi, xi], 1), 'float32'),
        tf.slice(x, [0, 1, 2, 1], [2, 3, 3, 5]),
        tf.cast(tf.slice(xi, [1, 0, 0, 0], [1, 5, 6, 7]), 'float32'),
        tf.grads(pool)([x], seeded([2, 3, 3, 7], 65))[0]!,
      ];
    });
  });
});
