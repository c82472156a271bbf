// docs/benchmarks.md is generated from the benchmarks' JSON (bench/markdown.ts): on a committed
// sample (a real smoke run of `npm run bench -- --json`, `bench:memory` and `bench:profile`,
// trimmed), every fact of the header is there and every ratio is the one the raw numbers give.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { benchmarksMarkdown, ratio, type BenchmarkData } from '../bench/markdown.js';

const data = JSON.parse(readFileSync(new URL('./fixtures/bench/benchmarks-sample.json', import.meta.url), 'utf8')) as BenchmarkData;
const md = benchmarksMarkdown(data);
const lines = md.split('\n');
/** The table row of a model (by its label) in the section whose heading starts with `heading`. */
function row(heading: string, label: string): string[] {
  const start = lines.findIndex((l) => l.startsWith(`## ${heading}`));
  expect(start).toBeGreaterThan(-1);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  const found = lines.slice(start, end === -1 ? undefined : end).find((l) => l.startsWith(`| ${label} |`));
  expect(found, `${label} in "${heading}"`).toBeDefined();
  return found!.split('|').slice(1, -1).map((c) => c.trim());
}
const r2 = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

describe('bench:md (docs/benchmarks.md from the benchmarks JSON)', () => {
  const { bench } = data;
  const enc = bench.results.find((r) => r.encoder === 'resnet18')!;
  const w = (t: number) => enc.runs.find((r) => r.backend === 'wasm' && r.threads === t)!;
  const pt = (t: number) => enc.torch.find((r) => r.threads === t) as { forwardMs: number; trainStepMs: number };

  it('states the date, CPU, cores, load average, Node and PyTorch versions and the thread counts', () => {
    expect(md).toContain(`Measured on ${bench.date.slice(0, 10)} (${bench.date})`);
    expect(md).toContain(`**Machine**: ${bench.machine.cpu}, ${bench.machine.logicalCores} logical cores (${bench.machine.availableParallelism} available to Node)`);
    expect(md).toContain(`load average ${bench.machine.loadAverage1m.toFixed(2)} (1 min)`);
    expect(md).toContain(`Node ${bench.node}`);
    expect(md).toContain('PyTorch 1.13.0a0 (`/usr/bin/python3`, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for it)');
    expect(md).toContain('`wasm` backend with 1 and 2 thread(s)');
    expect(md).toContain('## Ours vs PyTorch, 1 thread\n');
    expect(md).toContain('## Ours vs PyTorch, 2 threads (all cores)\n');
    expect(md).not.toMatch(/undefined|NaN|\[object/);
  });

  it('puts ours next to PyTorch with ours ÷ PyTorch for forward (as built and optimized) and train step, at 1 and 2 threads', () => {
    for (const t of [1, 2]) {
      const cells = row(`Ours vs PyTorch, ${t} thread`, '`unet` on `resnet18`');
      const ms = (v: number) => (v < 100 ? v.toFixed(1) : v.toFixed(0));
      expect(cells[1]).toBe('64×64×3');
      expect(cells[2]).toBe(w(t).gflopPerImage!.toFixed(2));
      expect(cells[3]).toBe(ms(w(t).forwardMs!));
      expect(cells[4]).toBe(ms(w(t).optimizedForwardMs!));
      expect(cells[5]).toBe(ms(pt(t).forwardMs));
      expect(cells[6]).toBe(r2(w(t).forwardMs!, pt(t).forwardMs));
      expect(cells[7]).toBe(r2(w(t).optimizedForwardMs!, pt(t).forwardMs));
      expect(cells[8]).toBe(w(t).trainStepMs!.toFixed(0));
      expect(cells[9]).toBe(pt(t).trainStepMs.toFixed(0));
      expect(cells[10]).toBe(r2(w(t).trainStepMs!, pt(t).trainStepMs));
    }
    // The sample's numbers, worked out by hand: 1363.72 / 411.82, 64.93 / 191.25 and 53.57 / 191.25.
    const one = row('Ours vs PyTorch, 1 thread', '`unet` on `resnet18`');
    expect([one[10], one[6], one[7]]).toEqual(['3.31×', '0.34×', '0.28×']);
    expect(row('Ours vs PyTorch, 1 thread', '`unet-padded`')[1]).toBe('32×32×1');
  });

  it('gives the 2-thread speed-ups over 1 thread on both sides', () => {
    const cells = row('Speed-up of 2 threads', '`unet` on `resnet18`');
    expect(cells.slice(2)).toEqual([
      r2(w(1).forwardMs!, w(2).forwardMs!), r2(w(1).optimizedForwardMs!, w(2).optimizedForwardMs!), r2(w(1).trainStepMs!, w(2).trainStepMs!),
      r2(pt(1).forwardMs, pt(2).forwardMs), r2(pt(1).trainStepMs, pt(2).trainStepMs),
    ]);
    expect(cells[4]).toBe('1.11×'); // 1363.72 / 1229.67
  });

  it('reports peak wasm memory per thread count, the largest configurations and the profile', () => {
    expect(row('Peak memory', '`unet` on `resnet18`').slice(2)).toEqual(['4', '945', '952', '1202', 'none']);
    const big = row('The largest configurations', '`unet++`');
    expect(big.slice(1, 8)).toEqual(['unet++ 256×256×1, filters 16..256, deep supervision, batch 8', '1', 'whole batch (`trainOnBatch`)', 'trains', '23', '3530, 3530', '14362']);
    expect(row('The largest configurations', '`unet3+`')[4]).toMatch(/^fails: The wasm backend is out of memory/);
    const p = data.profiles![0]!.summary;
    expect(row('Where a train step goes', '`unet-padded@32`')[6]).toBe(`${(100 * p.serialShare).toFixed(1)} %`);
  });

  it('reports the SMP import\'s peak RSS against the weights\' size', () => {
    // The sample: 238.18 MiB peak over 93.32 MiB of weights; (238.18 − 101.02) / 93.32.
    expect(row('Importing an SMP checkpoint', 'Unet resnet34 (depth 5, decoder [256, 128, 64, 32, 16], 1 class)').slice(1)).toEqual(['24,455,377', '93', '101', '196', '238', '0.6', '2.55×', '1.47×']);
    expect(md).toContain('Measured 2026-11-25 on AMD EPYC, Node v20.20.2.');
  });

  it('ratio() divides ours by theirs and shows a dash when a side is missing', () => {
    expect(ratio(3, 2)).toBe('1.50×');
    expect(ratio(undefined, 2)).toBe('—');
    expect(ratio(3, 0)).toBe('—');
  });

  it('leaves out the sections whose JSON is not given', () => {
    const only = benchmarksMarkdown({ bench: data.bench });
    expect(only).not.toContain('## The largest configurations');
    expect(only).not.toContain('## Where a train step goes');
    expect(only).not.toContain('## Importing an SMP checkpoint');
    expect(only).toContain('## Peak memory');
  });
});
