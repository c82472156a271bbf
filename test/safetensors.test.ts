import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bf16BitsToFloat,
  f16BitsToFloat,
  floatToBf16Bits,
  floatToF16Bits,
  blobByteSource,
  bytesByteSource,
  openSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type ByteSource,
  type SafetensorsDtype,
  type SafetensorsInput,
  type SafetensorsTensor,
} from '../src/index.js';
import { fileByteSource } from '../src/node.js';

const fixtures = fileURLToPath(new URL('./fixtures/safetensors/', import.meta.url));

/** A file from a header (object or raw JSON text) and a data section. */
function rawFile(header: unknown, data: Uint8Array | number = 0, lengthOverride?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

const entry = (dtype: string, shape: number[], start: number, end: number) => ({ dtype, shape, data_offsets: [start, end] });

function bitsToF32(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

interface GoldenSpec {
  dtype: SafetensorsDtype;
  shape: number[];
  f32bits?: number[];
  f64?: number[];
  ints?: string[];
}

function goldenInputs(which: 'all_dtypes' | 'smp_like'): { tensors: Map<string, SafetensorsInput>; metadata: Record<string, string> | null } {
  const all = JSON.parse(readFileSync(`${fixtures}golden_inputs.json`, 'utf8'));
  const spec = all[which] as { tensors: Record<string, GoldenSpec>; metadata: Record<string, string> | null };
  const tensors = new Map<string, SafetensorsInput>();
  for (const [name, t] of Object.entries(spec.tensors)) {
    const data = t.f32bits ? bitsToF32(t.f32bits)
      : t.f64 ? new Float64Array(t.f64)
      : t.dtype === 'I64' ? new BigInt64Array(t.ints!.map(BigInt))
      : t.ints!.map(Number);
    tensors.set(name, { data, shape: t.shape, dtype: t.dtype });
  }
  return { tensors, metadata: spec.metadata };
}

describe('writeSafetensors: byte-exact with the reference format', () => {
  for (const which of ['all_dtypes', 'smp_like'] as const) {
    it(`reproduces golden_${which}.safetensors (written by scripts/safetensors_golden.py)`, () => {
      const golden = new Uint8Array(readFileSync(`${fixtures}golden_${which}.safetensors`));
      const { tensors, metadata } = goldenInputs(which);
      const bytes = writeSafetensors(tensors, metadata);
      expect(bytes.length).toBe(golden.length);
      expect(Buffer.from(bytes).equals(Buffer.from(golden))).toBe(true);
    });
  }

  it('orders entries by dtype (I64 before F32, as the reference enum descends) and then by code point', () => {
    const bytes = writeSafetensors({
      'b.weight': { data: [1] },
      'a.num_batches_tracked': { data: [3], shape: [], dtype: 'I64' },
      'a.weight': { data: [2] },
      '\u{1F600}': { data: [0] },
      '\uFF5E': { data: [0] },
      'h': { data: [0], dtype: 'F16' },
      'i': { data: [0], dtype: 'I32' },
      'f64': { data: [0], dtype: 'F64' },
    });
    const names = readSafetensorsHeader(bytes).entries.map((e) => e.name);
    expect(names).toEqual(['a.num_batches_tracked', 'f64', 'a.weight', 'b.weight', '\uFF5E', '\u{1F600}', 'i', 'h']);
  });

  // Byte vectors from the reference implementation's own unit tests (safetensors/src/tensor.rs).
  it('matches the reference test vectors: one F32 tensor, alignment padding, empty file, metadata', () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    expect([...writeSafetensors({ 'attn.0': { data, shape: [1, 2, 3] } })]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    expect([...writeSafetensors({ attn0: { data, shape: [1, 1, 2, 3] } })]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
      121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
      91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ]);
    expect([...writeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...writeSafetensors(new Map(), { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });
});

describe('readSafetensors', () => {
  it('reads the golden SMP-like file: F32 values, I64 num_batches_tracked as int32, no metadata', () => {
    const { tensors, metadata } = readSafetensors(readFileSync(`${fixtures}golden_smp_like.safetensors`));
    expect(metadata).toBeNull();
    expect(tensors.size).toBe(12);
    const nbt = tensors.get('encoder.bn1.num_batches_tracked')!;
    expect(nbt).toEqual({ dtype: 'I64', shape: [], data: new Int32Array([7]) });
    expect(tensors.get('encoder.conv1.weight')!.shape).toEqual([4, 3, 1, 1]);
    expect([...tensors.get('encoder.conv1.weight')!.data]).toEqual(Array.from({ length: 12 }, (_, i) => i / 8 - 0.75));
    expect([...tensors.get('decoder.blocks.0.conv1.1.running_var')!.data]).toEqual([...new Float32Array([1, 0.9, 1.1, 1.2])]);
    // File order = data order: the I64 scalars come first.
    expect([...tensors.keys()].slice(0, 2)).toEqual(['decoder.blocks.0.conv1.1.num_batches_tracked', 'encoder.bn1.num_batches_tracked']);
  });

  it('reads the reference test vector written by an older writer (unpadded header)', () => {
    const bytes = rawFile('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', 16);
    expect(readSafetensors(bytes).tensors.get('test')).toEqual({ dtype: 'I32', shape: [2, 2], data: new Int32Array(4) });
  });

  it('refuses the golden all-dtypes file, naming the I64 tensor whose values exceed int32', () => {
    const bytes = readFileSync(`${fixtures}golden_all_dtypes.safetensors`);
    expect(() => readSafetensors(bytes)).toThrow(/tensor "big" \(I64\): value -4611686018427387904 at index 0 does not fit in int32/);
    // Its header is fine, with every dtype and the metadata.
    const header = readSafetensorsHeader(bytes);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(new Set(header.entries.map((e) => e.dtype))).toEqual(
      new Set(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U32', 'U16', 'U8', 'BOOL']),
    );
  });

  it('returns aligned F32 data as a view into the bytes, and a copy when asked', () => {
    const bytes = writeSafetensors({ w: { data: new Float32Array([1, 2, 3]) } });
    const view = readSafetensors(bytes).tensors.get('w')!.data;
    const copy = readSafetensors(bytes, { copy: true }).tensors.get('w')!.data;
    expect(view.buffer).toBe(bytes.buffer);
    expect(copy.buffer).not.toBe(bytes.buffer);
    expect([...copy]).toEqual([1, 2, 3]);
    // Misaligned input (the file at an odd offset in a larger buffer) is copied, values intact.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect([...readSafetensors(shifted.subarray(1)).tensors.get('w')!.data]).toEqual([1, 2, 3]);
  });

  it('accepts entries listed in any order in the header (the format orders data by offset)', () => {
    const data = new Uint8Array(new Float32Array([1, 2]).buffer);
    const bytes = rawFile({ b: entry('F32', [1], 4, 8), a: entry('F32', [1], 0, 4) }, data);
    const { tensors } = readSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('b')!.data[0]).toBe(2);
  });
});

describe('half-precision conversions against hand-computed values', () => {
  const f16Cases: Array<[number, number]> = [
    [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0400, 2 ** -14],
    [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x8001, -(2 ** -24)], [0x3555, 0.333251953125],
    [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  it('F16 bits → float', () => {
    for (const [h, v] of f16Cases) expect(Object.is(f16BitsToFloat(h), v)).toBe(true);
    expect(f16BitsToFloat(0x7e00)).toBeNaN();
    expect(f16BitsToFloat(0xfc01)).toBeNaN();
  });

  it('float → F16 bits: exact values, ties to even, subnormals, overflow, NaN', () => {
    for (const [h, v] of f16Cases) expect(floatToF16Bits(v)).toBe(h);
    const rounding: Array<[number, number]> = [
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even mantissa (1)
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02: even (0x3c02)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00], // overflow to ±inf
      [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even 0
      [2 ** -25 * 1.5, 0x0001], [3 * 2 ** -25, 0x0002], // subnormal tie 1.5 units → 2
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal to the smallest normal
      [1e-10, 0x0000], [-1e-10, 0x8000], [1e-40, 0x0000],
    ];
    for (const [v, h] of rounding) expect([v, floatToF16Bits(v)]).toEqual([v, h]);
    expect(floatToF16Bits(NaN)).toBe(0x7e00);
  });

  it('BF16 bits ↔ float', () => {
    const cases: Array<[number, number]> = [
      [0x0000, 0], [0x8000, -0], [0x3f80, 1], [0xc020, -2.5], [0x7f7f, 3.3895313892515355e38],
      [0x0001, 2 ** -133], [0x0080, 2 ** -126], [0x7f80, Infinity], [0xff80, -Infinity],
    ];
    for (const [b, v] of cases) {
      expect(Object.is(bf16BitsToFloat(b), v)).toBe(true);
      expect(floatToBf16Bits(v)).toBe(b);
    }
    expect(bf16BitsToFloat(0x7fc0)).toBeNaN();
    expect(floatToBf16Bits(NaN)).toBe(0x7fc0);
    expect(floatToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(floatToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie → even
    expect(floatToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(floatToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // largest float32 rounds to inf
  });

  it('reads the golden F16 and BF16 tensors (numpy / torch conversions) as the hand rules say', () => {
    const bytes = readFileSync(`${fixtures}golden_all_dtypes.safetensors`);
    const header = readSafetensorsHeader(bytes);
    const inputs = goldenInputs('all_dtypes').tensors;
    const base = 8 + header.headerLength;
    for (const [name, decode, encode] of [['half', f16BitsToFloat, floatToF16Bits], ['brain', bf16BitsToFloat, floatToBf16Bits]] as const) {
      const e = header.entries.find((x) => x.name === name)!;
      const view = new DataView(bytes.buffer, bytes.byteOffset + base + e.dataOffsets[0], e.dataOffsets[1] - e.dataOffsets[0]);
      const input = inputs.get(name)!.data as Float32Array;
      for (let i = 0; i < input.length; i++) {
        const stored = view.getUint16(i * 2, true);
        expect([name, i, stored]).toEqual([name, i, encode(input[i]!)]);
        if (!Number.isNaN(input[i])) expect(Object.is(decode(stored), decode(encode(input[i]!)))).toBe(true);
      }
    }
  });
});

describe('round trips for every dtype', () => {
  const cases: Array<[SafetensorsDtype, number[], number[]]> = [
    ['F32', [1.5, -0, 3e-39, Infinity, -Infinity], [1.5, -0, Math.fround(3e-39), Infinity, -Infinity]],
    ['F64', [Math.PI, -1e-300, 2 ** 70], [Math.fround(Math.PI), -0, 2 ** 70]],
    ['F16', [1, 2 ** -24, -0, 65504, 70000, 0.1], [1, 2 ** -24, -0, 65504, Infinity, 0.0999755859375]],
    ['BF16', [1, -2.5, 2 ** -133, 0.1, -0], [1, -2.5, 2 ** -133, 0.10009765625, -0]],
    ['I64', [-(2 ** 31), 2 ** 31 - 1, 0, -1], [-(2 ** 31), 2 ** 31 - 1, 0, -1]],
    ['I32', [-(2 ** 31), 2 ** 31 - 1, 5], [-(2 ** 31), 2 ** 31 - 1, 5]],
    ['I16', [-32768, 32767], [-32768, 32767]],
    ['I8', [-128, 127], [-128, 127]],
    ['U64', [0, 2 ** 31 - 1], [0, 2 ** 31 - 1]],
    ['U32', [0, 2 ** 31 - 1], [0, 2 ** 31 - 1]],
    ['U16', [0, 65535], [0, 65535]],
    ['U8', [0, 255], [0, 255]],
    ['BOOL', [1, 0, 1], [1, 0, 1]],
  ];
  for (const [dtype, input, expected] of cases) {
    it(`${dtype}: write → read gives the expected values, and writing what was read gives the same bytes`, () => {
      const bytes = writeSafetensors({ t: { data: input, shape: [input.length], dtype } }, { note: dtype });
      const file = readSafetensors(bytes);
      const t = file.tensors.get('t')!;
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([input.length]);
      expect(t.data).toBeInstanceOf(['F32', 'F64', 'F16', 'BF16'].includes(dtype) ? Float32Array : Int32Array);
      [...t.data].forEach((v, i) => expect([i, Object.is(v, expected[i])]).toEqual([i, true]));
      expect(file.metadata).toEqual({ note: dtype });
      if (dtype !== 'F64') expect(Buffer.from(writeSafetensors(file.tensors, file.metadata)).equals(Buffer.from(bytes))).toBe(true);
    });
  }

  it('keeps NaN through F32, F16 and BF16', () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const t = readSafetensors(writeSafetensors({ t: { data: [NaN, 1], dtype } })).tensors.get('t')!;
      expect(t.data[0]).toBeNaN();
      expect(t.data[1]).toBe(1);
    }
  });

  it('writes tf.Tensors (float32, int32, an int64 num_batches_tracked scalar) without leaking', () => {
    const w = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    const idx = tf.tensor1d([4, -5], 'int32');
    const n = tf.scalar(12, 'int32');
    const before = tf.memory().numTensors;
    const bytes = writeSafetensors({ w, idx, 'bn.num_batches_tracked': { data: n, dtype: 'I64' } });
    expect(tf.memory().numTensors).toBe(before);
    const { tensors } = readSafetensors(bytes);
    expect(tensors.get('w')).toEqual({ dtype: 'F32', shape: [1, 2, 3, 1], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    expect(tensors.get('idx')).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([4, -5]) });
    expect(tensors.get('bn.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: new Int32Array([12]) });
    expect(readSafetensorsHeader(bytes).entries[0]!.dataOffsets).toEqual([0, 8]);
    tf.dispose([w, idx, n]);
  });
});

const f32Data = (n: number) => new Uint8Array(new Float32Array(n).buffer);
const malformed: Array<[string, Uint8Array, RegExp]> = [
    ['an empty file', new Uint8Array(0), /0 bytes, shorter than its 8-byte header length/],
    ['7 bytes', new Uint8Array(7), /7 bytes, shorter than its 8-byte header length/],
    ['a header length beyond the cap', rawFile({}, 0, 200_000_000n), /header length 200000000 bytes exceeds the limit of 100000000/],
    ['a 2^64-1 header length', rawFile({}, 0, 2n ** 64n - 1n), /header length 18446744073709551615 bytes exceeds the limit/],
    ['a header length past the end', rawFile({}, 0, 100n), /header length 100 bytes runs past the end of the 10-byte file/],
    ['invalid UTF-8', rawFile('{"\xff":1}'.replace('\xff', ''), 0).map((b, i) => (i === 10 ? 0xff : b)), /header is not valid UTF-8/],
    ['invalid JSON', rawFile('{"a": {', 0), /header is not valid JSON/],
    ['a JSON array header', rawFile('[1,2]'), /header must be a JSON object, got an array/],
    ['a JSON null header', rawFile('null'), /header must be a JSON object, got null/],
    ['an entry that is not an object', rawFile({ w: 3 }), /tensor "w": header entry must be an object, got number 3/],
    ['a missing dtype', rawFile({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w": header entry has no "dtype" field/],
    ['a missing shape', rawFile({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4), /tensor "w": header entry has no "shape" field/],
    ['missing data_offsets', rawFile({ w: { dtype: 'F32', shape: [1] } }, 4), /tensor "w": header entry has no "data_offsets" field/],
    ['an extra field', rawFile({ w: { ...entry('F32', [1], 0, 4), code: 'x' } }, 4), /tensor "w": header entry has unexpected field\(s\) "code"/],
    ['an unknown dtype', rawFile({ w: entry('F128', [1], 0, 16) }, 16), /tensor "w": unknown dtype "F128"; supported: F64, F32, F16, BF16, I64/],
    ['complex dtype', rawFile({ w: entry('C64', [1], 0, 8) }, 8), /tensor "w": unsupported dtype "C64"/],
    ['an 8-bit float dtype', rawFile({ w: entry('F8_E4M3', [1], 0, 1) }, 1), /tensor "w": unsupported dtype "F8_E4M3"/],
    ['a numeric dtype', rawFile({ w: entry(3 as unknown as string, [1], 0, 4) }, 4), /tensor "w": "dtype" must be a string, got number 3/],
    ['a negative dimension', rawFile({ w: entry('F32', [-1], 0, 0) }), /tensor "w": "shape" dimension 0 must be a non-negative integer, got -1/],
    ['a fractional dimension', rawFile({ w: entry('F32', [2, 1.5], 0, 12) }, 12), /tensor "w": "shape" dimension 1 must be a non-negative integer, got 1.5/],
    ['a string dimension', rawFile({ w: entry('F32', ['2'] as unknown as number[], 0, 8) }, 8), /"shape" dimension 0 must be a non-negative integer, got "2"/],
    ['a shape that is not an array', rawFile({ w: { dtype: 'F32', shape: 4, data_offsets: [0, 16] } }, 16), /tensor "w": "shape" must be an array/],
    ['three data_offsets', rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 8), /tensor "w": "data_offsets" must be \[start, end\]/],
    ['negative data_offsets', rawFile({ w: entry('F32', [1], -4, 0) }, 4), /tensor "w": "data_offsets" must be \[start, end\] with non-negative integers/],
    ['data_offsets that end before they start', rawFile({ w: entry('F32', [0], 4, 0) }, 4), /tensor "w": "data_offsets" \[4, 0\] end before they start/],
    ['offsets past the end', rawFile({ w: entry('F32', [2], 0, 8) }, 4), /tensor "w": "data_offsets" \[0, 8\] run past the end of the data section \(4 bytes\)/],
    ['overlapping offsets', rawFile({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, 12), /tensor "b" "data_offsets" \[4, 12\] overlap tensor "a" \(which ends at 8\)/],
    ['a gap between tensors', rawFile({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, 12), /4 unclaimed byte\(s\) after tensor "a", before tensor "b"/],
    ['a gap at the start', rawFile({ a: entry('F32', [1], 4, 8) }, 8), /4 unclaimed byte\(s\) at the start of the data section, before tensor "a"/],
    ['trailing bytes', rawFile({ a: entry('F32', [1], 0, 4) }, 6), /2 byte\(s\) after the last tensor \("a"\) belong to no tensor/],
    ['a shape that does not match the bytes', rawFile({ a: entry('F32', [3], 0, 8) }, 8), /tensor "a": shape \[3\] of F32 needs 12 bytes but "data_offsets" \[0, 8\] hold 8/],
    ['an I64 shape with F32 bytes', rawFile({ a: entry('I64', [2], 0, 8) }, 8), /tensor "a": shape \[2\] of I64 needs 16 bytes/],
    ['metadata that is not an object', rawFile({ __metadata__: ['x'] }), /"__metadata__" must be an object of strings, got an array/],
    ['a non-string metadata value', rawFile({ __metadata__: { format: 'pt', epoch: 3 } }), /"__metadata__" field "epoch" must be a string, got number 3/],
    ['an I64 value beyond int32', rawFile({ n: entry('I64', [], 0, 8) }, new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0])), /tensor "n" \(I64\): value 4294967296 at index 0 does not fit in int32/],
    ['a U32 value beyond int32', rawFile({ n: entry('U32', [1], 0, 4) }, new Uint8Array([0, 0, 0, 0x80])), /tensor "n" \(U32\): value 2147483648 at index 0 does not fit in int32/],
    ['an F64 value beyond float32', rawFile({ d: entry('F64', [1], 0, 8) }, new Uint8Array(new Float64Array([1e300]).buffer)), /tensor "d" \(F64\): value 1e\+300 at index 0 is beyond the float32 range/],
    ['a BOOL byte that is not 0 or 1', rawFile({ b: entry('BOOL', [2], 0, 2) }, new Uint8Array([1, 2])), /tensor "b" \(BOOL\): byte 2 at index 1 is not a boolean/],
];

describe('malformed files give clear errors', () => {
  for (const [what, bytes, message] of malformed) {
    it(`rejects ${what}`, () => {
      expect(() => readSafetensors(bytes)).toThrow(message);
    });
  }

  it('honours a smaller header cap, and never evaluates header content', () => {
    const bytes = rawFile({ a: entry('F32', [1], 0, 4) }, f32Data(1));
    expect(() => readSafetensors(bytes, { maxHeaderBytes: 16 })).toThrow(/exceeds the limit of 16 bytes/);
    const evil = rawFile({ ['constructor']: entry('F32', [1], 0, 4), ['__proto__']: entry('F32', [1], 4, 8) }, f32Data(2));
    const { tensors } = readSafetensors(evil);
    expect([...tensors.keys()]).toEqual(['constructor', '__proto__']);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });

  it('rejects non-byte input', () => {
    expect(() => readSafetensors('abc' as unknown as Uint8Array)).toThrow(/expected a Uint8Array or ArrayBuffer, got string "abc"/);
  });
});

describe('writeSafetensors input errors', () => {
  const cases: Array<[string, Parameters<typeof writeSafetensors>[0], RegExp, Record<string, string>?]> = [
    ['a shape/data mismatch', { w: { data: [1, 2, 3], shape: [2, 2] } }, /tensor "w": shape \[2, 2\] has 4 elements but the data has 3/],
    ['a negative dimension', { w: { data: [], shape: [-1] } }, /tensor "w": shape dimension 0 must be a non-negative integer, got -1/],
    ['a fraction as I64', { n: { data: [1.5], dtype: 'I64' } }, /tensor "n": value 1.5 at index 0 is not a I64 integer/],
    ['300 as I8', { n: { data: new Int32Array([1, 300]), dtype: 'I8' } }, /tensor "n": value 300 at index 1 is not a I8 integer/],
    ['2 as BOOL', { b: { data: [2], dtype: 'BOOL' } }, /tensor "b": value 2 at index 0 is not a boolean/],
    ['an unknown dtype', { w: { data: [1], dtype: 'F8' as SafetensorsDtype } }, /tensor "w": unknown dtype "F8"/],
    ['the reserved name', { __metadata__: { data: [1] } }, /"__metadata__" is reserved/],
    ['a lone surrogate in a name', { ['a\uD800']: { data: [1] } }, /is not valid Unicode/],
    ['a non-array data', { w: { data: 'abc' as unknown as number[] } }, /tensor "w" data must be a typed array, a number array or a tf.Tensor, got string "abc"/],
    ['a non-string metadata value', {}, /metadata field "epoch" must be a string, got number 3/, { epoch: 3 } as unknown as Record<string, string>],
  ];
  for (const [what, input, message, metadata] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => writeSafetensors(input, metadata)).toThrow(message);
    });
  }

  it('rejects disposed and string tensors', () => {
    const t = tf.tensor1d([1]);
    t.dispose();
    expect(() => writeSafetensors({ t })).toThrow(/tensor "t" is disposed/);
    const s = tf.tensor1d(['a'], 'string');
    expect(() => writeSafetensors({ s })).toThrow(/tensor "s" has tf dtype string/);
    s.dispose();
  });
});

/** Every tensor of an opened file, read one at a time, then closed. */
async function readAllOpened(source: ByteSource): Promise<Map<string, SafetensorsTensor>> {
  const reader = await openSafetensors(source);
  try {
    const out = new Map<string, SafetensorsTensor>();
    for (const e of reader.header.entries) out.set(e.name, await reader.tensor(e.name));
    return out;
  } finally {
    await reader.close();
  }
}

/** A source that records the (offset, length) of every read and whether it was closed. */
function recording(inner: ByteSource): ByteSource & { reads: Array<[number, number]>; closed: boolean } {
  const r = {
    reads: [] as Array<[number, number]>,
    closed: false,
    byteLength: inner.byteLength,
    read(offset: number, length: number) {
      r.reads.push([offset, length]);
      return inner.read(offset, length);
    },
    async close() {
      r.closed = true;
      await inner.close();
    },
  };
  return r;
}

describe('openSafetensors: reading tensor by tensor', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smtf-safetensors-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const golden = () => readFileSync(`${fixtures}golden_smp_like.safetensors`);

  it('gives what readSafetensors gives, from bytes, a Blob and a file, reading only the header and each tensor\'s range', async () => {
    const bytes = golden();
    const expected = readSafetensors(bytes);
    const path = join(dir, 'golden.safetensors');
    await writeFile(path, bytes);
    const sources: Array<[string, ByteSource]> = [
      ['bytes', bytesByteSource(bytes)],
      ['Blob', blobByteSource(new Blob([bytes]))],
      ['file', await fileByteSource(path)],
    ];
    for (const [what, inner] of sources) {
      const source = recording(inner);
      const reader = await openSafetensors(source);
      expect(reader.header, what).toEqual(readSafetensorsHeader(bytes));
      const tensors = new Map<string, SafetensorsTensor>();
      for (const e of reader.header.entries) tensors.set(e.name, await reader.tensor(e.name));
      await reader.close();
      expect(tensors, what).toEqual(expected.tensors);
      expect(source.closed, what).toBe(true);
      // The 8-byte length, the header, then exactly each tensor's bytes: the file is never read whole.
      const base = 8 + reader.header.headerLength;
      expect(source.reads, what).toEqual([
        [0, 8], [8, reader.header.headerLength],
        ...reader.header.entries.map((e): [number, number] => [base + e.dataOffsets[0], e.dataOffsets[1] - e.dataOffsets[0]]),
      ]);
    }
  });

  it('rejects every malformed file with the same message as readSafetensors, and closes the source when the header is bad', async () => {
    for (const [what, bytes, message] of malformed) {
      for (const make of [() => bytesByteSource(bytes), () => blobByteSource(new Blob([bytes as Uint8Array<ArrayBuffer>]))]) {
        const source = recording(make());
        await expect(readAllOpened(source), what).rejects.toThrow(message);
        expect(source.closed, what).toBe(true);
      }
    }
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, rawFile({ w: entry('F32', [2], 0, 8) }, 4));
    await expect(openSafetensors(await fileByteSource(path))).rejects.toThrow(/tensor "w": "data_offsets" \[0, 8\] run past the end of the data section \(4 bytes\)/);
  });

  it('names an unknown tensor, a file truncated after it was opened, and a read after close', async () => {
    const path = join(dir, 'shrinks.safetensors');
    const bytes = writeSafetensors({ a: { data: new Float32Array(4) }, b: { data: new Float32Array(1000) } });
    await writeFile(path, bytes);
    const reader = await openSafetensors(await fileByteSource(path));
    await expect(reader.tensor('c')).rejects.toThrow('safetensors: the file has no tensor "c".');
    await truncate(path, bytes.length - 100);
    expect((await reader.tensor('a')).data).toEqual(new Float32Array(4));
    await expect(reader.tensor('b')).rejects.toThrow(`${path}: the file ends at byte ${bytes.length - 100}, before the 4000 bytes at ${bytes.length - 4000}; it was truncated while being read.`);
    await reader.close();
    await reader.close();
    await expect(reader.tensor('a')).rejects.toThrow(`${path}: read after the file was closed.`);
  });

  it('a missing file rejects with ENOENT', async () => {
    await expect(fileByteSource(join(dir, 'nope.safetensors'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
