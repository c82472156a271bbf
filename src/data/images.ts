/**
 * PNG (pngjs) and JPEG (jpeg-js) decoding and encoding to plain typed arrays: 8- and 16-bit PNG
 * (and 1/2/4-bit gray PNG, kept as raw values), gray or RGB. Alpha channels are dropped.
 * Node-only (pngjs needs Node's zlib): exported from the Node entry, not the browser entry.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** A decoded image: row-major, channel-last integer pixels in [0, maxValue]. */
export interface RawImage {
  data: Uint8Array | Uint16Array;
  height: number;
  width: number;
  /** 1 (gray) or 3 (RGB); alpha is dropped when decoding. */
  channels: 1 | 3;
  /** Largest representable value: 255 for 8-bit, 65535 for 16-bit, 2^d - 1 for d-bit gray. */
  maxValue: number;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

function isPng(bytes: Uint8Array): boolean {
  return PNG_MAGIC.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes[0] === 0xff && bytes[1] === 0xd8;
}

/** Number of colour components from a JPEG's SOF header (1 = gray, 3 = colour), or 3 if absent. */
function jpegComponents(bytes: Uint8Array): number {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) { i++; continue; }
    const marker = bytes[i + 1];
    if (marker === 0xff) { i++; continue; }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return bytes[i + 9];
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return 3;
}

function dropAlpha<T extends Uint8Array | Uint16Array>(
  rgba: T, n: number, channels: 1 | 3, make: (len: number) => T,
): T {
  const out = make(n * channels);
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < channels; k++) out[p * channels + k] = rgba[p * 4 + k];
  }
  return out;
}

/**
 * Decodes PNG or JPEG bytes (detected from the content, not the name). `name` is used in error
 * messages. Throws a clear error for unknown or corrupt data.
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): RawImage {
  if (isPng(bytes)) {
    let png: ReturnType<typeof PNG.sync.read>;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
    } catch (e) {
      throw new Error(`Cannot decode PNG ${name}: ${(e as Error).message}`);
    }
    const { width, height, depth, colorType } = png;
    // colorType bits: 1 palette, 2 colour, 4 alpha. Palette images are expanded to RGB (8-bit).
    const channels: 1 | 3 = (colorType & 2) !== 0 ? 3 : 1;
    const raw = png.data as unknown as Uint8Array | Uint16Array;
    const maxValue = (colorType as number) === 3 ? 255 : 2 ** depth - 1;
    const data = raw instanceof Uint16Array
      ? dropAlpha(raw, width * height, channels, (n) => new Uint16Array(n))
      : dropAlpha(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), width * height, channels, (n) => new Uint8Array(n));
    return { data, width, height, channels, maxValue };
  }
  if (isJpeg(bytes)) {
    let decoded: { width: number; height: number; data: Uint8Array };
    try {
      decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    } catch (e) {
      throw new Error(`Cannot decode JPEG ${name}: ${(e as Error).message}`);
    }
    const channels: 1 | 3 = jpegComponents(bytes) === 1 ? 1 : 3;
    const { width, height } = decoded;
    return {
      data: dropAlpha(decoded.data, width * height, channels, (n) => new Uint8Array(n)),
      width, height, channels, maxValue: 255,
    };
  }
  throw new Error(`Cannot decode ${name}: not a PNG or JPEG file (unrecognised header bytes).`);
}

function checkRaw(img: RawImage, what: string): void {
  const { width, height, channels, data } = img;
  if (channels !== 1 && channels !== 3) throw new Error(`${what}: channels must be 1 or 3, got ${String(channels)}.`);
  if (data.length !== width * height * channels) {
    throw new Error(`${what}: data has ${data.length} values, expected width*height*channels = ${width * height * channels}.`);
  }
}

/** Encodes a PNG: 16-bit when `data` is a Uint16Array, else 8-bit; gray or RGB. */
export function encodePng(img: RawImage): Uint8Array {
  checkRaw(img, 'encodePng');
  const bitDepth = img.data instanceof Uint16Array ? 16 : 8;
  const colorType = img.channels === 3 ? 2 : 0;
  // pngjs reads 16-bit input through a Uint16Array view of the whole buffer: pass a fresh copy.
  const copy = bitDepth === 16 ? new Uint16Array(img.data) : new Uint8Array(img.data);
  const buffer = Buffer.from(copy.buffer);
  const out = PNG.sync.write(
    { width: img.width, height: img.height, data: buffer } as unknown as PNG,
    { bitDepth, colorType, inputColorType: colorType, inputHasAlpha: false },
  );
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Encodes an 8-bit gray or RGB image as JPEG (quality 1-100, default 90). */
export function encodeJpeg(img: RawImage, quality = 90): Uint8Array {
  checkRaw(img, 'encodeJpeg');
  if (!(img.data instanceof Uint8Array)) throw new Error('encodeJpeg: JPEG supports 8-bit data only (Uint8Array).');
  const n = img.width * img.height;
  const rgba = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = img.data[p * img.channels + (img.channels === 3 ? k : 0)];
    rgba[p * 4 + 3] = 255;
  }
  const out = jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality);
  return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
}

/** Reads and decodes an image file; errors name the file. */
export async function readImage(path: string): Promise<RawImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`Cannot read image file ${path}: ${(e as Error).message}`);
  }
  return decodeImage(bytes, path);
}

/** Writes an image as PNG or JPEG, chosen by the file extension (.png, .jpg, .jpeg). */
export async function writeImage(path: string, img: RawImage, jpegQuality = 90): Promise<void> {
  const ext = extname(path).toLowerCase();
  if (ext === '.png') await writeFile(path, encodePng(img));
  else if (ext === '.jpg' || ext === '.jpeg') await writeFile(path, encodeJpeg(img, jpegQuality));
  else throw new Error(`writeImage: unsupported extension "${ext}" for ${path}; use .png, .jpg or .jpeg.`);
}

/**
 * Converts float pixels (e.g. a normalised image in [0, 1]) to a RawImage, scaling by
 * `maxValue` (255 for 8-bit, 65535 for 16-bit) with rounding and clamping.
 */
export function floatToRaw(
  data: ArrayLike<number>, height: number, width: number, channels: 1 | 3, bitDepth: 8 | 16 = 8, scale = 1,
): RawImage {
  const maxValue = bitDepth === 16 ? 65535 : 255;
  const out = bitDepth === 16 ? new Uint16Array(data.length) : new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    out[i] = Math.min(maxValue, Math.max(0, Math.round((data[i] / scale) * maxValue)));
  }
  return { data: out, height, width, channels, maxValue };
}
