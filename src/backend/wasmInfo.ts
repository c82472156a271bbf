/**
 * What runs behind the 'wasm' backend: thread count, build, memory. Browser-safe (the Node-only
 * threaded start in wasmThreads.ts records its notes here).
 */
import * as tf from '@tensorflow/tfjs';

/** Most XNNPACK threads the wasm build supports (its pthread pool holds 8 workers). */
export const MAX_WASM_THREADS = 8;

/** wasm32 memory cannot grow beyond 4 GiB. */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3;

interface StartNote {
  requestedThreads: number;
  fallbackReason?: string;
}
const notes = new WeakMap<object, StartNote>();

/** Records how a wasm backend instance was started (called by the Node threaded factory). */
export function noteWasmStart(backend: object, note: StartNote): void {
  notes.set(backend, note);
}

/** What {@link wasmBackendInfo} reports about the running wasm backend. */
export interface WasmBackendInfo {
  /** XNNPACK threads of the running wasm backend (1 = single-threaded). */
  threads: number;
  /** Threads asked for (`initBackend('wasm', { threads })` or the default), where known. */
  requestedThreads?: number;
  /** Whether the multi-threaded (pthreads) build of the backend runs. */
  threadedBuild: boolean;
  /**
   * Size of the wasm memory in bytes. wasm memory only grows, so this is the high-water mark of
   * the process so far; it cannot exceed 4 GiB (`WASM_MEMORY_LIMIT_BYTES`).
   */
  memoryBytes: number;
  /** Why a multi-threaded start fell back to the single-threaded backend, if it did. */
  fallbackReason?: string;
}

interface ModuleLike {
  HEAPU8: Uint8Array;
  wasmMemory?: WebAssembly.Memory;
  asm?: { memory?: WebAssembly.Memory };
  PThread?: unknown;
  tfjs?: { getThreadsCount?: () => number };
}

/** The running wasm backend's threads, build and memory; null when it is not initialised. */
export function wasmBackendInfo(): WasmBackendInfo | null {
  const backend = (tf.engine().registry as Record<string, { wasm?: ModuleLike | null } | undefined>).wasm;
  const module = backend?.wasm;
  if (backend === undefined || module === undefined || module === null) return null;
  const memory = module.wasmMemory ?? module.asm?.memory;
  const note = notes.get(backend);
  return {
    threads: module.tfjs?.getThreadsCount?.() ?? 1,
    ...(note ? { requestedThreads: note.requestedThreads } : {}),
    threadedBuild: module.PThread !== undefined,
    memoryBytes: memory?.buffer.byteLength ?? module.HEAPU8.buffer.byteLength,
    ...(note?.fallbackReason !== undefined ? { fallbackReason: note.fallbackReason } : {}),
  };
}
