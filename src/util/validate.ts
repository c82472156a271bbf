/**
 * Checks of user-supplied options and arguments, shared by every part of the library so that a
 * bad value always gets the same kind of message: `<context>: <what> must be <rule>, got <value>.`
 * Browser-safe.
 */

/**
 * How a rejected value is shown in an error message: numbers as written (`NaN`, `Infinity`),
 * strings in single quotes, arrays element by element (`[4,NaN]`), other objects as JSON,
 * everything else through `String`.
 */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/** The error `<context>: <what> must be <rule>, got <value>.` (returned, for the caller to throw). */
export function invalid(context: string, what: string, rule: string, value: unknown): Error {
  return new Error(`${context}: ${what} must be ${rule}, got ${formatValue(value)}.`);
}

/** True for a number that is an integer >= `min` (default 1). */
export function isInteger(value: unknown, min = 1): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min;
}

/** True for an integer > 0. */
export function isPositiveInt(value: unknown): value is number {
  return isInteger(value, 1);
}

/** Returns `value` if it is an integer >= `min` (default 1); throws `... must be an integer >= min` otherwise. */
export function checkInteger(context: string, what: string, value: unknown, min = 1): number {
  if (!isInteger(value, min)) throw invalid(context, what, `an integer >= ${min}`, value);
  return value;
}

/**
 * Returns `value` if it is a finite number within [min, max] (defaults: unbounded); throws
 * `... must be a finite number` (`>= min`, `<= max` or `in [min, max]`) otherwise.
 */
export function checkFiniteNumber(
  context: string,
  what: string,
  value: unknown,
  { min = -Infinity, max = Infinity }: { min?: number; max?: number } = {},
): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    let range = '';
    if (min !== -Infinity && max !== Infinity) range = ` in [${min}, ${max}]`;
    else if (min !== -Infinity) range = ` >= ${min}`;
    else if (max !== Infinity) range = ` <= ${max}`;
    throw invalid(context, what, `a finite number${range}`, value);
  }
  return value;
}

/** True for a `[height, width]` array of integers >= `min` (default 1). */
export function isHeightWidth(value: unknown, min = 1): value is [number, number] {
  return Array.isArray(value) && value.length === 2 && value.every((d) => isInteger(d, min));
}

/** Returns `value` if it is `[height, width]` with integers >= `min` (default 1); throws otherwise. */
export function checkHeightWidth(context: string, what: string, value: unknown, min = 1): [number, number] {
  if (!isHeightWidth(value, min)) throw invalid(context, what, `[height, width] of integers >= ${min}`, value);
  return [value[0], value[1]];
}

/**
 * Parses a size given as one side (a square) or as `[height, width]`, each an integer >= `min`
 * (default 1); throws `... must be an integer >= min or [height, width] of integers >= min` otherwise.
 */
export function checkSize(context: string, what: string, value: unknown, min = 1): [number, number] {
  const hw = typeof value === 'number' ? [value, value] : value;
  if (!isHeightWidth(hw, min)) {
    throw invalid(context, what, `an integer >= ${min} or [height, width] of integers >= ${min}`, value);
  }
  return [hw[0], hw[1]];
}

/** Accepts `undefined` or a boolean; throws `... must be true or false` otherwise. */
export function checkOptionalBoolean(context: string, what: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(context, what, 'true or false', value);
  return value;
}

/** Returns `value` if it is one of `choices`; throws `... must be 'a', 'b' or 'c'` otherwise. */
export function checkOneOf<T extends string | number>(
  context: string,
  what: string,
  value: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(value as T)) {
    const shown = choices.map(formatValue);
    const rule = shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}`;
    throw invalid(context, what, rule, value);
  }
  return value as T;
}
