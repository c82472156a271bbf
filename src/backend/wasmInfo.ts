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

const GUARDED = Symbol('smtf.mallocGuard');

const MiB = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/**
 * What may lie above the highest tensor we allocated: allocations of the C++ side (XNNPACK's
 * packed weights and operators) and the allocator's rounding. See guardMalloc.
 */
export const HEAP_HEADROOM_BYTES = 64 * 2 ** 20;

/**
 * `malloc` of the wasm heap that fails with a clear `Error` instead of corrupting memory. tfjs
 * does not check what `_malloc` returns: at the limit it gets 0 and writes the tensor over the
 * start of the heap. Worse, the allocator's 32-bit heap break wraps around when a request would
 * take it past 4 GiB, and hands out memory that is already in use. Either corrupts the module
 * (later "memory access out of bounds", an abort, or a pool thread that traps while the main
 * thread waits for it forever). So a request is refused when the highest block handed out so far,
 * plus the request, plus HEAP_HEADROOM_BYTES, reaches 4 GiB (the break cannot be higher than
 * that), and when the allocator returns 0 or a block beyond the memory. `memoryBytes` is the
 * current size of the wasm memory.
 */
export function guardMalloc(malloc: (bytes: number) => number, memoryBytes: () => number): (bytes: number) => number {
  let highest = memoryBytes(); // the break is at most the memory size when the guard starts
  const fail = (bytes: number): never => {
    throw new Error(
      `The wasm backend is out of memory: it cannot allocate ${MiB(bytes)} MiB more (${MiB(memoryBytes())} MiB ` +
        `of wasm memory in use, at most ${MiB(WASM_MEMORY_LIMIT_BYTES)} MiB). Use a smaller batch or image size, ` +
        `or a backend without this limit ('tensorflow' with @tensorflow/tfjs-node, or 'webgpu').`,
    );
  };
  return (bytes: number) => {
    if (highest + bytes + HEAP_HEADROOM_BYTES >= WASM_MEMORY_LIMIT_BYTES) fail(bytes);
    const at = malloc(bytes) >>> 0;
    if ((at === 0 && bytes > 0) || at + bytes > memoryBytes()) fail(bytes);
    highest = Math.max(highest, at + bytes);
    return at;
  };
}

/** Installs `guardMalloc` on the running wasm backend (called by `initBackend`; idempotent). */
export function guardWasmAllocations(): void {
  const backend = (tf.engine().registry as Record<string, { wasm?: unknown } | undefined>).wasm;
  const module = backend?.wasm as (ModuleLike & { _malloc?: (n: number) => number; [GUARDED]?: (n: number) => number }) | null | undefined;
  if (module === undefined || module === null || module[GUARDED] || typeof module._malloc !== 'function') return;
  // Emscripten's `_malloc` is a stub that replaces itself by the wasm export on its first call:
  // make that call first, so that our wrapper is not replaced in turn.
  const free = (module as { _free?: (at: number) => void })._free;
  free?.call(module, module._malloc(16));
  module._malloc = guardMalloc(module._malloc.bind(module), () => wasmBackendInfo()?.memoryBytes ?? 0);
  module[GUARDED] = module._malloc;
}

/** Whether the running wasm backend's `_malloc` is still our guard (tests). */
export function wasmAllocationsGuarded(): boolean {
  const module = (tf.engine().registry as Record<string, { wasm?: { [GUARDED]?: (n: number) => number; _malloc?: unknown } | null } | undefined>).wasm?.wasm;
  return module?.[GUARDED] !== undefined && module._malloc === module[GUARDED];
}
