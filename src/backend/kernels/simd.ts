/**
 * Our own small wasm module (simdKernels.wat, SIMD) for the memory-movement inner loops of this
 * library's kernels: strided block copies, strided gathers, pixel-to-channel-plane transposes and
 * the max-pool gradient. It runs on the tfjs backend's own wasm memory (imported; the module has
 * no memory, data or stack of its own), so it reads and writes tensors in place, 4-10× faster
 * than the equivalent JavaScript loops. Single-threaded, on the calling thread.
 *
 * `simdKernels(backend)` returns null where the module cannot run (no reachable memory object, no
 * wasm SIMD); every caller then keeps its JavaScript path.
 */
import type * as tf from '@tensorflow/tfjs';
import { SIMD_KERNELS_WASM } from './simdKernelsWasm.js';
import type { WasmBackend } from './wasmUtil.js';

/** All addresses, strides and lengths in bytes unless noted; data are float32 (4 bytes). */
export interface SimdKernels {
  /** `rows` blocks of `len` bytes (a multiple of 4): src + r*ss → dst + r*ds. */
  copy_blocks(src: number, ss: number, dst: number, ds: number, rows: number, len: number): void;
  /** dst[r*ds + 4j] = src[r*ss + j*cs] for r < rows and j < n elements. */
  gather(src: number, ss: number, cs: number, dst: number, ds: number, rows: number, n: number): void;
  /** src = n pixels × c channels; channel k of pixel i → dst + k*plane + 4i. */
  to_planes(src: number, n: number, c: number, dst: number, plane: number): void;
  /** Max-pool gradient (NHWC; dx is zeroed first); sizes in elements. */
  max_pool_grad(
    x: number, dy: number, dx: number, batch: number, h: number, w: number, c: number, oh: number, ow: number,
    fh: number, fw: number, sh: number, sw: number, top: number, left: number,
  ): void;
}

interface ModuleLike {
  wasmMemory?: WebAssembly.Memory;
  asm?: Record<string, unknown>;
}

const instances = new WeakMap<object, SimdKernels | null>();
let enabled = true;

/** Test hook: turns the wasm module off (every kernel takes its JavaScript path); returns the old state. */
export function setSimdKernelsEnabled(on: boolean): boolean {
  const old = enabled;
  enabled = on;
  return old;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}

function memoryOf(module: ModuleLike): WebAssembly.Memory | undefined {
  if (module.wasmMemory instanceof WebAssembly.Memory) return module.wasmMemory;
  return Object.values(module.asm ?? {}).find((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
}

/** The module instantiated on `backend`'s memory, or null where it cannot run. */
export function simdKernels(backend: WasmBackend): SimdKernels | null {
  if (!enabled) return null;
  const module = backend.wasm as unknown as ModuleLike;
  let kernels = instances.get(module);
  if (kernels !== undefined) return kernels;
  kernels = null;
  try {
    const memory = memoryOf(module);
    if (memory !== undefined) {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const bytes = decode(shared ? SIMD_KERNELS_WASM.shared : SIMD_KERNELS_WASM.unshared);
      // Small (< 4 KB), so synchronous compilation is allowed on a browser's main thread too.
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      kernels = instance.exports as unknown as SimdKernels;
    }
  } catch {
    kernels = null; // e.g. no wasm SIMD here
  }
  instances.set(module, kernels);
  return kernels;
}

/** Byte address of a tensor's data in the wasm heap. */
export function addressOf(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}
