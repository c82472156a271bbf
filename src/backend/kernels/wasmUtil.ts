/**
 * Shared plumbing for this library's kernels on the tfjs `wasm` backend.
 *
 * Kernels receive `TensorInfo`s whose data live in the wasm heap. The rules we follow:
 * - a kernel's inputs are not ours: never dispose them; a returned output that aliases an input's
 *   data must `incRef` it first;
 * - every intermediate we allocate (`makeOutput`, or returned by another kernel) is released with
 *   `disposeData` before returning;
 * - heap views (`typedArrayFromHeap`) are taken only after the last allocation, because an
 *   allocation may grow (and so detach) the wasm memory.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { addressOf, simdKernels } from './simd.js';

export type WasmBackend = Pick<
  BackendWasm,
  'makeOutput' | 'typedArrayFromHeap' | 'disposeData' | 'incRef' | 'dataIdMap' | 'wasm'
>;

export const WASM = 'wasm';

type KernelFunc = (args: {
  inputs: Record<string, tf.TensorInfo>;
  backend: WasmBackend;
  attrs?: Record<string, unknown>;
}) => tf.TensorInfo;

/**
 * The registry entry of one of our wasm kernels. Kernel bodies are written against typed
 * arguments; this is the one place where that signature is erased to tfjs's `KernelFunc`.
 */
