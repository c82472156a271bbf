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
import { guardWasmAllocations } from './wasmGuard.js';
import { prepareWebGPU, webgpuAdapter, type WebGPUAdapterInfo } from './webgpu.js';

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
    case 'wasm': {
      try {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
        // Throws when the wasm package registered into another copy of tfjs-core (its kernels are
        // then invisible to ours): treat that as "wasm unavailable".
        registerWasmKernels();
      } catch {
        return false;
      }
      return true;
    }
    case 'cpu':
      return true;
  }
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
