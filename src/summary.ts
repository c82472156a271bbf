import type * as tf from '@tensorflow/tfjs';

/** Parameter counts in the Keras convention (BN moving mean/variance are non-trainable). */
export interface ParamCounts {
  total: number;
  trainable: number;
  nonTrainable: number;
}

function countWeights(weights: tf.LayerVariable[]): number {
  return weights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/** `{ total, trainable, nonTrainable }` parameter counts of a model. */
export function paramCounts(model: tf.LayersModel): ParamCounts {
  const trainable = countWeights(model.trainableWeights);
  const nonTrainable = countWeights(model.nonTrainableWeights);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** One layer of a {@link ModelSummary}: name, class, output shape and parameter count. */
export interface SummaryRow {
  name: string;
  type: string;
  outputShape: string;
  params: number;
}

export interface ModelSummary extends ParamCounts {
  name: string;
  rows: SummaryRow[];
  /** The printable table with the totals underneath. */
  text: string;
}

/** Formats an integer with thousands separators: 31030658 → "31,030,658". */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function shapeString(shape: unknown): string {
  const fmt = (s: unknown) => `[${(s as (number | null)[]).map((d) => (d === null ? 'null' : d)).join(',')}]`;
  if (Array.isArray(shape) && Array.isArray(shape[0])) return (shape as unknown[]).map(fmt).join(' ');
  return fmt(shape);
}

/** A printable table of layers (name, type, output shape, params) and the three totals. */
export function summarize(model: tf.LayersModel): ModelSummary {
  const rows: SummaryRow[] = model.layers.map((layer) => ({
    name: layer.name,
    type: layer.getClassName(),
    outputShape: shapeString(layer.outputShape),
    params: layer.countParams(),
  }));
  const counts = paramCounts(model);
  const header: [string, string, string, string] = ['Layer', 'Type', 'Output shape', 'Params'];
  const cells = rows.map((r) => [r.name, r.type, r.outputShape, formatCount(r.params)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  const text = [
    `Model: ${model.name}`,
    rule,
    line(header),
    rule,
    ...cells.map(line),
    rule,
    `Total params:         ${formatCount(counts.total)}`,
    `Trainable params:     ${formatCount(counts.trainable)}`,
    `Non-trainable params: ${formatCount(counts.nonTrainable)}`,
  ].join('\n');
  return { name: model.name, rows, ...counts, text };
}
