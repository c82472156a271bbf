/**
 * Parameters and forward time of UNet++ pruned to L1..L4 (the paper's "fast mode").
 *
 *   npx tsc -p tsconfig.json --noEmit false --outDir .bench && node .bench/bench/unetppPrune.js [size] [runs]
 *
 * Builds the paper's model (filters 32..512, 1 channel, 1 class, no BN, transpose up, deep
 * supervision), prunes it to each level and times `predict` on one size×size image: one warm-up,
 * then the median of `runs` calls. Prints a Markdown table.
 */
import * as tf from '@tensorflow/tfjs';
import { buildUNetPlusPlus, formatCount, pruneUNetPlusPlus } from '../src/index.js';

async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? 96);
  const runs = Number(process.argv[3] ?? 3);
  await tf.setBackend('cpu');
  const model = buildUNetPlusPlus({
    inputShape: [size, size, 1],
    batchNorm: false,
    upsampling: 'transpose',
    deepSupervision: true,
  });
  const x = tf.randomUniform([1, size, size, 1], 0, 1, 'float32', 1);
  const time = (m: tf.LayersModel): number => {
    const once = () => {
      const t0 = performance.now();
      const y = m.predict(x);
      tf.dispose(y); // predict on the cpu backend is synchronous: the values exist already
      return performance.now() - t0;
    };
    once();
    const ts = Array.from({ length: runs }, once).sort((a, b) => a - b);
    return ts[Math.floor(ts.length / 2)]!;
  };
  const full = time(model);
  console.log(`backend ${tf.getBackend()}, input 1×${size}×${size}×1, median of ${runs} after 1 warm-up`);
  const rows: [string, number, number][] = [];
  for (let level = 1; level <= 4; level++) {
    const pruned = pruneUNetPlusPlus(model, level);
    rows.push([`UNet++ L${level}`, pruned.countParams(), time(pruned)]);
    pruned.dispose();
  }
  // L4 computes the same nodes as the full model (less 3 1x1 heads): the reference of the ratios.
  const l4 = rows[3]![2];
  rows.push(['full model, 4 deep-supervision heads (timed first)', model.countParams(), full]);
  console.log('| model | params | forward (ms) | vs L4 |');
  console.log('|---|---:|---:|---:|');
  for (const [name, params, ms] of rows) {
    console.log(`| ${name} | ${formatCount(params)} | ${ms.toFixed(0)} | ${((100 * ms) / l4).toFixed(0)}% |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
