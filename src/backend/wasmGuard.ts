/**
 * The wasm backend allocates tensor memory with its module's `malloc` and does not check what it
 * returns: when the heap (capped at 4 GiB) is exhausted it uses the 0 as an address, and a request
 * that takes the allocator's 32-bit break past 4 GiB wraps around. Either silently corrupts other
 * tensors until the module traps ("memory access out of bounds") or aborts.
 * {@link guardWasmAllocations} turns both into a {@link WasmOutOfMemoryError} before anything is
 * written, so the backend stays healthy.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM_MEMORY_LIMIT_BYTES, wasmBackendInfo } from './wasmInfo.js';

const GUARDED = Symbol('smtf.mallocGuard');
const MiB = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** An allocation on the wasm heap was refused: the 4 GiB heap cannot hold it. */
export class WasmOutOfMemoryError extends Error {
  constructor(
    readonly requestedBytes: number,
    readonly memoryBytes: number,
  ) {
    super(
      `The wasm backend is out of memory: it cannot allocate ${MiB(requestedBytes)} MiB more (${MiB(memoryBytes)} MiB ` +
        `of wasm memory in use, at most ${MiB(WASM_MEMORY_LIMIT_BYTES)} MiB). Use a smaller batch (or microBatch) or ` +
        `image size, or a backend without this limit ('tensorflow' with @tensorflow/tfjs-node, or 'webgpu').`,
    );
    this.name = 'WasmOutOfMemoryError';
  }
}

interface ModuleLike {
  _malloc?: (n: number) => number;
  [GUARDED]?: (n: number) => number;
}

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
    throw new WasmOutOfMemoryError(bytes, memoryBytes());
  };
  return (bytes: number) => {
    if (highest + bytes + HEAP_HEADROOM_BYTES >= WASM_MEMORY_LIMIT_BYTES) fail(bytes);
    const at = malloc(bytes) >>> 0;
    if ((at === 0 && bytes > 0) || at + bytes > memoryBytes()) fail(bytes);
    highest = Math.max(highest, at + bytes);
    return at;
  };
}

/**
 * Installs `guardMalloc` on the running wasm backend (called by `initBackend` and `train`;
 * idempotent). Returns whether a guard is in place (false when no wasm backend runs).
 */
export function guardWasmAllocations(): boolean {
  const backend = (tf.engine().registry as Record<string, { wasm?: unknown } | undefined>).wasm;
  const module = backend?.wasm as ModuleLike | null | undefined;
  if (module === undefined || module === null || typeof module._malloc !== 'function') return false;
  if (module[GUARDED] !== undefined && module._malloc === module[GUARDED]) return true;
  // Emscripten's `_malloc` is a stub that replaces itself by the wasm export on its first call:
  // make that call first, so that our wrapper is not replaced in turn.
  const free = (module as { _free?: (at: number) => void })._free;
  free?.call(module, module._malloc(16));
  module._malloc = guardMalloc(module._malloc.bind(module), () => wasmBackendInfo()?.memoryBytes ?? 0);
  module[GUARDED] = module._malloc;
  return true;
}

/** Whether the running wasm backend's `_malloc` is still our guard (tests). */
export function wasmAllocationsGuarded(): boolean {
  const module = (tf.engine().registry as Record<string, { wasm?: { [GUARDED]?: (n: number) => number; _malloc?: unknown } | null } | undefined>).wasm?.wasm;
  return module?.[GUARDED] !== undefined && module._malloc === module[GUARDED];
}
