/**
 * The safetensors file format in pure TypeScript (browser-safe: Uint8Array / DataView only).
 *
 * Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON (an object
 * mapping each tensor name to `{ dtype, shape, data_offsets }`, plus an optional `__metadata__`
 * object of strings; padded with spaces to a multiple of 8 bytes), then the tensors' bytes back to
 * back, little-endian, row-major. `data_offsets` are relative to the start of that data section.
 *
 * Reading treats every file as untrusted: nothing in it is evaluated, every field is checked, and
 * each problem is an Error that names the tensor or field.
 */
import * as tf from '@tensorflow/tfjs';

/** The dtypes this module reads and writes. */
export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8'
  | 'BOOL';

/** A tensor read from a file: float dtypes become Float32Array, integer and BOOL dtypes Int32Array. */
export interface SafetensorsTensor {
  /** The dtype stored in the file (e.g. 'I64' even though `data` is an Int32Array). */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** The result of {@link readSafetensors}. */
export interface SafetensorsFile {
  /** Tensors in file order (by data offset). */
  tensors: Map<string, SafetensorsTensor>;
  /** The header's `__metadata__` (string → string), or null when the file has none. */
  metadata: Record<string, string> | null;
}

/** One header entry, as {@link readSafetensorsHeader} returns it (no tensor data is decoded). */
export interface SafetensorsHeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range [start, end) within the data section. */
  dataOffsets: [number, number];
}

/** The parsed header of a safetensors file: its length, entries and metadata. */
export interface SafetensorsHeader {
  /** Header length in bytes as stored in the first 8 bytes (the data section starts at 8 + this). */
  headerLength: number;
  /** Entries sorted by data offset. */
  entries: SafetensorsHeaderEntry[];
  metadata: Record<string, string> | null;
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Largest accepted header, in bytes (default 100 000 000, the reference implementation's cap). */
  maxHeaderBytes?: number;
  /**
   * F32 tensors whose bytes are 4-byte aligned are returned as views into `bytes` (no copy) unless
   * this is true. Default false.
   */
  copy?: boolean;
}

/** Plain numeric arrays accepted as tensor data when writing. */
export type SafetensorsData =
  | Float32Array | Float64Array
  | Int32Array | Int16Array | Int8Array
  | Uint32Array | Uint16Array | Uint8Array
  | BigInt64Array | BigUint64Array
  | number[];

/** One tensor to write. A {@link SafetensorsTensor} from {@link readSafetensors} is one too. */
export interface SafetensorsInput {
  data: SafetensorsData | tf.Tensor;
  /** Defaults to the tf.Tensor's shape, or `[data.length]`. Its product must equal the element count. */
  shape?: readonly number[];
  /**
   * The dtype to store. Defaults: tf.Tensor float32 → F32, int32 → I32, bool → BOOL;
   * Float32Array / number[] → F32, Float64Array → F64, Int32Array → I32, BigInt64Array → I64, and
   * the other typed arrays → their own type. Integer dtypes need integer values in range (e.g.
   * `{ data: new Int32Array([n]), shape: [], dtype: 'I64' }` for a `num_batches_tracked` scalar).
   */
  dtype?: SafetensorsDtype;
}

/** The tensors {@link writeSafetensors} writes, by name: a Map or a plain object. */
export type SafetensorsInputs =
  | Map<string, SafetensorsInput | tf.Tensor>
  | Record<string, SafetensorsInput | tf.Tensor>;

/** The reference implementation's header cap (100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/**
 * The position of each dtype in the reference implementation's `Dtype` enum (which is declared in
 * increasing alignment order). Writers sort entries by this rank, descending, then by name.
 */
const DTYPE_RANK: Record<string, number> = {
  BOOL: 0, F4: 1, F6_E2M3: 2, F6_E3M2: 3, U8: 4, I8: 5, F8_E5M2: 6, F8_E4M3: 7, F8_E8M0: 8,
  F8_E4M3FNUZ: 9, F8_E5M2FNUZ: 10, I16: 11, U16: 12, F16: 13, BF16: 14, I32: 15, U32: 16, F32: 17,
  C64: 18, F64: 19, I64: 20, U64: 21,
};

const SUPPORTED = Object.keys(ITEM_SIZE) as SafetensorsDtype[];
const FLOAT_DTYPES = new Set<SafetensorsDtype>(['F64', 'F32', 'F16', 'BF16']);
const ENTRY_FIELDS = ['data_offsets', 'dtype', 'shape'];
const METADATA_KEY = '__metadata__';

function isSupportedDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(ITEM_SIZE, d);
}

