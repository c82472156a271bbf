/**
 * `json.dumps(value, sort_keys=True, indent=N)` exactly as CPython writes it, for files that
 * Python tools compare or hash (segmentation_models.pytorch's `config.json`). Browser-safe.
 *
 * Python's defaults: `ensure_ascii=True` (every character outside space … `~` is a `\uXXXX`
 * escape, astral characters as surrogate pairs), separators `','` and `': '` with an indent, keys
 * sorted by code point, floats as `repr(float)` (shortest round trip; exponent form below 1e-4 and
 * from 1e16: `1e-05`, `1.5e+16`), `NaN` / `Infinity` as bare words, no trailing newline.
 *
 * JavaScript has one number type: integers (up to any size) are written as Python ints, every
 * other number as a Python float.
 */

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** `repr(float(x))` for a finite non-integer or any float value. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without digits gives the shortest digits that round-trip, as repr does.
  const [mantissa, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  const sign = x < 0 ? '-' : '';
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const frac = digits.slice(e + 1);
  return `${sign}${whole}.${frac === '' ? '0' : frac}`;
}

function pythonNumber(x: number): string {
  if (Number.isInteger(x)) return BigInt(x).toString();
  return pythonFloatRepr(x);
}

/** Python's `str` ordering: by code point (JavaScript's default sort compares UTF-16 units). */
function byCodePoint(a: string, b: string): number {
  const ca = Array.from(a, (c) => c.codePointAt(0)!);
  const cb = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  }
  return ca.length - cb.length;
}

function dump(value: unknown, indent: number, level: number, path: string): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'string') return pythonString(value);
  const inner = ' '.repeat(indent * (level + 1));
  const outer = ' '.repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v, i) => `${inner}${dump(v, indent, level + 1, `${path}[${i}]`)}`);
    return `[\n${items.join(',\n')}\n${outer}]`;
  }
  const proto: unknown = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(value as object).sort(byCodePoint);
    if (keys.length === 0) return '{}';
    const items = keys.map((k) => `${inner}${pythonString(k)}: ${dump((value as Record<string, unknown>)[k], indent, level + 1, `${path}.${k}`)}`);
    return `{\n${items.join(',\n')}\n${outer}}`;
  }
  throw new Error(`pythonJsonDumps: ${path} is ${typeof value === 'object' ? 'an object that is not plain JSON' : `a ${typeof value}`}; only null, booleans, numbers, strings, arrays and plain objects can be written`);
}

/**
 * `json.dumps(value, sort_keys=True, indent=indent)` as CPython writes it (see the module comment).
 * Throws for values JSON cannot hold (undefined, functions, bigints, class instances), naming where.
 */
export function pythonJsonDumps(value: unknown, indent = 2): string {
  return dump(value, indent, 0, '$');
}
