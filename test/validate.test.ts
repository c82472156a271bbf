import { describe, expect, it } from 'vitest';
import {
  checkFiniteNumber, checkHeightWidth, checkInteger, checkOneOf, checkOptionalBoolean, checkSize, formatValue,
  isHeightWidth, isInteger, isPositiveInt,
} from '../src/util/validate.js';

describe('validation helpers', () => {
  it('formats rejected values readably', () => {
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(-Infinity)).toBe('-Infinity');
    expect(formatValue('yes')).toBe("'yes'");
    expect(formatValue([4, NaN])).toBe('[4,NaN]');
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    expect(formatValue(undefined)).toBe('undefined');
    expect(formatValue(null)).toBe('null');
  });

  it('checks integers against a minimum', () => {
    expect(isInteger(0, 0)).toBe(true);
    expect(isInteger(0)).toBe(false);
    expect(isPositiveInt(3)).toBe(true);
    expect(isPositiveInt(2.5)).toBe(false);
    expect(isPositiveInt('3')).toBe(false);
    expect(checkInteger('f', 'n', 2, 2)).toBe(2);
    expect(() => checkInteger('f', 'n', 0)).toThrow(/^f: n must be an integer >= 1, got 0\.$/);
    expect(() => checkInteger('f', 'n', 1.5, 0)).toThrow(/^f: n must be an integer >= 0, got 1\.5\.$/);
    expect(() => checkInteger('f', 'n', '4')).toThrow(/^f: n must be an integer >= 1, got '4'\.$/);
  });

  it('checks finite numbers with the range in the message', () => {
    expect(checkFiniteNumber('f', 'x', -3)).toBe(-3);
    expect(() => checkFiniteNumber('f', 'x', NaN)).toThrow(/^f: x must be a finite number, got NaN\.$/);
    expect(() => checkFiniteNumber('f', 'x', -1, { min: 0 })).toThrow(/^f: x must be a finite number >= 0, got -1\.$/);
    expect(() => checkFiniteNumber('f', 'x', 2, { max: 1 })).toThrow(/^f: x must be a finite number <= 1, got 2\.$/);
    expect(() => checkFiniteNumber('f', 'x', Infinity, { min: 0, max: 1 })).toThrow(
      /^f: x must be a finite number in \[0, 1\], got Infinity\.$/,
    );
  });

  it('parses sizes given as one side or [height, width]', () => {
    expect(checkSize('f', 'size', 5)).toEqual([5, 5]);
    expect(checkSize('f', 'size', [3, 4])).toEqual([3, 4]);
    expect(() => checkSize('f', 'size', [3, 4, 5])).toThrow(
      /^f: size must be an integer >= 1 or \[height, width\] of integers >= 1, got \[3,4,5\]\.$/,
    );
    expect(() => checkSize('f', 'size', 7, 8)).toThrow(/size must be an integer >= 8 or \[height, width\] of integers >= 8, got 7/);
    expect(() => checkSize('f', 'size', undefined)).toThrow(/got undefined/);
    expect(isHeightWidth([2, 0])).toBe(false);
    expect(checkHeightWidth('f', 'outputSize', [2, 3])).toEqual([2, 3]);
    expect(() => checkHeightWidth('f', 'outputSize', 4)).toThrow(
      /^f: outputSize must be \[height, width\] of integers >= 1, got 4\.$/,
    );
  });

  it('checks booleans and choices', () => {
    expect(checkOptionalBoolean('f', 'flag', undefined)).toBeUndefined();
    expect(checkOptionalBoolean('f', 'flag', false)).toBe(false);
    expect(() => checkOptionalBoolean('f', 'flag', 'yes')).toThrow(/^f: flag must be true or false, got 'yes'\.$/);
    expect(checkOneOf('f', 'fit', 'crop', ['resize', 'crop'])).toBe('crop');
    expect(() => checkOneOf('f', 'fit', 'pad', ['resize', 'crop'])).toThrow(/^f: fit must be 'resize' or 'crop', got 'pad'\.$/);
    expect(() => checkOneOf('f', 'mode', 'x', ['a', 'b', 'c'])).toThrow(/^f: mode must be 'a', 'b' or 'c', got 'x'\.$/);
    expect(() => checkOneOf('f', 'channels', 2, [1, 3])).toThrow(/^f: channels must be 1 or 3, got 2\.$/);
  });
});
