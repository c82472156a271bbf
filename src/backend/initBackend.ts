/**
 * Backend selection: `await initBackend()` picks the fastest backend that really initialises here,
 * registers this library's kernels, and returns the backend's name.
 *
 * Order for 'auto':
 * - Node:    'tensorflow' (tfjs-node-gpu, then tfjs-node, if installed) → 'wasm' → 'cpu'
 * - Browser: 'webgpu' (if @tensorflow/tfjs-backend-webgpu is installed and the browser has WebGPU)
 *            → 'webgl' → 'wasm' → 'cpu'
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './registerWasmKernels.js';
import { MAX_WASM_THREADS, guardWasmAllocations } from './wasmInfo.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'];

export interface InitBackendOptions {
  /**
   * Where the wasm backend finds its `.wasm` files (passed to `setWasmPaths`). Needed in browsers
   * when a bundler does not serve node_modules/@tensorflow/tfjs-backend-wasm/dist/; Node finds them
   * on its own.
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * With an explicit backend: on failure, go on down the 'auto' order instead of throwing.
   * Default false (an explicit choice that cannot be honoured is an error).
   */
  fallback?: boolean;
  /**
   * XNNPACK threads of the wasm backend, 1 to 8. In Node the default is every core the process
   * may use (`os.availableParallelism()`, at most 8), run on the package's multi-threaded build
   * (1 = the stock single-threaded backend); if the threaded start fails, the single-threaded
   * backend runs and `wasmBackendInfo().fallbackReason` says why. In browsers this is passed to
   * the wasm package's `setThreadsCount` (threads need a cross-origin-isolated page there).
   * Fixed once the wasm backend holds tensors.
   */
  threads?: number;
}

/** Imports a package the user may not have installed; resolves to false when it is missing. */
async function importOptional(specifier: string): Promise<boolean> {
  try {
    await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
    return true;
  } catch {
    return false;
  }
}

function isNode(): boolean {
  return tf.env().getBool('IS_NODE');
}

/** Makes backend `name` available (imports its package); false when that is impossible here. */
async function load(name: Exclude<BackendChoice, 'auto'>, options: InitBackendOptions): Promise<boolean> {
  switch (name) {
    case 'tensorflow':
      if (!isNode()) return false;
      return (await importOptional('@tensorflow/tfjs-node-gpu')) || (await importOptional('@tensorflow/tfjs-node'));
    case 'webgpu':
      if (isNode() || typeof navigator === 'undefined' || !('gpu' in navigator)) return false;
      return importOptional('@tensorflow/tfjs-backend-webgpu');
    case 'webgl':
      return !isNode(); // bundled with @tensorflow/tfjs; useless without a browser
    case 'wasm':
      return loadWasm(options);
    case 'cpu':
      return true;
  }
}

/** Why a backend could not be loaded, for the error of an explicit choice. */
const failures: Partial<Record<BackendChoice, string>> = {};

/** The Node-only threaded wasm start; a computed specifier keeps it out of browser bundles. */
const NODE_WASM_THREADS = './wasmThreads.js';

async function loadWasm(options: InitBackendOptions): Promise<boolean> {
  delete failures.wasm;
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    failures.wasm = `importing @tensorflow/tfjs-backend-wasm failed (${(e as Error).message})`;
    return false;
  }
  if (tf.findBackendFactory('wasm') === null) {
    // The package registered its backend and kernels with a tfjs-core that is not ours.
    failures.wasm =
      '@tensorflow/tfjs-backend-wasm registered itself with another copy of @tensorflow/tfjs-core than the one ' +
      '@tensorflow/tfjs uses here (two copies are installed); install matching versions (4.22.x of both) ' +
      'and run `npm dedupe` so that one tfjs-core remains';
    return false;
  }
  if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
  registerWasmKernels();
  if (isNode()) {
    let threads: typeof import('./wasmThreads.js');
    try {
      threads = (await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_WASM_THREADS)) as typeof threads;
    } catch {
      return true; // bundled without the Node-only module: the stock single-threaded backend
    }
    threads.configureNodeWasm(options.threads ?? threads.defaultWasmThreads());
  } else if (options.threads !== undefined) {
    wasm.setThreadsCount(options.threads);
  }
  return true;
}

/** Sets backend `name` and checks that it is really the active one. */
async function activate(name: string): Promise<boolean> {
  if (tf.findBackendFactory(name) === null) return false;
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch {
    return false;
  }
  return ok && tf.getBackend() === name;
}

function autoOrder(): Exclude<BackendChoice, 'auto'>[] {
  return isNode() ? ['tensorflow', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
}

const HOW_TO: Record<Exclude<BackendChoice, 'auto'>, string> = {
  tensorflow: "install '@tensorflow/tfjs-node' (or '@tensorflow/tfjs-node-gpu') in Node",
  webgpu: "install '@tensorflow/tfjs-backend-webgpu' and use a browser with WebGPU",
  webgl: 'run in a browser with WebGL',
  wasm: "check that '@tensorflow/tfjs-backend-wasm' is installed and, in browsers, pass wasmPaths",
  cpu: 'this should not happen; please report it',
};

/**
 * Picks, initialises and returns the tfjs backend, after registering this library's kernels.
 *
 * @param preferred 'auto' (default) tries the fastest available backend first and falls back;
 *   a backend name insists on that backend and throws if it cannot initialise (unless
 *   `options.fallback`).
 */
export async function initBackend(
  preferred: BackendChoice = 'auto',
  options: InitBackendOptions = {},
): Promise<string> {
  if (!BACKEND_CHOICES.includes(preferred)) {
    throw new Error(`initBackend: unknown backend '${String(preferred)}'; use one of ${BACKEND_CHOICES.join(', ')}.`);
  }
  const { threads } = options;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_WASM_THREADS)) {
    throw new Error(
      `initBackend: threads must be an integer from 1 to ${MAX_WASM_THREADS} (the wasm build's thread pool), got ${String(threads)}.`,
    );
  }
  const order = autoOrder();
  let candidates: Exclude<BackendChoice, 'auto'>[];
  if (preferred === 'auto') {
    candidates = order;
  } else if (options.fallback) {
    candidates = [preferred, ...order.filter((b) => b !== preferred)];
  } else {
    candidates = [preferred];
  }
  for (const name of candidates) {
    if ((await load(name, options)) && (await activate(name))) {
      if (name === 'wasm') guardWasmAllocations();
      return name;
    }
  }
  if (preferred !== 'auto') {
    throw new Error(
      `initBackend: the '${preferred}' backend could not be initialised here` +
        (failures[preferred] !== undefined ? ` (${failures[preferred]})` : '') +
        `; ${HOW_TO[preferred]}, ` +
        `or call initBackend('auto') to take the best available one.`,
    );
  }
  throw new Error('initBackend: no tfjs backend could be initialised, not even cpu.');
}
