/**
 * A minimal safetensors reader for the committed test fixtures (F32 and I64 only, trusted files).
 * Test-only: the library's reader (src/io/safetensors.ts) replaces it once available.
 */
import { readFileSync } from 'node:fs';

export interface FixtureTensor {
  dtype: 'F32' | 'I64';
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export function parseSafetensorsFixture(bytes: Uint8Array): Map<string, FixtureTensor> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + n;
  const out = new Map<string, FixtureTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = info.data_offsets;
    const copy = new Uint8Array(bytes.subarray(base + a, base + b)); // an aligned copy (Buffer.slice would be a view)
    if (info.dtype === 'F32') {
      out.set(name, { dtype: 'F32', shape: info.shape, data: new Float32Array(copy.buffer, 0, (b - a) / 4) });
    } else if (info.dtype === 'I64') {
      out.set(name, { dtype: 'I64', shape: info.shape, data: new BigInt64Array(copy.buffer, 0, (b - a) / 8) });
    } else {
      throw new Error(`fixture tensor ${name}: dtype ${info.dtype} is not F32 / I64`);
    }
  }
  return out;
}

export function readSafetensorsFixture(path: string): Map<string, FixtureTensor> {
  return parseSafetensorsFixture(readFileSync(path));
}
