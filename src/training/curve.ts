import type { EpochLogs } from './train.js';

/**
 * An SVG line chart of training loss and validation Dice/IoU per epoch (self-contained, no
 * scripts), for a person to look at after training.
 */
export function trainingCurveSvg(history: readonly EpochLogs[], title = 'Training'): string {
  const W = 640;
  const H = 360;
  const m = { left: 56, right: 160, top: 40, bottom: 44 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const n = history.length;
  const xs = (i: number) => m.left + (n <= 1 ? pw / 2 : (pw * i) / (n - 1));
  const maxLoss = Math.max(1e-9, ...history.map((h) => h.loss).filter(Number.isFinite));
  const yLoss = (v: number) => m.top + ph * (1 - v / maxLoss);
  const yUnit = (v: number) => m.top + ph * (1 - v);
  const path = (vals: (number | undefined)[], y: (v: number) => number) =>
    vals
      .map((v, i) => (v === undefined || !Number.isFinite(v) ? null : `${xs(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter((p): p is string => p !== null)
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${p}`)
      .join(' ');
  const series = [
    { name: 'train loss', color: '#d62728', d: path(history.map((h) => h.loss), yLoss) },
    { name: 'val Dice', color: '#1f77b4', d: path(history.map((h) => h.validation?.dice), yUnit) },
    { name: 'val IoU', color: '#2ca02c', d: path(history.map((h) => h.validation?.iou), yUnit) },
  ].filter((s) => s.d.length > 0);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    ...ticks.map(
      (t) =>
        `<line x1="${m.left}" x2="${m.left + pw}" y1="${yUnit(t)}" y2="${yUnit(t)}" stroke="#eee"/>` +
        `<text x="${m.left - 6}" y="${yUnit(t) + 4}" text-anchor="end">${t.toFixed(2)}</text>` +
        `<text x="${m.left + pw + 6}" y="${yUnit(t) + 4}" fill="#d62728">${(t * maxLoss).toPrecision(3)}</text>`,
    ),
    `<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">epoch (1..${n})</text>`,
    `<text x="14" y="${m.top + ph / 2}" transform="rotate(-90 14 ${m.top + ph / 2})" text-anchor="middle">Dice / IoU</text>`,
    ...series.map((s) => `<path d="${s.d}" fill="none" stroke="${s.color}" stroke-width="2"/>`),
    ...series.map(
      (s, i) =>
        `<line x1="${m.left + pw + 50}" x2="${m.left + pw + 66}" y1="${m.top + 14 + 18 * i}" y2="${m.top + 14 + 18 * i}" stroke="${s.color}" stroke-width="2"/>` +
        `<text x="${m.left + pw + 70}" y="${m.top + 18 + 18 * i}">${s.name}</text>`,
    ),
    '</svg>',
  ];
  return parts.join('\n');
}
