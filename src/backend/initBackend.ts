/**
 * Backend selection: `await initBackend()` picks the fastest backend that really initialises here,
 * registers this library's kernels, and returns the backend's name.
 *
 * Order for 'auto':
 * - Node:    'tensorflow' (tfjs-node-gpu, then tfjs-node, if installed) → 'webgpu' (with the optional
 *            `webgpu` and @tensorflow/tfjs-backend-webgpu packages and a hardware adapter) → 'wasm' → 'cpu'
 * - Browser: 'webgpu' (@tensorflow/tfjs-backend-webgpu loaded and a hardware adapter) → 'webgl' → 'wasm' → 'cpu'
 * A software WebGPU adapter (SwiftShader, llvmpipe) is used only when 'webgpu' is asked for by name.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './registerWasmKernels.js';
import { MAX_WASM_THREADS } from './wasmInfo.js';
import { guardWasmAllocations } from './wasmGuard.js';
import { prepareWebGPU, webgpuAdapter, type WebGPUAdapterInfo } from './webgpu.js';

/** A backend {@link initBackend} can pick: a tfjs backend name, or `'auto'` for the fastest one that starts. */
export type BackendChoice = 'auto' | 'tensorflow' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** Every {@link BackendChoice}. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'];

/** Options of {@link initBackend}. */
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

/**
 * Makes backend `name` available (imports its package); false (or, for webgpu, the reason) when
 * that is impossible here. `automatic`: the backend was not asked for by name.
 */
async function load(name: Exclude<BackendChoice, 'auto'>, options: InitBackendOptions, automatic: boolean): Promise<boolean | string> {
  switch (name) {
    case 'tensorflow':
      if (!isNode()) return false;
      return (await importOptional('@tensorflow/tfjs-node-gpu')) || (await importOptional('@tensorflow/tfjs-node'));
    case 'webgpu':
      return (await prepareWebGPU(automatic)) ?? true;
    case 'webgl':
      return !isNode(); // bundled with @tensorflow/tfjs; useless without a browser
    case 'wasm':
      return loadWasm(options);
    case 'cpu':
      return true;
  }
}

/** The Node-only threaded wasm start; a computed specifier keeps it out of browser bundles. */
const NODE_WASM_THREADS = './wasmThreads.js';

/** Loads the wasm backend; false or the reason when that is impossible here. */
async function loadWasm(options: InitBackendOptions): Promise<boolean | string> {
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return `importing @tensorflow/tfjs-backend-wasm failed (${(e as Error).message})`;
  }
  if (tf.findBackendFactory('wasm') === null) {
    // The package registered its backend and kernels with a tfjs-core that is not ours.
    return (
      '@tensorflow/tfjs-backend-wasm registered itself with another copy of @tensorflow/tfjs-core than the one ' +
      '@tensorflow/tfjs uses here (two copies are installed); install matching versions (4.22.x of both) ' +
      'and run `npm dedupe` so that one tfjs-core remains'
    );
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
  return isNode() ? ['tensorflow', 'webgpu', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
}

const HOW_TO: Record<Exclude<BackendChoice, 'auto'>, string> = {
  tensorflow: "install '@tensorflow/tfjs-node' (or '@tensorflow/tfjs-node-gpu') in Node",
  webgpu: "install '@tensorflow/tfjs-backend-webgpu' (and, in Node, 'webgpu') and have a WebGPU adapter",
  webgl: 'run in a browser with WebGL',
  wasm: "check that '@tensorflow/tfjs-backend-wasm' is installed and, in browsers, pass wasmPaths",
  cpu: 'this should not happen; please report it',
};

/** What {@link backendInfo} reports. */
export interface BackendInfo {
  /** The active tfjs backend (`tf.getBackend()`), null before any was set. */
  backend: string | null;
  /** What the last `initBackend` call asked for (null before any call). */
  requested: BackendChoice | null;
  /** The WebGPU adapter when the active backend is 'webgpu' (set up by `initBackend`), else null. */
  adapter: WebGPUAdapterInfo | null;
  /** The backends the last `initBackend` call tried before the one it took, and why each failed. */
  skipped: { backend: string; reason: string }[];
}

let lastRequest: { requested: BackendChoice; skipped: BackendInfo['skipped'] } | null = null;

/**
 * The active backend, what was asked for, the WebGPU adapter in use (vendor, architecture,
 * description, and whether it is a software one such as SwiftShader), and why the backends tried
 * before it were passed over.
 */
export function backendInfo(): BackendInfo {
  return {
    backend: (tf.getBackend() as string | undefined) ?? null,
    requested: lastRequest?.requested ?? null,
    adapter: webgpuAdapter(),
    skipped: lastRequest?.skipped.map((s) => ({ ...s })) ?? [],
  };
}

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
  const skipped: BackendInfo['skipped'] = [];
  lastRequest = { requested: preferred, skipped };
  for (const name of candidates) {
    const loaded = await load(name, options, name !== preferred);
    if (loaded === true && (await activate(name))) {
      guardWasmAllocations(); // wasm: a full heap throws instead of corrupting memory
      return name;
    }
    const reason = typeof loaded === 'string' ? loaded : loaded ? `tf.setBackend('${name}') failed (see the console)` : HOW_TO[name];
    skipped.push({ backend: name, reason });
  }
  if (preferred !== 'auto') {
    throw new Error(
      `initBackend: the '${preferred}' backend could not be initialised here: ${skipped[0]!.reason}; ` +
        `or call initBackend('auto') to take the best available one.`,
    );
  }
  throw new Error('initBackend: no tfjs backend could be initialised, not even cpu.');
}
