import { describe, expect, it } from 'vitest';
import { decodeImage, encodeJpeg, encodePng, floatToRaw, type RawImage } from '../src/node.js';

function pattern(h: number, w: number, c: 1 | 3, bits: 8 | 16): RawImage {
  const max = bits === 16 ? 65535 : 255;
  const data = bits === 16 ? new Uint16Array(h * w * c) : new Uint8Array(h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) % (max + 1);
  return { data, height: h, width: w, channels: c, maxValue: max };
}

describe('PNG encode/decode', () => {
  it.each([[1, 8], [3, 8], [1, 16], [3, 16]] as const)('%i-channel %i-bit round trip is exact', (c, bits) => {
    const img = pattern(5, 7, c, bits);
    const bytes = encodePng(img);
    expect(Array.from(bytes.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]);
    // IHDR: bit depth at byte 24, colour type at byte 25.
    expect(bytes[24]).toBe(bits);
    expect(bytes[25]).toBe(c === 3 ? 2 : 0);
    const back = decodeImage(bytes, 'x.png');
    expect(back.channels).toBe(c);
    expect(back.maxValue).toBe(bits === 16 ? 65535 : 255);
    expect([back.height, back.width]).toEqual([5, 7]);
    expect(back.data).toBeInstanceOf(bits === 16 ? Uint16Array : Uint8Array);
    expect(Array.from(back.data)).toEqual(Array.from(img.data));
  });

  it('rejects data of the wrong length', () => {
    expect(() => encodePng({ data: new Uint8Array(5), height: 2, width: 2, channels: 1, maxValue: 255 })).toThrow(
      /data has 5 values, expected width\*height\*channels = 4/,
    );
  });
});

describe('JPEG encode/decode', () => {
  it('decodes RGB close to the original and reports 3 channels', () => {
    const h = 16, w = 16;
    const data = new Uint8Array(h * w * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      data[(y * w + x) * 3] = 40 + 8 * x;
      data[(y * w + x) * 3 + 1] = 60 + 6 * y;
      data[(y * w + x) * 3 + 2] = 128;
    }
    const back = decodeImage(encodeJpeg({ data, height: h, width: w, channels: 3, maxValue: 255 }, 95), 'a.jpg');
    expect(back.channels).toBe(3);
    expect([back.height, back.width]).toEqual([h, w]);
    let err = 0;
    for (let i = 0; i < data.length; i++) err = Math.max(err, Math.abs(back.data[i] - data[i]));
    expect(err).toBeLessThan(12);
  });

  it('a gray JPEG (one component, made with libjpeg cjpeg -grayscale) decodes to 1 channel', () => {
    // 8x8 gray ramp: pixel (y, x) = (y * 8 + x) * 4, quality 100.
    const GRAY_JPEG = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQH/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AM/4bf8ABtx/x7/8UF/d/wCYb9P+mVf/2Q==';
    const back = decodeImage(Buffer.from(GRAY_JPEG, 'base64'), 'g.jpg');
    expect([back.height, back.width, back.channels]).toEqual([8, 8, 1]);
    for (let p = 0; p < 64; p++) expect(Math.abs(back.data[p] - p * 4)).toBeLessThanOrEqual(3);
  });
});

describe('decode errors and float conversion', () => {
  it('unknown and corrupt data name the file', () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4, 5]), 'notes.png')).toThrow(
      'Cannot decode notes.png: not a PNG or JPEG file',
    );
    const png = encodePng(pattern(4, 4, 1, 8));
    expect(() => decodeImage(png.subarray(0, 30), 'cut.png')).toThrow(/Cannot decode PNG cut.png/);
    const jpg = encodeJpeg(pattern(8, 8, 3, 8));
    expect(() => decodeImage(jpg.subarray(0, 40), 'cut.jpg')).toThrow(/Cannot decode JPEG cut.jpg/);
  });

  it('floatToRaw scales, rounds and clamps', () => {
    const r = floatToRaw([0, 0.5, 1, 2, -1], 1, 5, 1);
    expect(Array.from(r.data)).toEqual([0, 128, 255, 255, 0]);
    const r16 = floatToRaw([0.5], 1, 1, 1, 16);
    expect(Array.from(r16.data)).toEqual([32768]);
  });
});
