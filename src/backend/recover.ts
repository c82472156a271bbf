/**
 * Keeping the process usable when the wasm backend runs out of memory (see also wasmGuard.ts,
 * which turns a failed tensor allocation into a clean error).
 *
 * {@link recoverWasmBackend}: after a real abort (an allocation inside the module's C++ code
 *   failed, or the heap was corrupted) the module is dead for the rest of the process. This
 *   replaces it with a fresh instance (remove and re-register the backend, initialise it again
 *   through `initBackend('wasm')`, which also sets this library's kernels up on it). Tensors that
 *   lived on the dead instance are copied to the new one when next used (their bytes are still
 *   readable from the old heap).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './initBackend.js';
import { guardWasmAllocations, WasmOutOfMemoryError } from './wasmGuard.js';


const WASM = 'wasm';
/** Messages of a WebAssembly trap or an Emscripten abort. */
const ABORT_PATTERN = /Aborted\(|memory access out of bounds|\bunreachable\b|RuntimeError|index out of bounds|call stack exhausted/i;

/** Whether `err` is the wasm module trapping or aborting (after which the module is unusable). */
export function isWasmAbort(err: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) return true;
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  return ABORT_PATTERN.test(message);
}

/**
 * Replaces a wasm backend whose module aborted with a fresh one and makes it active again (if it
 * was). Tensors of the old instance move to the new one on their next use. Throws when wasm was
 * never registered.
 */
export async function recoverWasmBackend(): Promise<void> {
  const entry = (tf.engine() as unknown as { registryFactory: Record<string, { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number } | undefined> }).registryFactory[WASM];
  if (entry === undefined) throw new Error('recoverWasmBackend: the wasm backend is not registered.');
  const wasActive = tf.getBackend() === WASM;
  const registry = (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend | undefined> }).registry;
  const dead = registry[WASM] as (tf.KernelBackend & Record<string, unknown>) | undefined;
  if (dead !== undefined) {
    // The dead module must not be called again: freeing its memory is pointless (the whole heap
    // is dropped with it) and may trap. Reading (readSync) only touches its heap from JS and
    // still works, which is how its tensors move to the new instance.
    dead['dispose'] = () => {};
    dead['disposeData'] = () => true;
  }
  tf.removeBackend(WASM);
  tf.registerBackend(WASM, entry.factory, entry.priority);
  if (wasActive) {
    await initBackend(WASM);
    guardWasmAllocations();
  }
}

/**
 * A clear error for a failure of `what` on the wasm backend, after restoring the backend when the
 * module aborted; any other error is returned unchanged. `fix` says what to change.
 */
export async function explainWasmFailure(err: unknown, what: string, fix: string): Promise<unknown> {
  if (err instanceof WasmOutOfMemoryError) {
    return new Error(`${what} ran out of wasm memory (the heap is capped at 4 GiB): ${fix}`, { cause: err });
  }
  if (!isWasmAbort(err) || tf.getBackend() !== WASM) return err;
  const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
  let restored = 'the wasm backend was re-initialised, so this process can go on';
  try {
    await recoverWasmBackend();
  } catch (e) {
    restored = `re-initialising the wasm backend failed too (${(e as Error).message}); restart the process`;
  }
  return new Error(
    `${what} crashed the wasm module ("${detail}"), most likely because it ran out of memory (the wasm heap ` +
      `is capped at 4 GiB): ${fix} (${restored}).`,
    { cause: err },
  );
}