function unsupportedDtypeMessage(d: string): string {
  const known = Object.prototype.hasOwnProperty.call(DTYPE_RANK, d);
  return `${known ? 'unsupported' : 'unknown'} dtype ${JSON.stringify(d)}; supported: ${SUPPORTED.join(', ')}`;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Half-precision conversions (IEEE binary16 and bfloat16), exact bit manipulation.

let f16Table: Float32Array | null = null;

/** float32 value of the binary16 bit pattern `h` (exact: every binary16 value is a float32). */
export function f16BitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

function f16Lookup(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToFloat(h);
  }
  return f16Table;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The binary16 bit pattern nearest to `x` after rounding it to float32 (round half to even; NaN → 0x7e00 with the sign). */
export function floatToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  if (exp > 142) return sign | 0x7c00; // |x| ≥ 2^16: beyond the largest binary16
  if (exp >= 113) {
    // Normal binary16 (the carry of a round-up may step into the next exponent, or to infinity).
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  if (exp < 102) return sign; // below half the smallest subnormal: ±0
  // Subnormal binary16: value = m · 2^(exp − 150), in units of 2^-24 that is m >> (126 − exp).
  const m = mant | 0x800000;
  const shift = 126 - exp;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** float32 value of the bfloat16 bit pattern `b` (exact). */
export function bf16BitsToFloat(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** The bfloat16 bit pattern nearest to `x` after rounding it to float32 (round half to even; NaN → 0x7fc0). */
export function floatToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Reading

function toBytes(bytes: Uint8Array | ArrayBuffer, what: string): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new Error(`${what}: expected a Uint8Array or ArrayBuffer, got ${describeValue(bytes)}.`);
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMetadata(value: unknown): Record<string, string> | null {
  if (value === null) return null;
  if (!isPlainObject(value)) {
    throw new Error(`safetensors: "__metadata__" must be an object of strings, got ${describeValue(value)}.`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new Error(`safetensors: "__metadata__" field ${JSON.stringify(k)} must be a string, got ${describeValue(v)}.`);
    }
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function checkEntry(name: string, value: unknown, dataLength: number): SafetensorsHeaderEntry {
  const where = `safetensors: tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) throw new Error(`${where}: header entry must be an object, got ${describeValue(value)}.`);
  const keys = Object.keys(value);
  for (const field of ENTRY_FIELDS) {
    if (!keys.includes(field)) throw new Error(`${where}: header entry has no "${field}" field.`);
  }
  const extra = keys.filter((k) => !ENTRY_FIELDS.includes(k));
  if (extra.length > 0) {
    throw new Error(`${where}: header entry has unexpected field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')} (allowed: dtype, shape, data_offsets).`);
  }
  const { dtype, shape, data_offsets: offsets } = value as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (typeof dtype !== 'string') throw new Error(`${where}: "dtype" must be a string, got ${describeValue(dtype)}.`);
  if (!isSupportedDtype(dtype)) throw new Error(`${where}: ${unsupportedDtypeMessage(dtype)}.`);
  if (!Array.isArray(shape)) throw new Error(`${where}: "shape" must be an array of non-negative integers, got ${describeValue(shape)}.`);
  let count = 1;
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new Error(`${where}: "shape" dimension ${i} must be a non-negative integer, got ${JSON.stringify(d)}.`);
    }
    count *= d;
  });
  if (!Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    throw new Error(`${where}: "data_offsets" must be [start, end] with non-negative integers, got ${JSON.stringify(offsets)}.`);
  }
  const [start, end] = offsets as [number, number];
  if (end < start) throw new Error(`${where}: "data_offsets" [${start}, ${end}] end before they start.`);
  if (end > dataLength) {
    throw new Error(`${where}: "data_offsets" [${start}, ${end}] run past the end of the data section (${dataLength} bytes); the file is truncated or corrupt.`);
  }
  const expected = count * ITEM_SIZE[dtype];
  if (end - start !== expected) {
    throw new Error(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but "data_offsets" [${start}, ${end}] hold ${end - start}.`,
    );
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [start, end] };
}

/** The header length stored in the first 8 bytes (`prefix`), checked against the cap and the file's size. */
function storedHeaderLength(prefix: Uint8Array, fileLength: number, options: ReadSafetensorsOptions): number {
  const cap = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  if (fileLength < 8 || prefix.byteLength < 8) {
    throw new Error(`safetensors: the file is ${fileLength} bytes, shorter than its 8-byte header length; it is empty, truncated or not a safetensors file.`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(cap)) {
    throw new Error(`safetensors: header length ${n} bytes exceeds the limit of ${cap} bytes; the file is corrupt or not a safetensors file.`);
  }
  const headerLength = Number(n);
  if (8 + headerLength > fileLength) {
    throw new Error(`safetensors: header length ${headerLength} bytes runs past the end of the ${fileLength}-byte file; the file is truncated or not a safetensors file.`);
  }
  return headerLength;
}

/** Parses and checks the JSON header (`headerBytes`, the N bytes after the length) of a file of `fileLength` bytes. */
function parseHeader(headerBytes: Uint8Array, fileLength: number): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new Error('safetensors: the header is not valid UTF-8; the file is corrupt or not a safetensors file.');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(`safetensors: the header is not valid JSON (${(e as Error).message}); the file is corrupt or not a safetensors file.`);
  }
  if (!isPlainObject(header)) {
    throw new Error(`safetensors: the header must be a JSON object, got ${describeValue(header)}.`);
  }
  const dataLength = fileLength - 8 - headerLength;
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsHeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(value);
    else entries.push(checkEntry(name, value, dataLength));
  }
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let position = 0;
  let previous: string | null = null;
  for (const e of entries) {
    const [start, end] = e.dataOffsets;
    if (start < position) {
      throw new Error(`safetensors: tensor ${JSON.stringify(e.name)} "data_offsets" [${start}, ${end}] overlap tensor ${JSON.stringify(previous)} (which ends at ${position}).`);
    }
    if (start > position) {
      const after = previous === null ? 'at the start of the data section' : `after tensor ${JSON.stringify(previous)}`;
      throw new Error(`safetensors: ${start - position} unclaimed byte(s) ${after}, before tensor ${JSON.stringify(e.name)} (starts at ${start}); the offsets leave a gap.`);
    }
    position = end;
    previous = e.name;
  }
  if (position !== dataLength) {
    throw new Error(`safetensors: ${dataLength - position} byte(s) after the last tensor${previous === null ? '' : ` (${JSON.stringify(previous)})`} belong to no tensor; the file is corrupt or has trailing data.`);
  }
  return { headerLength, entries, metadata };
}

/**
 * Parses and checks the header of a safetensors file without decoding any tensor: every entry's
 * fields, that the byte ranges tile the data section exactly (no gap, no overlap, nothing past
 * the end, nothing after the last tensor) and match each shape and dtype.
 */
export function readSafetensorsHeader(bytes: Uint8Array | ArrayBuffer, options: ReadSafetensorsOptions = {}): SafetensorsHeader {
  const buf = toBytes(bytes, 'readSafetensors');
  const headerLength = storedHeaderLength(buf, buf.byteLength, options);
  return parseHeader(buf.subarray(8, 8 + headerLength), buf.byteLength);
}

function decodeFloat32(buf: Uint8Array, offset: number, count: number, copy: boolean): Float32Array {
  if (LITTLE_ENDIAN_HOST) {
    if (!copy && (buf.byteOffset + offset) % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset + offset, count);
    return new Float32Array(buf.slice(offset, offset + count * 4).buffer);
  }
  const view = new DataView(buf.buffer, buf.byteOffset + offset, count * 4);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Decodes tensor `e`, whose first byte is `buf[offset]`. */
function decodeTensor(buf: Uint8Array, offset: number, e: SafetensorsHeaderEntry, copy: boolean): Float32Array | Int32Array {
  const size = ITEM_SIZE[e.dtype];
  const count = (e.dataOffsets[1] - e.dataOffsets[0]) / size;
  if (e.dtype === 'F32') return decodeFloat32(buf, offset, count, copy);
  const view = new DataView(buf.buffer, buf.byteOffset + offset, count * size);
  const where = `safetensors: tensor ${JSON.stringify(e.name)} (${e.dtype})`;
  if (FLOAT_DTYPES.has(e.dtype)) {
    const out = new Float32Array(count);
    if (e.dtype === 'F16') {
      const table = f16Lookup();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)]!;
    } else if (e.dtype === 'BF16') {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
    } else {
      for (let i = 0; i < count; i++) {
        const v = view.getFloat64(i * 8, true);
        out[i] = v;
        if (Number.isFinite(v) && !Number.isFinite(out[i]!)) {
          throw new Error(`${where}: value ${v} at index ${i} is beyond the float32 range; TF.js computes in float32.`);
        }
      }
    }
    return out;
  }
  const out = new Int32Array(count);
  const tooBig = (i: number, v: bigint | number): Error =>
    new Error(`${where}: value ${v} at index ${i} does not fit in int32 (TF.js holds integer tensors as int32).`);
  switch (e.dtype) {
    case 'I64':
      for (let i = 0; i < count; i++) {
        const lo = view.getInt32(i * 8, true);
        const hi = view.getInt32(i * 8 + 4, true);
        if (hi !== lo >> 31) throw tooBig(i, view.getBigInt64(i * 8, true));
        out[i] = lo;
      }
      break;
    case 'U64':
      for (let i = 0; i < count; i++) {
        const lo = view.getInt32(i * 8, true);
        if (lo < 0 || view.getUint32(i * 8 + 4, true) !== 0) throw tooBig(i, view.getBigUint64(i * 8, true));
        out[i] = lo;
      }
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'U32':
      for (let i = 0; i < count; i++) {
        const v = view.getUint32(i * 4, true);
        if (v > 0x7fffffff) throw tooBig(i, v);
        out[i] = v;
      }
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'U16':
      for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
    case 'BOOL':
      for (let i = 0; i < count; i++) {
        const v = view.getUint8(i);
        if (v > 1) throw new Error(`${where}: byte ${v} at index ${i} is not a boolean (0 or 1).`);
        out[i] = v;
      }
      break;
    default:
      throw new Error(`${where}: ${unsupportedDtypeMessage(e.dtype)}.`);
  }
  return out;
}

/**
 * Reads a safetensors file. F32, F16, BF16 and F64 tensors become Float32Array (F16 and BF16
 * exactly; F64 rounded to the nearest float32, and a finite value beyond the float32 range is an
 * error); I64, I32, I16, I8, U64, U32, U16, U8 and BOOL become Int32Array, and a value that does
 * not fit in int32 is an error naming the tensor. Other dtypes (complex, 8-bit floats...) are
 * rejected by name. Aligned F32 data is a view into `bytes` unless `options.copy` is set.
 */
export function readSafetensors(bytes: Uint8Array | ArrayBuffer, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const buf = toBytes(bytes, 'readSafetensors');
  const header = readSafetensorsHeader(buf, options);
  const base = 8 + header.headerLength;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of header.entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeTensor(buf, base + e.dataOffsets[0], e, options.copy ?? false) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Random access to a file's bytes, for reading it piece by piece instead of whole: a local file in
 * Node (through the Node entry's file access), a `Blob` / `File` ({@link blobByteSource}), or bytes
 * already in memory ({@link bytesByteSource}).
 */
export interface ByteSource {
  /** The size in bytes. */
  readonly byteLength: number;
  /**
   * The `length` bytes starting at `offset` (within the size). The result may be a view into a
   * buffer the source keeps (the in-memory source's), so callers do not write into it.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the source holds open (a file). Reading after it is an error. */
  close(): Promise<void>;
}

/** A {@link ByteSource} over bytes in memory: reads are views, nothing is copied. */
export function bytesByteSource(bytes: Uint8Array | ArrayBuffer): ByteSource {
  const buf = toBytes(bytes, 'bytesByteSource');
  return {
    byteLength: buf.byteLength,
    read: (offset, length) => Promise.resolve(buf.subarray(offset, offset + length)),
    close: () => Promise.resolve(),
  };
}

/** A {@link ByteSource} over a `Blob` or `File` (browsers, Node ≥ 20): each read loads only its slice. */
export function blobByteSource(blob: Blob): ByteSource {
  return {
    byteLength: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
    close: () => Promise.resolve(),
  };
}

/** A safetensors file opened by {@link openSafetensors}: its checked header, and its tensors one at a time. */
export interface SafetensorsReader {
  /** The parsed and checked header (entries sorted by data offset). */
  header: SafetensorsHeader;
  /** Reads and decodes one tensor (as {@link readSafetensors} would); an unknown name is an error. */
  tensor(name: string): Promise<SafetensorsTensor>;
  /** Closes the underlying source. */
  close(): Promise<void>;
}

/**
 * Opens a safetensors file for reading tensor by tensor: reads and checks the header only (the
 * same checks as {@link readSafetensorsHeader}), then each {@link SafetensorsReader.tensor} call
 * reads just that tensor's bytes. Peak memory is then the header plus the tensor being read, not
 * the whole file. On an error while opening, the source is closed.
 */
export async function openSafetensors(source: ByteSource, options: ReadSafetensorsOptions = {}): Promise<SafetensorsReader> {
  let header: SafetensorsHeader;
  try {
    const fileLength = source.byteLength;
    const headerLength = storedHeaderLength(await source.read(0, Math.min(8, fileLength)), fileLength, options);
    header = parseHeader(await source.read(8, headerLength), fileLength);
  } catch (e) {
    await source.close();
    throw e;
  }
  const base = 8 + header.headerLength;
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  return {
    header,
    async tensor(name) {
      const e = byName.get(name);
      if (e === undefined) throw new Error(`safetensors: the file has no tensor ${JSON.stringify(name)}.`);
      const [start, end] = e.dataOffsets;
      const bytes = await source.read(base + start, end - start);
      if (bytes.byteLength !== end - start) {
        throw new Error(`safetensors: tensor ${JSON.stringify(name)}: read ${bytes.byteLength} of its ${end - start} bytes; the file changed or was truncated while being read.`);
      }
      return { dtype: e.dtype, shape: e.shape, data: decodeTensor(bytes, 0, e, options.copy ?? false) };
    },
    close: () => source.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Writing

interface PreparedTensor {
  name: string;
  nameBytes: Uint8Array;
  dtype: SafetensorsDtype;
  shape: number[];
  values: ArrayLike<number | bigint>;
  byteLength: number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function defaultDtype(data: SafetensorsData | tf.Tensor, name: string): SafetensorsDtype {
  if (data instanceof tf.Tensor) {
    if (data.dtype === 'float32') return 'F32';
    if (data.dtype === 'int32') return 'I32';
    if (data.dtype === 'bool') return 'BOOL';
    throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)} has tf dtype ${data.dtype}; only float32, int32 and bool tensors can be written.`);
  }
  if (Array.isArray(data) || data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Uint16Array) return 'U16';
  if (data instanceof Uint8Array) return 'U8';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)} data must be a typed array, a number array or a tf.Tensor, got ${describeValue(data)}.`);
}

const INT_RANGE: Partial<Record<SafetensorsDtype, [bigint, bigint]>> = {
  I64: [-(2n ** 63n), 2n ** 63n - 1n], U64: [0n, 2n ** 64n - 1n],
  I32: [-(2n ** 31n), 2n ** 31n - 1n], U32: [0n, 2n ** 32n - 1n],
  I16: [-(2n ** 15n), 2n ** 15n - 1n], U16: [0n, 2n ** 16n - 1n],
  I8: [-128n, 127n], U8: [0n, 255n], BOOL: [0n, 1n],
};

function checkIntegers(name: string, dtype: SafetensorsDtype, values: ArrayLike<number | bigint>): void {
  const [lo, hi] = INT_RANGE[dtype]!;
  const loN = Number(lo);
  const hiN = Number(hi);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const ok = typeof v === 'bigint'
      ? v >= lo && v <= hi
      : Number.isSafeInteger(v) && v >= loN && v <= hiN;
    if (!ok) {
      throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)}: value ${v} at index ${i} is not a ${dtype === 'BOOL' ? 'boolean (0 or 1)' : `${dtype} integer`}.`);
    }
  }
}

