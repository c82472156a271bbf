/**
 * Multi-threaded tfjs wasm backend in Node (Node-only: `initBackend` imports this module
 * dynamically, so browser bundles never see it).
 *
 * The stock backend never uses threads in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is false
 * there, and its pthread workers are started from Blob URLs, which Node's Worker cannot load).
 * Here the package's own, untouched files run threaded:
 * - the Emscripten glue `wasm-out/tfjs-backend-wasm-threaded-simd.js` (a CommonJS factory) with
 *   the threaded SIMD `.wasm` beside it;
 * - `locateFile` hands Emscripten our CommonJS pthread worker (wasmPthreadWorker.cjs, shipped in
 *   dist/ next to this module), which evaluates the package's `wasmWorkerContents`;
 * - `mainScriptUrlOrBlob` is the glue's file path: each worker evaluates that file itself;
 * - `instantiateWasm` compiles the `.wasm` once per process and overrides the
 *   `emscripten_num_logical_cores` import: the C++ side creates min(threads, 8, cores / 2)
 *   XNNPACK threads, so it is told 2 × the requested count;
 * - `BackendWasm` (the package's class) runs over that module with `setThreadsCount(threads)`;
 * - the running pool workers are `unref()`ed (Emscripten `ref()`s a worker when it starts a
 *   pthread), so a script that is done exits. The computation itself is synchronous on the main
 *   thread, which waits for the pool, so nothing is cut short.
 *
 * If any of this fails, the factory falls back to the stock (single-threaded) backend and
 * `wasmBackendInfo().fallbackReason` says why. These internals are pinned by the dependency range
 * (`~4.22.0`) and checked by test/wasmThreads.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { MAX_WASM_THREADS, noteWasmStart } from './wasmInfo.js';

const require = createRequire(import.meta.url);
const PACKAGE = '@tensorflow/tfjs-backend-wasm';

/** The package files the threaded start reads (resolved as `import(PACKAGE)` resolves them). */
export function threadedWasmFiles(): { glue: string; wasm: string; workerContents: string; worker: string } {
  const glue = require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.js`);
  return {
    glue,
    wasm: glue.replace(/\.js$/, '.wasm'),
    workerContents: require.resolve(`${PACKAGE}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`),
    worker: workerFile,
  };
}

let workerFile = fileURLToPath(new URL('./wasmPthreadWorker.cjs', import.meta.url));
let wasmFileOverride: string | null = null;
let startTimeoutMs = 60_000;

/**
 * Test hook: replaces the threaded `.wasm` path and/or the pthread worker file (to force a failed
 * threaded start) and the start timeout. Returns the previous settings.
 */
export function setThreadedWasmOverrides(o: { wasm?: string | null; worker?: string; timeoutMs?: number }): {
  wasm: string | null;
  worker: string;
  timeoutMs: number;
} {
  const old = { wasm: wasmFileOverride, worker: workerFile, timeoutMs: startTimeoutMs };
  if (o.wasm !== undefined) wasmFileOverride = o.wasm;
  if (o.worker !== undefined) workerFile = o.worker;
  if (o.timeoutMs !== undefined) startTimeoutMs = o.timeoutMs;
  return old;
}

/**
 * The default number of wasm threads in Node: every core the process may use, up to the 8 the
 * wasm build supports.
 */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, availableParallelism()));
}

/** The part of an Emscripten module object that we touch. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { runningWorkers: { unref(): void }[]; terminateAllThreads(): void };
  HEAPU8: Uint8Array;
  wasmMemory?: WebAssembly.Memory;
  tfjs?: Record<string, unknown>;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

let compiled: { path: string; module: Promise<WebAssembly.Module> } | null = null;

function compile(path: string): Promise<WebAssembly.Module> {
  if (compiled === null || compiled.path !== path) {
    compiled = { path, module: WebAssembly.compile(readFileSync(path)) };
    compiled.module.catch(() => {
      compiled = null;
    });
  }
  return compiled.module;
}

/** Starts the threaded Emscripten module with `threads` XNNPACK threads. */
async function startThreadedModule(threads: number): Promise<EmscriptenModule> {
  const files = threadedWasmFiles();
  const wasmPath = wasmFileOverride ?? files.wasm;
  for (const [what, path] of [['glue', files.glue], ['wasm binary', wasmPath], ['worker contents', files.workerContents], ['pthread worker', files.worker]]) {
    if (!existsSync(path!)) throw new Error(`the ${what} file ${path} does not exist`);
  }
  const factory = require(files.glue) as Factory;
  if (typeof factory !== 'function') throw new Error(`${files.glue} does not export an Emscripten factory function`);
  const binary = await compile(wasmPath);
  const config: Record<string, unknown> & Partial<EmscriptenModule> = {};
  let memory: WebAssembly.Memory | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = new Promise<never>((_, reject) => {
    config.onAbort = (what: unknown) => reject(new Error(`the threaded wasm module aborted: ${String(what)}`));
    timer = setTimeout(() => reject(new Error(`the threaded wasm module did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    timer.unref();
  });
  config.locateFile = (path: string, prefix: string) => {
    if (path.endsWith('.worker.js')) return files.worker;
    if (path.endsWith('.wasm')) return wasmPath;
    return prefix + path;
  };
  config.mainScriptUrlOrBlob = files.glue;
  config.instantiateWasm = (
    info: { env: Record<string, unknown> },
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ) => {
    if (typeof info.env.emscripten_num_logical_cores !== 'function') {
      throw new Error('the wasm module no longer imports emscripten_num_logical_cores');
    }
    info.env.emscripten_num_logical_cores = () => 2 * threads;
    memory = info.env.memory as WebAssembly.Memory;
    WebAssembly.instantiate(binary, info as WebAssembly.Imports).then(
      (instance) => receive(instance, binary),
      (e: Error) => (config.onAbort as (w: unknown) => void)(e.message),
    );
    return {};
  };
  try {
    const module = await Promise.race([factory(config), failed]);
    module.wasmMemory = memory;
    return module;
  } catch (e) {
    config.PThread?.terminateAllThreads();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** The `module.tfjs` bridge that the stock `init()` adds and `BackendWasm` calls. */
function addTfjsBridge(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

/**
 * Keeps `module.HEAPU8` a view of the whole current memory: a pthread that grows the shared memory
 * only refreshes its own views, and BackendWasm reads tensors through `module.HEAPU8`.
 */
function freshHeapView(module: EmscriptenModule, memory: WebAssembly.Memory): void {
  let view = new Uint8Array(memory.buffer);
  Object.defineProperty(module, 'HEAPU8', {
    configurable: true,
    get: () => {
      if (view.byteLength !== memory.buffer.byteLength) view = new Uint8Array(memory.buffer);
      return view;
    },
    set: () => {}, // the glue re-assigns it after growing; the getter already sees the new size
  });
}

async function threadedBackend(threads: number): Promise<BackendWasm> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const module = await startThreadedModule(threads);
  try {
    addTfjsBridge(module);
    if (module.wasmMemory === undefined) throw new Error('the threaded wasm module did not import its memory');
    freshHeapView(module, module.wasmMemory);
    wasm.setThreadsCount(threads);
    let backend: BackendWasm;
    try {
      backend = new wasm.BackendWasm(module as never);
    } finally {
      wasm.setThreadsCount(-1); // the stock factory's default again
    }
    const got = wasm.getThreadsCount();
    if (got !== threads) {
      backend.dispose();
      throw new Error(`asked for ${threads} threads, the wasm module started ${got}`);
    }
    for (const worker of module.PThread?.runningWorkers ?? []) worker.unref();
    return backend;
  } catch (e) {
    module.PThread?.terminateAllThreads();
    throw e;
  }
}

type BackendFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

/** The stock 'wasm' factory (captured before we register ours) and the thread count we set up. */
let stockFactory: BackendFactory | null = null;
let configuredThreads: number | null = null;
const WASM_PRIORITY = 2; // the stock backend's

/**
 * Registers the 'wasm' backend factory for `threads` threads (1: the stock single-threaded
 * backend). No-op if it is already set up that way. Replacing a running wasm backend disposes it,
 * so this refuses while that backend still holds tensors.
 */
export function configureNodeWasm(threads: number): void {
  if (stockFactory === null) {
    stockFactory = tf.findBackendFactory('wasm') as BackendFactory | null;
    if (stockFactory === null) throw new Error("the stock 'wasm' backend is not registered");
    configuredThreads = 1;
  }
  if (configuredThreads === threads) return;
  const running = (tf.engine().registry as Record<string, tf.KernelBackend | undefined>).wasm;
  if (running !== undefined && running.numDataIds() > 0) {
    throw new Error(
      `initBackend: the wasm backend already runs with ${configuredThreads} thread(s) and holds ` +
        `${running.numDataIds()} tensor buffer(s); choose the thread count in the first initBackend call, ` +
        `or dispose those tensors (models included) before changing it.`,
    );
  }
  tf.removeBackend('wasm');
  const stock = stockFactory;
  tf.registerBackend(
    'wasm',
    threads === 1
      ? stock
      : async () => {
          try {
            const backend = await threadedBackend(threads);
            noteWasmStart(backend, { requestedThreads: threads });
            return backend;
          } catch (e) {
            const backend = await stock();
            noteWasmStart(backend, { requestedThreads: threads, fallbackReason: (e as Error).message });
            return backend;
          }
        },
    WASM_PRIORITY,
  );
  configuredThreads = threads;
}
