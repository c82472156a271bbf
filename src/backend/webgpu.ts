/**
 * WebGPU for the 'webgpu' tfjs backend, in browsers and in Node.
 *
 * - Browser: uses `navigator.gpu`. A bundled app imports `@tensorflow/tfjs-backend-webgpu` itself
 *   (bundlers cannot follow the optional import below); the backend is then already registered.
 * - Node: sets `navigator.gpu` (and the `GPUBufferUsage`-style globals the backend reads) up from
 *   the optional `webgpu` package (Dawn) before importing `@tensorflow/tfjs-backend-webgpu`, which
 *   registers its backend only when `navigator.gpu` exists at import time.
 *
 * A software adapter (SwiftShader, llvmpipe/lavapipe, WARP) runs WebGPU on the CPU: right for
 * testing, slower than the wasm backend. Only an explicit request uses one.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWebGPUKernels } from './webgpuKernels.js';

/** What the WebGPU adapter in use says about itself (from `GPUAdapter.info`). */
export interface WebGPUAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, llvmpipe/lavapipe, WARP) rather than a GPU. */
  software: boolean;
}

// The few WebGPU types used here (the DOM lib of TypeScript 5.9 has none).
interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<GpuAdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

/** The optional `webgpu` package (Dawn for Node). */
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** Names in adapter descriptions of the CPU implementations of WebGPU. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export const NODE_NO_ADAPTER_HINT =
  'Dawn found no usable Vulkan, Metal or D3D12 device. With a GPU, install its Vulkan driver; ' +
  'without one, WebGPU can run on the CPU (for testing) through SwiftShader: ' +
  'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Debian: apt-get install chromium libvulkan1)';

/** The adapter of the active webgpu backend, set when this module prepared it. */
let activeAdapter: WebGPUAdapterInfo | null = null;
/**
 * Node: the one Dawn instance this module creates. Kept for the life of the process: Dawn frees the
 * instance, and with it every device of the backend, once this object is garbage-collected.
 */
let dawnGpu: GpuLike | null = null;
/** What this module installed on `globalThis` in Node, so that it can take it back. */
let installed: { gpu: GpuLike; navigator: boolean } | null = null;

function isNode(): boolean {
  return tf.env().getBool('IS_NODE');
}

function currentGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu ?? undefined;
}

