// The multi-threaded wasm backend in Node: the package internals it relies on, bit-identical
// results against the single-threaded build, fallback, re-configuration, and process exit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as wasmPackage from '@tensorflow/tfjs-backend-wasm';
import { createModel, initBackend, MAX_WASM_THREADS, wasmBackendInfo } from '../src/index.js';
import { defaultWasmThreads, setThreadedWasmOverrides, threadedWasmFiles } from '../src/backend/wasmThreads.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

afterEach(() => {
  tf.disposeVariables();
});

describe('the tfjs-backend-wasm internals the threaded start relies on', () => {
  const files = threadedWasmFiles();
  const glue = readFileSync(files.glue, 'utf8');

  it('is the 4.22 line, with the files and exports we use', () => {
    expect(require('@tensorflow/tfjs-backend-wasm/package.json').version).toMatch(/^4\.22\./);
    expect(typeof require(files.glue)).toBe('function');
    expect(readFileSync(files.wasm).subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
    const { wasmWorkerContents } = require(files.workerContents) as { wasmWorkerContents: string };
    expect(typeof wasmWorkerContents).toBe('string');
    // The worker evaluates the main script from a path and calls the factory by its global name.
    expect(wasmWorkerContents).toContain('importScripts(e.data.urlOrBlob)');
    expect(wasmWorkerContents).toContain('WasmBackendModuleThreadedSimd(Module)');
    expect(typeof wasmPackage.BackendWasm).toBe('function');
    expect(typeof wasmPackage.setThreadsCount).toBe('function');
    expect(typeof wasmPackage.getThreadsCount).toBe('function');
  });

  it('the glue keeps its hooks: locateFile, mainScriptUrlOrBlob, instantiateWasm, the cores import, a pool of 8', () => {
    expect(glue).toContain('var WasmBackendModuleThreadedSimd');
    expect(glue).toContain('Module["locateFile"]');
    expect(glue).toContain('Module["mainScriptUrlOrBlob"]');
    expect(glue).toContain('Module["instantiateWasm"](info,receiveInstance)');
    expect(glue).toContain('"emscripten_num_logical_cores":_emscripten_num_logical_cores');
    expect(glue).toContain('tfjs-backend-wasm-threaded-simd.worker.js');
    expect(glue).toContain('var pthreadPoolSize=8;');
    expect(MAX_WASM_THREADS).toBe(8);
    expect(glue).toContain('Module["PThread"]=PThread');
    expect(glue).toContain('worker.ref()'); // why we unref the running pool workers
  });
});

/** A small padded UNet trained two SGD steps from fixed weights; returns the final weights. */
async function trainSmallUNet(threads: number, init: Float32Array[] | null): Promise<{ init: Float32Array[]; weights: Float32Array[] }> {
  expect(await initBackend('wasm', { threads })).toBe('wasm');
  expect(wasmBackendInfo()!.threads).toBe(threads);
  const model = createModel('unet-padded', { inputShape: [32, 32, 1], filters: [4, 8, 16], numClasses: 1, batchNorm: true });
  const start = init ?? model.getWeights().map((w) => w.dataSync() as Float32Array);
  const initial = start.map((v, i) => tf.tensor(v, model.getWeights()[i]!.shape));
  model.setWeights(initial);
  tf.dispose(initial);
  const optimizer = tf.train.sgd(0.05);
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const x = tf.tensor(Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), [2, 32, 32, 1]);
  const y = tf.tensor(Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => (Math.cos(i * 0.11) > 0 ? 1 : 0)), [2, 32, 32, 1]);
  for (let i = 0; i < 2; i++) await model.trainOnBatch(x, y);
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { init: start, weights };
}

