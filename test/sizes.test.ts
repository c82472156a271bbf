import { describe, expect, it } from 'vitest';
import { unetOutputSize, unetValidInputSize } from '../src/index.js';

/** Independent reference: walk the paper's arithmetic with explicit per-level sizes. */
function reference(size: number, depth: number): number | null {
  const sizes = [size];
  let s = size;
  for (let l = 0; l < depth; l++) {
    s = s - 2 - 2;
    if (s < 1 || s % 2) return null;
    s = s / 2;
    sizes.push(s);
  }
  s = s - 2 - 2;
  if (s < 1) return null;
  for (let l = 0; l < depth; l++) {
    s = s * 2 - 2 - 2;
    if (s < 1) return null;
  }
  return s;
}

describe('classic UNet size arithmetic', () => {
  it('matches the paper', () => {
    expect(unetOutputSize(572)).toBe(388);
    expect(unetOutputSize(572, 4)).toBe(388);
    expect(unetValidInputSize(570)).toBe(572);
    expect(unetValidInputSize(572)).toBe(572);
    expect(unetValidInputSize(573)).toBe(588);
  });

  it('agrees with an independent walk for every size up to 700 and depths 1..5', () => {
    for (let depth = 1; depth <= 5; depth++) {
      for (let s = 1; s <= 700; s++) {
        const ref = reference(s, depth);
        if (ref === null) {
          expect(() => unetOutputSize(s, depth)).toThrow(/Nearest valid sizes/);
          expect(unetValidInputSize(s, depth)).toBeGreaterThan(s);
        } else {
          expect(unetOutputSize(s, depth)).toBe(ref);
          expect(unetValidInputSize(s, depth)).toBe(s);
        }
      }
    }
  });

  it('names the nearest valid sizes', () => {
    expect(() => unetOutputSize(570)).toThrow(/556 or 572/);
    expect(() => unetOutputSize(0)).toThrow(/positive integer/);
  });
});
