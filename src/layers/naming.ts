const counters = new Map<string, number>();

/**
 * A unique default layer name. tfjs derives default names from `className`, and our prefixed
 * class names (`SMTF>...`) are not valid tensor names, so custom layers name themselves.
 */
export function uniqueLayerName(base: string): string {
  const n = (counters.get(base) ?? 0) + 1;
  counters.set(base, n);
  return `${base}_${n}`;
}