/** Node: `navigator.gpu` from the optional `webgpu` package; a reason string when impossible. */
async function installNodeGpu(): Promise<GpuLike | string> {
  if (!dawnGpu) {
    let dawn: DawnModule;
    try {
      const specifier = 'webgpu';
      dawn = (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as DawnModule;
    } catch (err) {
      return `the optional package 'webgpu' (Dawn for Node) is not installed or did not load (${String(err)}); npm install webgpu@0.6`;
    }
    try {
      dawnGpu = dawn.create([]);
    } catch (err) {
      return `the 'webgpu' package could not start Dawn: ${String(err)}`;
    }
    const g = globalThis as Record<string, unknown>;
    // GPUBufferUsage, GPUMapMode, GPUTextureUsage, ...: read as globals by the tfjs backend.
    for (const [name, value] of Object.entries(dawn.globals)) if (!(name in g)) g[name] = value;
  }
  const gpu = dawnGpu;
  const g = globalThis as Record<string, unknown>;
  const createdNavigator = g['navigator'] === undefined;
  if (createdNavigator) {
    // Node < 21 has no navigator; give it the fields Node 21+ has that browser-sniffing code reads.
    g['navigator'] = { userAgent: `Node.js/${process.versions.node.split('.')[0]}`, language: 'en-US' };
  }
  Object.defineProperty(g['navigator'] as object, 'gpu', { value: gpu, configurable: true, enumerable: true, writable: true });
  installed = { gpu, navigator: createdNavigator };
  return gpu;
}

/** Takes back what {@link installNodeGpu} put on `globalThis.navigator` (the GPU* globals stay). */
function uninstallNodeGpu(): void {
  if (!installed) return;
  const g = globalThis as Record<string, unknown>;
  const nav = g['navigator'] as { gpu?: GpuLike } | undefined;
  if (nav?.gpu === installed.gpu) {
    delete nav.gpu;
    if (installed.navigator) delete g['navigator'];
  }
  installed = null;
}

export function describeAdapter(info: GpuAdapterInfoLike, isFallbackAdapter: boolean | undefined): WebGPUAdapterInfo {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const device = info.device ?? '';
  const description = info.description ?? '';
  const software =
    isFallbackAdapter === true || SOFTWARE_ADAPTER.test([vendor, architecture, device, description].join(' '));
  return { vendor, architecture, device, description, software };
}

async function adapterInfo(adapter: GpuAdapterLike): Promise<WebGPUAdapterInfo> {
  let info = adapter.info;
  if (!info && typeof adapter.requestAdapterInfo === 'function') {
    try {
      info = await adapter.requestAdapterInfo();
    } catch {
      info = undefined;
    }
  }
  return describeAdapter(info ?? {}, info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
}

/** A short name of the adapter for messages: "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterLabel(a: WebGPUAdapterInfo): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  return a.description ? `${name} (${a.description})` : name;
}

/**
 * Makes the 'webgpu' backend ready to be set: finds the adapter and registers the backend.
 * Returns null when ready, else why not. With `automatic`, a software adapter is refused (and
 * Node's `navigator.gpu` taken back): it is never picked over the CPU backends by 'auto'.
 */
export async function prepareWebGPU(automatic: boolean): Promise<string | null> {
  activeAdapter = null;
  let gpu = currentGpu();
  if (!gpu) {
    if (!isNode()) {
      return 'this browser has no WebGPU (navigator.gpu is missing: it needs a secure context (https or localhost) and Chrome/Edge 113+, or Firefox/Safari with WebGPU enabled)';
    }
    const got = await installNodeGpu();
    if (typeof got === 'string') return got;
    gpu = got;
  }
  let adapter: GpuAdapterLike | null;
  try {
    // The tfjs backend asks for the same adapter.
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    adapter = null;
    if (isNode()) uninstallNodeGpu();
    return `requesting a WebGPU adapter failed: ${String(err)}`;
  }
  if (!adapter) {
    if (isNode()) uninstallNodeGpu();
    return isNode() ? `no WebGPU adapter: ${NODE_NO_ADAPTER_HINT}` : 'the browser has WebGPU but offers no adapter (GPU blocklisted or disabled)';
  }
  const info = await adapterInfo(adapter);
  if (automatic && info.software) {
    if (isNode()) uninstallNodeGpu();
    return `the only WebGPU adapter is a software one (${adapterLabel(info)}), slower than the CPU backends; 'auto' does not pick it (initBackend('webgpu') does)`;
  }
  if (tf.findBackendFactory('webgpu') === null) {
    try {
      const specifier = '@tensorflow/tfjs-backend-webgpu';
      await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
    } catch {
      return isNode()
        ? "install '@tensorflow/tfjs-backend-webgpu' (the 4.22 line)"
        : "import '@tensorflow/tfjs-backend-webgpu' in your app before initBackend (bundlers cannot resolve the library's optional import)";
    }
    if (tf.findBackendFactory('webgpu') === null) {
      return (
        "'@tensorflow/tfjs-backend-webgpu' is loaded but registered no 'webgpu' backend here: it was imported " +
        'before navigator.gpu existed (let initBackend import it), or into another copy of @tensorflow/tfjs-core'
      );
    }
  }
  registerWebGPUKernels();
  activeAdapter = info;
  return null;
}

/** The adapter of the webgpu backend when it is the active one, else null. */
export function webgpuAdapter(): WebGPUAdapterInfo | null {
  return tf.getBackend() === 'webgpu' && tf.findBackend('webgpu') !== null ? activeAdapter : null;
}
