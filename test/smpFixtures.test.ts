/**
 * The reference data itself: the weight formula is bit-identical in Python and TypeScript, the
 * checkpoints are what the manifest says (SMP's save_pretrained bytes), and the first-conv
 * adaptation reference follows the documented rule.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';
import { manifest, readFixtureTensors, readSafetensorsFile, SMP_FIXTURES } from './smpFixtures.js';
import { deterministicInput, deterministicStateDict } from './smpWeights.js';

/** float32 → nearest bfloat16 value (ties to even), as float32 (the checkpoints' weight grid). */
function bf16Grid(a: Float32Array): Float32Array {
  const u = new Uint32Array(a.slice().buffer);
  for (let i = 0; i < u.length; i++) u[i] = (u[i]! + 0x7fff + ((u[i]! >>> 16) & 1)) & 0xffff0000;
  return new Float32Array(u.buffer);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

describe('SMP reference data', () => {
  it('fixture inputs are the formula’s (Python and TypeScript generators agree bit for bit)', () => {
    for (const f of manifest().fixtures.slice(0, 4)) {
      const input = readFixtureTensors(f).get('input')!;
      expect(Array.from(input.data as Float32Array)).toEqual(Array.from(deterministicInput(f.name, f.input_shape)));
    }
  });

  it.each(manifest().checkpoints.map((c) => c.name))('%s: SMP save_pretrained bytes, formula weights, dead weights zero', (name) => {
    const entry = manifest().checkpoints.find((c) => c.name === name)!;
    const dir = join(SMP_FIXTURES, entry.dir);
    const bytes = gunzipSync(readFileSync(join(dir, 'model.safetensors.gz')));
    expect(bytes.length).toBe(entry.model_safetensors_bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(entry.model_safetensors_sha256);
    // config.json: json.dumps(config, sort_keys=True, indent=2), no trailing newline.
    const configText = readFileSync(join(dir, 'config.json'), 'utf8');
    expect(JSON.stringify(sortKeys(entry.config), null, 2)).toBe(configText);
    expect(Object.keys(JSON.parse(configText) as object)).toHaveLength(12);
    const tensors = readSafetensors(bytes).tensors;
    expect(tensors.size).toBe(entry.keys);
    // Data order (the reader's map order): I64 (num_batches_tracked) first, then F32, each by name.
    const names = [...tensors.keys()];
    const i64 = names.filter((k) => tensors.get(k)!.dtype === 'I64');
    expect(names).toEqual([...i64.sort(), ...names.filter((k) => tensors.get(k)!.dtype === 'F32').sort()]);
    const f32 = [...tensors].filter(([, t]) => t.dtype === 'F32').map(([key, t]) => ({ key, shape: t.shape }));
    const formula = deterministicStateDict(f32);
    let used = 0;
    for (const [key, t] of tensors) {
      if (t.dtype === 'I64') {
        expect(key.endsWith('.num_batches_tracked')).toBe(true);
        expect(Array.from(t.data)).toEqual([0]);
        continue;
      }
      const dead = entry.dead_prefixes.some((p) => key.startsWith(p));
      const want = dead ? new Float32Array(formula[key]!.data.length) : bf16Grid(formula[key]!.data);
      const got = t.data as Float32Array;
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer)), key).toBe(true);
      if (!dead) used++;
    }
    const usedBns = names.filter((k) => k.endsWith('.num_batches_tracked') && !entry.dead_prefixes.some((p) => k.startsWith(p)));
    expect(used + usedBns.length).toBe(entry.used_keys);
    const io = readSafetensorsFile(join(dir, 'io.safetensors'));
    expect(io.get('input')!.shape).toEqual(entry.input_shape);
    expect(io.get('output')!.shape).toEqual(entry.output_shape);
  });

  it('first-conv adaptation reference follows SMP’s patch_first_conv rule in float32', () => {
    const fc = manifest().first_conv;
    const t = readSafetensorsFile(join(SMP_FIXTURES, fc.file));
    const src = t.get('source')!.data as Float32Array;
    const [out, , kh, kw] = t.get('source')!.shape as [number, number, number, number];
    const hw = kh * kw;
    const at = (c: number, o: number, p: number, channels: number) => (o * channels + c) * hw + p;
    expect(src).toEqual(deterministicStateDict([{ key: fc.key, shape: [out, 3, kh, kw] }])[fc.key]!.data);
    for (const n of [1, 2, 4, 5]) {
      const got = t.get(`in${n}`)!.data as Float32Array;
      expect(t.get(`in${n}`)!.shape).toEqual([out, n, kh, kw]);
      const scale = Math.fround(3 / n);
      for (let o = 0; o < out; o++) {
        for (let p = 0; p < hw; p++) {
          for (let c = 0; c < n; c++) {
            const want =
              n === 1
                ? Math.fround(Math.fround(src[at(0, o, p, 3)]! + src[at(1, o, p, 3)]!) + src[at(2, o, p, 3)]!)
                : Math.fround(src[at(c % 3, o, p, 3)]! * scale);
            expect(got[at(c, o, p, n)]).toBe(want);
          }
        }
      }
    }
  });
});
