/**
 * The deterministic weight formula of scripts/smpref/weights.py, bit for bit: every PyTorch
 * state_dict entry gets float32 values from its key and shape alone.
 *
 *   seed = FNV-1a 32-bit of the key's UTF-8 bytes; u_i = i-th output (i = 1, 2, …) of
 *   mulberry32(seed) in row-major order of the PyTorch shape; float64 arithmetic, one rounding to float32:
 *     running_mean, BN bias: u − 0.5      running_var, BN weight: 0.5 + u
 *     weight (rank ≥ 2): sqrt(6 / fan_in)·(2u − 1), fan_in = prod(shape[1:])
 *     bias (not BN): 0.1·(2u − 1)
 *   A `.weight` / `.bias` is BatchNorm's when the same prefix has a `.running_mean`.
 */
import type * as tf from '@tensorflow/tfjs';
import { loadStateDict, stateDictMapping, type StateDict } from '../src/io/stateDict.js';

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The first n outputs of mulberry32(seed), each uint32 / 2^32. */
export function mulberry32Uniform(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let a = seed | 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

export type WeightKind = 'bn.running_mean' | 'bn.running_var' | 'bn.weight' | 'bn.bias' | 'weight' | 'bias';

export function weightKind(key: string, shape: number[], keys: ReadonlySet<string>): WeightKind {
  const dot = key.lastIndexOf('.');
  const prefix = key.slice(0, dot);
  const param = key.slice(dot + 1);
  if (param === 'running_mean') return 'bn.running_mean';
  if (param === 'running_var') return 'bn.running_var';
  const isNorm = keys.has(`${prefix}.running_mean`);
  if (param === 'weight' && isNorm) return 'bn.weight';
  if (param === 'weight' && shape.length >= 2) return 'weight';
  if (param === 'bias') return isNorm ? 'bn.bias' : 'bias';
  throw new Error(`no deterministic-weight rule for key ${key} with shape [${shape}]`);
}

export function deterministicValue(key: string, shape: number[], kind: WeightKind): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = mulberry32Uniform(fnv1a32(key), n);
  const out = new Float32Array(n);
  const bound = kind === 'weight' ? Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1)) : 0;
  for (let i = 0; i < n; i++) {
    const x = u[i]!;
    switch (kind) {
      case 'bn.running_mean':
      case 'bn.bias':
        out[i] = x - 0.5;
        break;
      case 'bn.running_var':
      case 'bn.weight':
        out[i] = 0.5 + x;
        break;
      case 'weight':
        out[i] = bound * (2 * x - 1);
        break;
      default:
        out[i] = 0.1 * (2 * x - 1);
    }
  }
  return out;
}

/** Formula values for every `{ key, shape }` (PyTorch shapes), as a state dict. */
export function deterministicStateDict(entries: readonly { key: string; shape: number[] }[]): StateDict {
  const keys = new Set(entries.map((e) => e.key));
  const out: StateDict = {};
  for (const { key, shape } of entries) {
    out[key] = { shape: [...shape], data: deterministicValue(key, shape, weightKind(key, shape, keys)) };
  }
  return out;
}

/** A fixture input as the script makes it: U[−1, 1) seeded by `input:<name>`. */
export function deterministicInput(name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = mulberry32Uniform(fnv1a32(`input:${name}`), n);
  return Float32Array.from(u, (x) => 2 * x - 1);
}

/** Loads the formula values into every key the model maps (randomised BN statistics and biases). */
export function loadFormulaWeights(model: tf.LayersModel): void {
  loadStateDict(model, deterministicStateDict(stateDictMapping(model)));
}
