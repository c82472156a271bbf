import { describe, expect, it } from 'vitest';
import { syntheticCells, type SyntheticCell } from '../src/index.js';

/** Independent ellipse test: rotate the offset into the cell frame. */
function inside(c: SyntheticCell, y: number, x: number): boolean {
  const px = x - c.cx;
  const py = y - c.cy;
  const u = Math.cos(-c.angle) * px - Math.sin(-c.angle) * py;
  const v = Math.sin(-c.angle) * px + Math.cos(-c.angle) * py;
  return (u * u) / (c.rx * c.rx) + (v * v) / (c.ry * c.ry) < 1;
}

describe('syntheticCells', () => {
  const size = 48;
  const samples = syntheticCells({ count: 12, size, seed: 4 });

  it('is deterministic per seed and differs between seeds', () => {
    const again = syntheticCells({ count: 12, size, seed: 4 });
    samples.forEach((s, i) => {
      expect(Array.from(again[i].image)).toEqual(Array.from(s.image));
      expect(Array.from(again[i].instances)).toEqual(Array.from(s.instances));
    });
    const other = syntheticCells({ count: 1, size, seed: 5 })[0];
    expect(Array.from(other.image)).not.toEqual(Array.from(samples[0].image));
    // A prefix of a longer run is the same images.
    expect(Array.from(syntheticCells({ count: 2, size, seed: 4 })[1].image)).toEqual(Array.from(samples[1].image));
  });

  it('has the documented shapes, ranges and mask = instances > 0', () => {
    for (const s of samples) {
      expect([s.height, s.width, s.channels]).toEqual([size, size, 1]);
      expect(s.image).toHaveLength(size * size);
      expect(s.image.every((v) => v >= 0 && v <= 1)).toBe(true);
      s.mask.forEach((m, p) => expect(m).toBe(s.instances[p] > 0 ? 1 : 0));
      const ids = new Set(s.instances);
      ids.delete(0);
      expect([...ids].every((id) => s.cells.some((c) => c.label === id))).toBe(true);
      expect(ids.size).toBeGreaterThanOrEqual(3);
    }
    const rgb = syntheticCells({ count: 1, size: [16, 24], seed: 1, channels: 3 })[0];
    expect([rgb.height, rgb.width, rgb.channels, rgb.image.length]).toEqual([16, 24, 3, 16 * 24 * 3]);
  });

  it('produces overlapping cells and touching instances separated by thin borders', () => {
    let overlappingPairs = 0;
    let touchingPairs = 0;
    for (const s of samples) {
      const { cells, instances } = s;
      for (let i = 0; i < cells.length; i++) for (let j = i + 1; j < cells.length; j++) {
        let both = 0;
        for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
          if (inside(cells[i], y + 0.5, x + 0.5) && inside(cells[j], y + 0.5, x + 0.5)) both++;
        }
        if (both > 0) overlappingPairs++;
      }
      const touching = new Set<string>();
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        const a = instances[y * size + x];
        if (a === 0) continue;
        // Different instances are never 4-adjacent: a background border separates them.
        if (x + 1 < size) expect([0, a]).toContain(instances[y * size + x + 1]);
        if (y + 1 < size) expect([0, a]).toContain(instances[(y + 1) * size + x]);
        for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= size || xx >= size) continue;
          const b = instances[yy * size + xx];
          if (b !== 0 && b !== a) touching.add(`${Math.min(a, b)}-${Math.max(a, b)}`);
        }
      }
      touchingPairs += touching.size;
    }
    expect(overlappingPairs).toBeGreaterThanOrEqual(samples.length);
    expect(touchingPairs).toBeGreaterThanOrEqual(samples.length);
  });

  it('is learnable: cells are clearly brighter than background and borders', () => {
    let fg = 0, nfg = 0, bg = 0, nbg = 0, border = 0, nborder = 0;
    for (const s of samples) {
      s.image.forEach((v, p) => {
        if (s.mask[p]) { fg += v; nfg++; } else { bg += v; nbg++; }
        // Border pixels: background inside some cell's ellipse.
        const y = Math.floor(p / size) + 0.5, x = (p % size) + 0.5;
        if (!s.mask[p] && s.cells.some((c) => inside(c, y, x))) { border += v; nborder++; }
      });
    }
    expect(fg / nfg - bg / nbg).toBeGreaterThan(0.3);
    expect(nborder).toBeGreaterThan(0);
    expect(fg / nfg - border / nborder).toBeGreaterThan(0.3);
  });

  it('validates options', () => {
    expect(() => syntheticCells({ count: -1, size: 32 })).toThrow('syntheticCells: count must be an integer >= 0, got -1.');
    expect(() => syntheticCells({ count: 1, size: 4 })).toThrow('syntheticCells: size must be an integer >= 8');
    expect(() => syntheticCells({ count: 1, size: 32, cellsPerImage: [3, 2] })).toThrow(/cellsPerImage must be integers/);
    expect(() => syntheticCells({ count: 1, size: 32, radius: [0.2, 0.9] })).toThrow(/radius must be/);
    expect(syntheticCells({ count: 0, size: 32 })).toEqual([]);
  });
});
