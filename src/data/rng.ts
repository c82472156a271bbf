/**
 * Small seeded pseudo-random number generator (mulberry32) used by the data pipeline so that
 * splits, shuffles, augmentations and synthetic data are reproducible. Browser-safe.
 */
import { checkFiniteNumber } from '../util/validate.js';

/** A seeded random source. All methods advance the same underlying stream. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample scaled to N(mean, std²) (Box-Muller). */
  normal(mean?: number, std?: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[];
}

/** Checks that a seed is a finite number; throws a clear error otherwise. */
export function checkSeed(seed: unknown, where: string): number {
  return checkFiniteNumber(where, 'seed', seed);
}

/**
 * Creates a mulberry32 generator. The same seed always yields the same sequence; non-integer
 * seeds are hashed through their bits so 0.5 and 1.5 differ.
 */
export function createRng(seed: number): Rng {
  checkSeed(seed, 'createRng');
  let state = Number.isInteger(seed) ? seed >>> 0 : hashFloat(seed);
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  const rng: Rng = {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.floor(next() * n),
    normal: (mean = 0, std = 1) => {
      if (spare !== null) {
        const z = spare;
        spare = null;
        return mean + std * z;
      }
      let u = next();
      while (u <= Number.EPSILON) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return mean + std * r * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => next() < p,
    shuffle: <T>(items: T[]) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = items[i];
        items[i] = items[j];
        items[j] = tmp;
      }
      return items;
    },
  };
  return rng;
}

function hashFloat(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return (view.getUint32(0) ^ Math.imul(view.getUint32(4), 0x9e3779b1)) >>> 0;
}