function prepare(name: string, input: SafetensorsInput | tf.Tensor): PreparedTensor {
  if (typeof name !== 'string') throw new Error('writeSafetensors: tensor names must be strings.');
  if (name === METADATA_KEY) throw new Error(`writeSafetensors: "${METADATA_KEY}" is reserved for the metadata and cannot name a tensor.`);
  if (LONE_SURROGATE.test(name)) throw new Error(`writeSafetensors: tensor name ${JSON.stringify(name)} is not valid Unicode (lone surrogate).`);
  const entry: SafetensorsInput = input instanceof tf.Tensor ? { data: input } : input;
  if (!isPlainObject(entry) || !('data' in entry)) {
    throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)} must be a tf.Tensor or { data, shape?, dtype? }, got ${describeValue(input)}.`);
  }
  const { data } = entry;
  if (data instanceof tf.Tensor && data.isDisposed) throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)} is disposed.`);
  const inferred = defaultDtype(data, name); // also rejects unsupported containers
  const dtype = entry.dtype ?? inferred;
  if (!isSupportedDtype(dtype)) throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)}: ${unsupportedDtypeMessage(String(dtype))}.`);
  const values: ArrayLike<number | bigint> = data instanceof tf.Tensor ? (data.dataSync() as ArrayLike<number>) : data;
  const shape = entry.shape !== undefined ? [...entry.shape] : data instanceof tf.Tensor ? [...data.shape] : [values.length];
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)}: shape dimension ${i} must be a non-negative integer, got ${d}.`);
    }
  });
  const count = shape.reduce((a, d) => a * d, 1);
  if (count !== values.length) {
    throw new Error(`writeSafetensors: tensor ${JSON.stringify(name)}: shape [${shape.join(', ')}] has ${count} elements but the data has ${values.length}.`);
  }
  if (!FLOAT_DTYPES.has(dtype)) checkIntegers(name, dtype, values);
  return { name, nameBytes: new TextEncoder().encode(name), dtype, shape, values, byteLength: count * ITEM_SIZE[dtype] };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function encodeValues(t: PreparedTensor, out: Uint8Array, offset: number): void {
  const { values, dtype } = t;
  const n = values.length;
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST && n > 0) {
    const f32 = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>, Number);
    out.set(new Uint8Array(f32.buffer, f32.byteOffset, n * 4), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, t.byteLength);
  const num = (i: number): number => Number(values[i]!);
  switch (dtype) {
    case 'F64': for (let i = 0; i < n; i++) view.setFloat64(i * 8, num(i), true); break;
    case 'F32': for (let i = 0; i < n; i++) view.setFloat32(i * 4, num(i), true); break;
    case 'F16': for (let i = 0; i < n; i++) view.setUint16(i * 2, floatToF16Bits(num(i)), true); break;
    case 'BF16': for (let i = 0; i < n; i++) view.setUint16(i * 2, floatToBf16Bits(num(i)), true); break;
    case 'I64': for (let i = 0; i < n; i++) view.setBigInt64(i * 8, BigInt(values[i]!), true); break;
    case 'U64': for (let i = 0; i < n; i++) view.setBigUint64(i * 8, BigInt(values[i]!), true); break;
    case 'I32': for (let i = 0; i < n; i++) view.setInt32(i * 4, num(i), true); break;
    case 'U32': for (let i = 0; i < n; i++) view.setUint32(i * 4, num(i), true); break;
    case 'I16': for (let i = 0; i < n; i++) view.setInt16(i * 2, num(i), true); break;
    case 'U16': for (let i = 0; i < n; i++) view.setUint16(i * 2, num(i), true); break;
    case 'I8': for (let i = 0; i < n; i++) view.setInt8(i, num(i)); break;
    case 'U8': case 'BOOL': for (let i = 0; i < n; i++) view.setUint8(i, num(i)); break;
  }
}