describe('threaded wasm backend in Node', () => {
  it('defaults to the cores available (at most 8)', () => {
    expect(defaultWasmThreads()).toBe(Math.min(8, Math.max(1, (require('node:os') as typeof import('node:os')).availableParallelism())));
  });

  it('trains bit for bit like the single-threaded build, with our kernels, at 2 and 3 threads', async () => {
    const single = await trainSmallUNet(1, null);
    expect(wasmBackendInfo()!.threadedBuild).toBe(false);
    for (const threads of [2, 3]) {
      const multi = await trainSmallUNet(threads, single.init);
      const info = wasmBackendInfo()!;
      expect(info).toMatchObject({ threads, requestedThreads: threads, threadedBuild: true });
      expect(info.fallbackReason).toBeUndefined();
      expect(multi.weights.length).toBe(single.weights.length);
      multi.weights.forEach((w, i) => expect(w).toEqual(single.weights[i]));
      // the weights really changed, so the comparison covers the gradient kernels
      expect(multi.weights.some((w, i) => w.some((v, j) => v !== single.init[i]![j]))).toBe(true);
    }
  });

  it('refuses to change the thread count while the wasm backend holds tensors', async () => {
    await initBackend('wasm', { threads: 2 });
    const keep = tf.ones([3]);
    await expect(initBackend('wasm', { threads: 1 })).rejects.toThrow(/already runs with 2 thread\(s\) and holds 1 tensor/);
    expect(await initBackend('wasm', { threads: 2 })).toBe('wasm'); // same count: fine
    keep.dispose();
    expect(await initBackend('wasm', { threads: 1 })).toBe('wasm');
    expect(wasmBackendInfo()!.threads).toBe(1);
  });

  it('rejects a thread count outside 1..8 with a clear error', async () => {
    for (const bad of [0, 9, 1.5, Number.NaN]) {
      await expect(initBackend('wasm', { threads: bad })).rejects.toThrow(/threads must be an integer from 1 to 8/);
    }
  });

  it('falls back to the single-threaded backend when the threaded start fails', async () => {
    const cases: [Parameters<typeof setThreadedWasmOverrides>[0], RegExp][] = [
      [{ wasm: join(root, 'no-such-file.wasm') }, /wasm binary file .*no-such-file\.wasm does not exist/],
      [{ wasm: threadedWasmFiles().glue }, /expected magic word/], // not a wasm binary
      [{ worker: join(root, 'test/fixtures/silentWorker.cjs'), timeoutMs: 3000 }, /did not start within 3000 ms/],
    ];
    for (const [override, reason] of cases) {
      await initBackend('wasm', { threads: 1 });
      const old = setThreadedWasmOverrides(override);
      try {
        expect(await initBackend('wasm', { threads: 2 })).toBe('wasm');
      } finally {
        setThreadedWasmOverrides(old);
      }
      const info = wasmBackendInfo()!;
      expect(info).toMatchObject({ threads: 1, requestedThreads: 2, threadedBuild: false });
      expect(info.fallbackReason).toMatch(reason);
      // the fallback backend computes, with our kernels
      const g = tf.tidy(() =>
        tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))(tf.zeros([2, 2, 1, 1])).dataSync(),
      );
      expect(Array.from(g)).toEqual([4, 4, 4, 4]);
    }
  });

  it('survives repeated start / dispose cycles and leaves no pool workers behind', async () => {
    for (let i = 0; i < 3; i++) {
      await initBackend('wasm', { threads: 1 });
      await initBackend('wasm', { threads: 2 });
      const module = (tf.engine().registry as unknown as Record<string, { wasm: { PThread: { runningWorkers: unknown[]; unusedWorkers: unknown[] } } }>).wasm!.wasm;
      expect(module.PThread.runningWorkers.length).toBe(1); // 2 threads = the caller + 1 pool thread
      expect(tf.tidy(() => tf.sum(tf.ones([5, 5])).dataSync()[0])).toBe(25);
      await initBackend('wasm', { threads: 1 }); // disposes the threaded backend
      expect(module.PThread.runningWorkers.length).toBe(0);
      expect(module.PThread.unusedWorkers.length).toBe(0);
    }
  });
});

describe('the packed package, in a fresh process', () => {
  it('ships the pthread worker, trains on 2 threads, and the process exits on its own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtf-pack-'));
    try {
      const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
      expect(pack.status, pack.stderr).toBe(0);
      const tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
      const app = join(dir, 'app');
      const pkg = join(app, 'node_modules', 'segmentation-models-tfjs');
      mkdirSync(pkg, { recursive: true });
      expect(spawnSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1']).status).toBe(0);
      // its dependencies and the tfjs peer, from this checkout (no network)
      for (const dep of ['@tensorflow', 'jpeg-js', 'pngjs']) symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep));
      writeFileSync(
        join(app, 'main.mjs'),
        `import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, wasmBackendInfo } from 'segmentation-models-tfjs';
await initBackend('wasm', { threads: 2 });
const model = createModel('unet-padded', { inputShape: [16, 16, 1], filters: [4, 8], numClasses: 1 });
model.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
const loss = await model.trainOnBatch(tf.ones([2, 16, 16, 1]), tf.zeros([2, 16, 16, 1]));
console.log(JSON.stringify({ info: wasmBackendInfo(), loss }));
`,
      );
      const run = spawnSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
      expect(run.error, 'the child process did not exit by itself within 60 s').toBeUndefined();
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { info: { threads: number; threadedBuild: boolean }; loss: number };
      expect(out.info).toMatchObject({ threads: 2, threadedBuild: true });
      expect(Number.isFinite(out.loss)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
