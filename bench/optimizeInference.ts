/**
 * Forward time of each model before and after `optimizeForInference`, in one process.
 *
 *   npx tsx bench/optimizeInference.ts [--backend wasm] [--size 128] [--batch 4] [--reps 7]
 *                                      [--models unet-padded,unet++,unet3+] [--filters 16,32,64,128,256]
 *
 * BatchNormalization statistics are randomised first (a fresh model's would hide a wrong fold).
 * Per model: the time to optimise, then original and optimised `predict` alternately (one warm-up
 * each, then `reps` pairs, so load from other processes hits both alike), median wall-clock ms and
 * median CPU ms of this process (steadier than wall-clock on a shared machine, and equal to it for
 * single-threaded wasm on an idle one), the speed-ups, and the largest output difference, absolute
 * and relative to max|y|. Prints a Markdown table.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, optimizeForInference, unetValidInputSize, type BackendChoice } from '../src/index.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    size: { type: 'string', default: '128' },
    batch: { type: 'string', default: '4' },
    reps: { type: 'string', default: '7' },
    models: { type: 'string', default: 'unet-padded,unet++,unet3+' },
    filters: { type: 'string', default: '16,32,64,128,256' },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall-clock and CPU ms (this process, user + system) of one `predict` until its values exist. */
async function forward(model: tf.LayersModel, x: tf.Tensor): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const y = model.predict(x);
  const ys = Array.isArray(y) ? y : [y];
  await Promise.all(ys.map((t) => t.data()));
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  tf.dispose(ys);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

async function main(): Promise<void> {
  const backend = await initBackend(values.backend as BackendChoice);
  const size = Number(values.size);
  const batch = Number(values.batch);
  const reps = Number(values.reps);
  const filters = values.filters.split(',').map(Number);
  console.log(`backend ${backend}, ${batch}×${size}², filters ${filters.join('/')}, median of ${reps} alternating pairs`);
  console.log(
    '| model | optimise ms | layers before → after | wall ms before → after | speed-up | CPU ms before → after | speed-up | max abs err | rel. err |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const name of values.models.split(',')) {
    const side = name === 'unet' ? unetValidInputSize(size, filters.length - 1) : size;
    const model = createModel(name, { filters, inputShape: [side, side, 3], ...(name === 'unet3+' ? { cgm: true } : {}) });
    let seed = 1;
    for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      const ws = layer.getWeights();
      const fresh = ws.map((w, i) =>
        i === ws.length - 1 ? tf.randomUniform(w.shape, 0.3, 2.5, 'float32', seed++) : tf.randomNormal(w.shape, 0, 0.5, 'float32', seed++),
      );
      layer.setWeights(fresh);
      tf.dispose(fresh);
    }
    const t0 = performance.now();
    const optimized = optimizeForInference(model);
    const optimiseMs = performance.now() - t0;
    const x = tf.randomUniform([batch, side, side, 3], 0, 1, 'float32', 2);
    const [a, b] = [model.predict(x), optimized.predict(x)].map((y) => (Array.isArray(y) ? y : [y]));
    let abs = 0;
    let rel = 0;
    a!.forEach((t, i) => {
      const [d, m] = tf.tidy(() => [tf.max(tf.abs(tf.sub(t, b![i]!))).dataSync()[0]!, tf.max(tf.abs(t)).dataSync()[0]!]);
      abs = Math.max(abs, d!);
      rel = Math.max(rel, d! / Math.max(m!, 1e-12));
    });
    tf.dispose([a!, b!]);
    const before: { wall: number; cpu: number }[] = [];
    const after: { wall: number; cpu: number }[] = [];
    for (let r = 0; r <= reps; r++) {
      const tb = await forward(model, x);
      const ta = await forward(optimized, x);
      if (r > 0) {
        before.push(tb);
        after.push(ta);
      }
    }
    const cell = (key: 'wall' | 'cpu') => {
      const mb = median(before.map((t) => t[key]));
      const ma = median(after.map((t) => t[key]));
      return `${mb.toFixed(0)} → ${ma.toFixed(0)} | ${(mb / ma).toFixed(2)}×`;
    };
    console.log(
      `| ${name} | ${optimiseMs.toFixed(0)} | ${model.layers.length} → ${optimized.layers.length} | ${cell('wall')} | ` +
        `${cell('cpu')} | ${abs.toExponential(1)} | ${rel.toExponential(1)} |`,
    );
    tf.dispose(x);
    optimized.dispose();
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
