/** Minimal, dependency-free argument parsing for the CLI. */

export type ArgValue = string | number | boolean | (number | null)[];

export interface ParsedArgs {
  positional: string[];
  options: Record<string, ArgValue>;
}

/** `--batch-norm` → `batchNorm`. */
export function camelCase(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Parses a value: booleans, numbers, comma lists of numbers (`null` allowed), else the string. */
export function parseValue(raw: string): ArgValue {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(raw)) return Number(raw);
  if (raw.includes(',')) {
    const parts = raw.split(',').map((p) => p.trim());
    if (parts.every((p) => p === 'null' || /^-?\d+(\.\d+)?$/.test(p))) {
      return parts.map((p) => (p === 'null' ? null : Number(p)));
    }
  }
  return raw;
}

/**
 * Splits argv into positionals and `--key value` options. `--flag` with no value is `true`,
 * `--no-flag` is `false`, `--key=value` works too.
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const options: Record<string, ArgValue> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let flag = arg.slice(2);
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (eq >= 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    } else if (flag.startsWith('no-')) {
      options[camelCase(flag.slice(3))] = false;
      continue;
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      value = argv[++i];
    }
    options[camelCase(flag)] = value === undefined ? true : parseValue(value);
  }
  return { positional, options };
}

/** CLI spellings of model options: `--input 572,572,1` → inputShape, `--classes 2` → numClasses. */
export function modelOptionsFromArgs(options: Record<string, ArgValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (k === 'input') {
      if (!Array.isArray(v)) throw new Error(`--input expects H,W,C (e.g. 572,572,1), got ${String(v)}`);
      out['inputShape'] = v;
    } else if (k === 'classes') out['numClasses'] = v;
    else if (k === 'filters' && typeof v === 'number') out['filters'] = [v];
    else out[k] = v;
  }
  return out;
}
