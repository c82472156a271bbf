/**
 * A tiny WebAssembly SIMD routine for the depthwise filter gradient, run directly on the tfjs wasm
 * backend's heap (its module imports the backend's `WebAssembly.Memory`, so nothing is copied).
 *
 *   tap(l, x, g, n, xStep, gStep, vectors):
 *     for v < vectors:  l[v] += Σ_{i<n} x[i·xStep + v] · g[i·gStep + v]     (v: groups of 4 floats)
 *
 * i.e. one filter tap's float32 accumulators l[0 … 4·vectors) gain the products of a run of n
 * input pixels (x, xStep bytes apart) with the n output-gradient pixels they meet (g, gStep bytes
 * apart). Pointers and steps are in bytes. Four vectors (16 channels) are done per pass over the
 * run, in separate registers, then single vectors.
 *
 * The module is assembled here (about 200 bytes). `depthwiseTapKernel` returns null — and the
 * caller uses its JS loop — when the engine lacks SIMD or the backend's memory is not reachable.
 */
import type { WasmBackend } from './wasmUtil.js';

export type TapKernel = (
  l: number, x: number, g: number, n: number, xStep: number, gStep: number, vectors: number,
) => void;

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// Instructions.
const I32 = 0x7f;
const V128 = 0x7b;
const block = [0x02, 0x40];
const loop = [0x03, 0x40];
const end = [0x0b];
const br = (depth: number) => [0x0c, depth];
const brIf = (depth: number) => [0x0d, depth];
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const i32 = (v: number) => [0x41, ...sleb(v)];
const i32Eqz = [0x45];
const i32LtU = [0x49];
const i32Add = [0x6a];
const i32Sub = [0x6b];
const load = (offset: number) => [0xfd, ...uleb(0x00), 2, ...uleb(offset)]; // v128.load, align 4 bytes
const store = (offset: number) => [0xfd, ...uleb(0x0b), 2, ...uleb(offset)]; // v128.store
const f32x4Add = [0xfd, ...uleb(0xe4)];
const f32x4Mul = [0xfd, ...uleb(0xe6)];

// Parameters and locals of `tap`.
const [L, X, G, N, XS, GS, VECS] = [0, 1, 2, 3, 4, 5, 6];
const [IDX, PX, PG] = [7, 8, 9];
const ACC = 10; // v128 locals 10 … 13

const addTo = (local: number, step: number[]) => [...get(local), ...step, ...i32Add, ...set(local)];

/** `width` vectors (16·width bytes) per pixel: accumulate the run, then step l, x, g to the next. */
function pass(width: number): number[] {
  const accs = Array.from({ length: width }, (_, k) => ACC + k);
  return [
    ...accs.flatMap((a, k) => [...get(L), ...load(16 * k), ...set(a)]),
    ...get(X), ...set(PX),
    ...get(G), ...set(PG),
    ...get(N), ...set(IDX),
    ...block,
    ...get(IDX), ...i32Eqz, ...brIf(0),
    ...loop,
    ...accs.flatMap((a, k) => [
      ...get(a), ...get(PX), ...load(16 * k), ...get(PG), ...load(16 * k), ...f32x4Mul, ...f32x4Add, ...set(a),
    ]),
    ...addTo(PX, get(XS)),
    ...addTo(PG, get(GS)),
    ...get(IDX), ...i32(1), ...i32Sub, ...tee(IDX), ...brIf(0),
    ...end,
    ...end,
    ...accs.flatMap((a, k) => [...get(L), ...get(a), ...store(16 * k)]),
    ...addTo(L, i32(16 * width)),
    ...addTo(X, i32(16 * width)),
    ...addTo(G, i32(16 * width)),
    ...get(VECS), ...i32(width), ...i32Sub, ...set(VECS),
  ];
}

function tapBody(): number[] {
  return [
    ...vec([[3, I32], [4, V128]]), // locals: idx, px, pg; acc0 … acc3
    // while (vectors >= 4) pass(4)
    ...block, ...loop,
    ...get(VECS), ...i32(4), ...i32LtU, ...brIf(1),
    ...pass(4),
    ...br(0),
    ...end, ...end,
    // while (vectors > 0) pass(1)
    ...block, ...loop,
    ...get(VECS), ...i32Eqz, ...brIf(1),
    ...pass(1),
    ...br(0),
    ...end, ...end,
    ...end,
  ];
}

/** The module's bytes; it imports `env.memory` (shared or not, to match the backend's). */
export function tapModuleBytes(sharedMemory: boolean): Uint8Array<ArrayBuffer> {
  // Limits: min 0 pages; a shared memory must declare a maximum (the 4 GiB wasm32 limit).
  const limits = sharedMemory ? [0x03, ...uleb(0), ...uleb(65536)] : [0x00, ...uleb(0)];
  const body = tapBody();
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...name('tap'), 0x00, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

const kernels = new WeakMap<WebAssembly.Memory, TapKernel | null>();
let enabled = true;

/** Test hook: turns the SIMD routine off (the JS loop runs instead); returns the old setting. */
export function setDepthwiseSimd(on: boolean): boolean {
  const old = enabled;
  enabled = on;
  return old;
}

interface ModuleLike {
  wasmMemory?: unknown;
  asm?: Record<string, unknown>;
}

/** The backend's heap: the Emscripten module's memory (exported, or imported by threaded builds). */
function memoryOf(module: ModuleLike | undefined): WebAssembly.Memory | undefined {
  if (module === undefined) return undefined;
  if (module.wasmMemory instanceof WebAssembly.Memory) return module.wasmMemory;
  return Object.values(module.asm ?? {}).find((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
}

/** `tap` bound to this backend's heap, or null when it cannot run here. */
export function depthwiseTapKernel(backend: WasmBackend): TapKernel | null {
  if (!enabled) return null;
  if (typeof WebAssembly === 'undefined') return null;
  const memory = memoryOf(backend.wasm as unknown as ModuleLike | undefined);
  if (memory === undefined) return null;
  let kernel = kernels.get(memory);
  if (kernel === undefined) {
    kernel = null;
    try {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const bytes = tapModuleBytes(shared);
      if (WebAssembly.validate(bytes)) {
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        kernel = instance.exports['tap'] as TapKernel;
      }
    } catch {
      kernel = null; // e.g. a content security policy that forbids compiling WebAssembly here
    }
    kernels.set(memory, kernel);
  }
  return kernel;
}