export function wasmKernel<A>(kernelName: string, kernelFunc: (args: A) => tf.TensorInfo | tf.TensorInfo[]): tf.KernelConfig {
  return { kernelName, backendName: WASM, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/**
 * The wasm backend's own kernel functions that we build on, captured before we replace anything
 * (so e.g. our Conv2DBackpropInput can still fall back to the stock one).
 */
const originals = new Map<string, KernelFunc>();

export function captureOriginal(name: string): void {
  if (originals.has(name)) return;
  const config = tf.getKernel(name, WASM);
  if (config === undefined) return;
  originals.set(name, config.kernelFunc as unknown as KernelFunc);
}

/**
 * Profiling hook (bench/profile.ts): replaces each captured stock kernel by `wrap(name, kernel)`,
 * so that time spent inside the stock kernels our kernels call can be told apart.
 */
export function wrapOriginals(wrap: (name: string, fn: KernelFunc) => KernelFunc): void {
  for (const [name, fn] of originals) originals.set(name, wrap(name, fn));
}

export function original(name: string): KernelFunc {
  captureOriginal(name);
  const fn = originals.get(name);
  if (fn === undefined) {
    throw new Error(
      `The tfjs wasm backend has no '${name}' kernel registered; import ` +
        `'@tensorflow/tfjs-backend-wasm' (initBackend('wasm') does this) before registering kernels.`,
    );
  }
  return fn;
}

/** Float32 view of a wasm tensor's data. Take it after the last allocation of the kernel. */
export function heapF32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** A float32 matMul a[M,K] · b[K,N] (no transposes: the fast XNNPACK path). Caller disposes. */
export function matMulNN(
  backend: WasmBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo {
  return original('BatchMatMul')({
    inputs: { a, b },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
}

/** Same data, another shape (no copy). The result shares `t`'s data; `incRef` is the caller's job. */
export function viewAs(t: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

export function requireFloat32(kernel: string, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') {
      throw new Error(`${kernel} (wasm): expected float32 tensors, got ${t.dtype}; cast with tf.cast(x, 'float32').`);
    }
  }
}

export function requireChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(
      `${kernel} (wasm): dataFormat '${String(dataFormat)}' is not supported; use channels-last (NHWC) tensors.`,
    );
  }
}

/** The attributes of the Conv2D gradient kernels that set their geometry. */
export interface Conv2DGradAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * The checks and geometry shared by the Conv2D gradient kernels: float32 `tensors`, channels-last,
 * and tfjs's Conv2DInfo of an `xShape` input convolved with a `filterShape` filter (no dilation).
 */
export function conv2DGradInfo(
  kernel: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: Conv2DGradAttrs,
  ...tensors: tf.TensorInfo[]
): tf.backend_util.Conv2DInfo {
  requireFloat32(kernel, ...tensors);
  requireChannelsLast(kernel, attrs.dataFormat);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

/** Reusable JS scratch space (grows, never shrinks), so hot kernels do not churn the GC. */
let scratch = new Float32Array(0);
export function scratchF32(size: number): Float32Array {
  if (scratch.length < size) scratch = new Float32Array(size);
  return scratch.subarray(0, size);
}

export type TypedData = Float32Array | Int32Array | Uint8Array;

/**
 * Copies `rows` blocks of `len` elements: block r goes from src[r*srcRow + srcOffset] to
 * dst[r*dstRow + dstOffset]. The inner loop of Concat and SplitV along any axis.
 */
export function copyBlocks(
  src: TypedData, srcRow: number, srcOffset: number,
  dst: TypedData, dstRow: number, dstOffset: number,
  rows: number, len: number,
): void {
  if (len < SHORT_BLOCK) {
    // A subarray + set per block costs more than copying a few elements (NHWC channel blocks).
    for (let r = 0, f = srcOffset, t = dstOffset; r < rows; r++, f += srcRow, t += dstRow) {
      for (let j = 0; j < len; j++) dst[t + j] = src[f + j]!;
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const from = r * srcRow + srcOffset;
    dst.set(src.subarray(from, from + len), r * dstRow + dstOffset);
  }
}

/** Blocks shorter than this are copied element by element (measured: 16 floats 1.7× faster). */
const SHORT_BLOCK = 48;

/**
 * `copyBlocks` between two tensors of the wasm heap (offsets, strides and lengths in elements):
 * in our wasm module for 4-byte types, in JavaScript otherwise.
 */
export function copyTensorBlocks(
  backend: WasmBackend,
  src: tf.TensorInfo, srcRow: number, srcOffset: number,
  dst: tf.TensorInfo, dstRow: number, dstOffset: number,
  rows: number, len: number,
): void {
  const simd = src.dtype === 'bool' ? null : simdKernels(backend);
  if (simd !== null) {
    simd.copy_blocks(addressOf(backend, src) + 4 * srcOffset, 4 * srcRow, addressOf(backend, dst) + 4 * dstOffset, 4 * dstRow, rows, 4 * len);
    return;
  }
  const s = backend.typedArrayFromHeap(src) as TypedData;
  const d = backend.typedArrayFromHeap(dst) as TypedData;
  copyBlocks(s, srcRow, srcOffset, d, dstRow, dstOffset, rows, len);
}

/**
 * Whether this wasm backend exposes what `aliasF32` needs (its tensor table and the module's
 * `disposeData`); callers fall back to copying code paths when it does not.
 */
export function canAlias(backend: WasmBackend): boolean {
  return (
    typeof backend.dataIdMap?.get === 'function' &&
    typeof (backend.wasm as { tfjs?: { disposeData?: unknown } } | undefined)?.tfjs?.disposeData === 'function'
  );
}

/**
 * A float32 tensor that views `base`'s memory from element `offset` on (no copy, no ownership).
 * Release it with `releaseAlias` (never `disposeData`, which would free `base`'s memory), before
 * `base` itself is disposed.
 */
export function aliasF32(backend: WasmBackend, base: tf.TensorInfo, offset: number, shape: number[]): tf.TensorInfo {
  const start = backend.dataIdMap.get(base.dataId)!.memoryOffset;
  return backend.makeOutput(shape, 'float32', start + offset * Float32Array.BYTES_PER_ELEMENT);
}

export function releaseAlias(backend: WasmBackend, alias: tf.TensorInfo): void {
  const entry = backend.dataIdMap.get(alias.dataId);
  if (entry === undefined) return;
  backend.wasm.tfjs.disposeData(entry.id); // forgets the tensor; frees nothing
  backend.dataIdMap.delete(alias.dataId);
}