/**
 * Writes tensors as a safetensors file, byte for byte as the reference implementation (the
 * `safetensors` Python/Rust library, and so PyTorch's `save_file` / `save_model`) writes them:
 * entries sorted by dtype, in descending order of the reference's dtype enum (U64, I64, F64, F32,
 * U32, I32, BF16, F16, U16, I16, I8, U8, BOOL: larger alignment first), then by name (Unicode code
 * point order); compact JSON header with `__metadata__` first when given (its keys sorted), padded
 * with spaces to a multiple of 8 bytes; data back to back in the same order.
 *
 * tf.Tensor inputs are read with `dataSync()`.
 */
export function writeSafetensors(tensors: SafetensorsInputs, metadata?: Record<string, string> | null): Uint8Array<ArrayBuffer> {
  if (!(tensors instanceof Map) && !isPlainObject(tensors)) {
    throw new Error(`writeSafetensors: tensors must be a Map or an object of named tensors, got ${describeValue(tensors)}.`);
  }
  const items = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const prepared = items.map(([name, t]) => prepare(name, t));
  prepared.sort((a, b) => DTYPE_RANK[b.dtype]! - DTYPE_RANK[a.dtype]! || compareBytes(a.nameBytes, b.nameBytes));
  const parts: string[] = [];
  if (metadata !== undefined && metadata !== null) {
    if (!isPlainObject(metadata)) throw new Error(`writeSafetensors: metadata must be an object of strings, got ${describeValue(metadata)}.`);
    const keys = Object.keys(metadata).sort((a, b) => compareBytes(new TextEncoder().encode(a), new TextEncoder().encode(b)));
    const fields = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata field ${JSON.stringify(k)} must be a string, got ${describeValue(v)}.`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) throw new Error(`writeSafetensors: metadata field ${JSON.stringify(k)} is not valid Unicode (lone surrogate).`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"${METADATA_KEY}":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const t of prepared) {
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.byteLength}]}`);
    offset += t.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new Error(`writeSafetensors: the header would be ${headerLength} bytes, over the format's ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit (too many tensors or too much metadata).`);
  }
  let out: Uint8Array<ArrayBuffer>;
  try {
    out = new Uint8Array(8 + headerLength + offset);
  } catch (e) {
    throw new Error(`writeSafetensors: cannot allocate ${8 + headerLength + offset} bytes for the file: ${(e as Error).message}`);
  }
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const t of prepared) {
    encodeValues(t, out, position);
    position += t.byteLength;
  }
  return out;
}
