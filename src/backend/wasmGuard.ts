/**
 * The wasm backend allocates tensor memory with its module's `malloc` and uses the 0 it returns
 * when the heap (capped at 4 GiB) is exhausted as an address: the tensor is then written over the
 * start of the heap, silently corrupting other tensors until the module traps ("memory access out
 * of bounds") or aborts. {@link guardWasmAllocations} turns that 0 into a
 * {@link WasmOutOfMemoryError} before anything is written, so the backend stays healthy.
 */
import * as tf from '@tensorflow/tfjs';

const GUARDED = Symbol('smtf.mallocGuard');

/** An allocation on the wasm heap failed: the 4 GiB heap is full. */
export class WasmOutOfMemoryError extends Error {
  constructor(readonly requestedBytes: number) {
    super(
      `wasm backend: out of memory allocating ${(requestedBytes / 1024 ** 2).toFixed(0)} MiB (the wasm heap is capped ` +
        'at 4 GiB); use a smaller batch (or microBatch), a smaller input size, or fewer filters.',
    );
    this.name = 'WasmOutOfMemoryError';
  }
}

interface WasmModuleLike {
  _malloc(bytes: number): number;
  asm?: { malloc?: (bytes: number) => number };
  [GUARDED]?: true;
}

interface BackendWithModule {
  wasm?: WasmModuleLike;
}

/**
 * Makes the active wasm backend's allocations throw {@link WasmOutOfMemoryError} instead of
 * returning address 0. Idempotent; a no-op on other backends. Returns whether a guard is in place.
 */
export function guardWasmAllocations(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const module = (tf.backend() as unknown as BackendWithModule).wasm;
  if (module === undefined || typeof module._malloc !== 'function') return false;
  if (module[GUARDED]) return true;
  // Emscripten's `_malloc` starts as a stub that replaces itself with the raw export on its first
  // call; wrap the raw export so the guard is not replaced.
  const malloc = module.asm?.malloc ?? module._malloc.bind(module);
  module._malloc = (bytes: number): number => {
    const ptr = malloc(bytes);
    if (ptr === 0 && bytes > 0) throw new WasmOutOfMemoryError(bytes);
    return ptr;
  };
  module[GUARDED] = true;
  return true;
}

