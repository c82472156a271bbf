/**
 * `npm run bench:memory [-- options]`: trains the two largest configurations of the docs on the
 * wasm backend and reports whether they fit its 4 GiB memory, and how much they use:
 *
 * - `unet++`: UNet++ 256×256×1, filters 16..256, deep supervision (4 heads), batch 8;
 * - `unet3+`: UNet 3+ 256×256×1, filters 32..512, deep supervision and CGM (6 outputs), batch 4.
 *
 * Adam 1e-3, binary cross-entropy on every output. Each configuration runs in its own process
 * (wasm memory never shrinks). Reports the wasm memory after building the model, after each
 * train step, the step times, and the estimate `train()` checks against the 4 GiB before a step
 * (`estimateTrainingMemory` on the wasm backend, with its default loss).
 *
 * With `--train` each configuration trains through the library's `train()` instead (synthetic
 * cells, the default BCE + Dice loss, `microBatch: 'auto'`: the batch split into the largest
 * micro-batches the estimate lets fit), one epoch of `--steps` batches; the result names the
 * micro-batch `train()` chose, and the wasm memory after the epoch.
 *
 * Options: --configs unet++,unet3+  --steps 2  --threads N (wasm threads; default: all cores)  --train  --json
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createModel, createSegmentationDataset, estimateTrainingMemory, initBackend, syntheticCells, train, wasmBackendInfo } from '../src/index.js';
import type { MemoryReport, MemoryResult as Result } from './report.js';

export const CONFIGS: Record<string, { model: string; batch: number; options: Record<string, unknown> }> = {
  'unet++': { model: 'unet++', batch: 8, options: { inputShape: [256, 256, 1], filters: [16, 32, 64, 128, 256], deepSupervision: true } },
  'unet3+': { model: 'unet3+', batch: 4, options: { inputShape: [256, 256, 1], filters: [32, 64, 128, 256, 512], deepSupervision: true, cgm: true } },
};
const TAG = 'MEMORY_RESULT ';
const MiB = 2 ** 20;


/** `unet++ 256×256×1, filters 16..256, deep supervision, batch 8`. */
function describe(name: string): string {
  const c = CONFIGS[name]!;
  const o = c.options as { inputShape: number[]; filters: number[]; deepSupervision?: boolean; cgm?: boolean };
  const extras = [o.deepSupervision ? 'deep supervision' : '', o.cgm ? 'CGM' : ''].filter(Boolean);
  return `${c.model} ${o.inputShape.join('×')}, filters ${o.filters[0]}..${o.filters[o.filters.length - 1]}` +
    `${extras.length ? `, ${extras.join(', ')}` : ''}, batch ${c.batch}`;
}

async function run(name: string, steps: number, threads: number | undefined, viaTrain: boolean): Promise<Result> {
  const c = CONFIGS[name];
  if (c === undefined) throw new Error(`bench:memory: unknown config '${name}' (known: ${Object.keys(CONFIGS).join(', ')})`);
  await initBackend('wasm', threads === undefined ? {} : { threads });
  const mem = () => wasmBackendInfo()!.memoryBytes / MiB;
  const result: Result = {
    config: name, description: describe(name), threads: wasmBackendInfo()!.threads, ok: false, stepMs: [], wasmMiB: { afterBuild: 0, afterSteps: [] },
  };
  try {
    const net = createModel(c.model, c.options);
    result.estimateMiB = estimateTrainingMemory(net, { batchSize: c.batch }).bytes / MiB;
    if (viaTrain) {
      const [size, , ch] = c.options.inputShape as number[];
      const data = createSegmentationDataset(syntheticCells({ count: c.batch * steps, size: size!, channels: ch as 1 | 3, seed: 1 }), { validationSplit: 0 });
      result.wasmMiB.afterBuild = mem();
      const t0 = performance.now();
      const r = await train(net, data, {
        epochs: 1, batchSize: c.batch, microBatch: 'auto', verbose: 0,
        onEpochEnd: () => void result.wasmMiB.afterSteps.push(mem()),
      });
      result.stepMs.push((performance.now() - t0) / steps);
      result.microBatch = r.microBatch;
      result.ok = true;
      return result;
    }
    // Per-output losses must return scalars (outputs of different ranks: the CGM's [B, 2]).
    const bce = (t: tf.Tensor, p: tf.Tensor) => tf.metrics.binaryCrossentropy(t, p).mean();
    net.compile({ optimizer: tf.train.adam(1e-3), loss: net.outputs.map(() => bce) });
    const [h, w, ch] = c.options.inputShape as number[];
    const x = tf.randomUniform([c.batch, h!, w!, ch!]);
    const ys = net.outputs.map((t) =>
      tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([c.batch, ...(t.shape.slice(1) as number[])]), 0.5), 'float32')),
    );
    result.wasmMiB.afterBuild = mem();
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await net.trainOnBatch(x, ys);
      result.stepMs.push(performance.now() - t0);
      result.wasmMiB.afterSteps.push(mem());
    }
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).message.split('\n')[0];
  }
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      configs: { type: 'string', default: 'unet++,unet3+' },
      steps: { type: 'string', default: '2' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: false },
      train: { type: 'boolean', default: false },
    },
  });
  const steps = Number(values.steps);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (values.worker) {
    console.log(TAG + JSON.stringify(await run(values.configs!, steps, threads, values.train!)));
    return;
  }
  const results: Result[] = [];
  for (const name of values.configs!.split(',')) {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--worker', '--configs', name, '--steps', String(steps)];
    if (threads !== undefined) args.push('--threads', String(threads));
    if (values.train) args.push('--train');
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(TAG));
    const result: Result = line !== undefined
      ? (JSON.parse(line.slice(TAG.length)) as Result)
      : { config: name, description: describe(name), ok: false, error: (r.stderr || `exit ${r.status}`).trim().split('\n').slice(-1)[0], stepMs: [], wasmMiB: { afterBuild: 0, afterSteps: [] } };
    results.push(result);
    if (!values.json) {
      const c = CONFIGS[name]!;
      console.log(
        `${name} (${JSON.stringify(c.options)}, batch ${c.batch}, ${result.threads ?? '?'} thread(s)): ` +
          (result.ok ? `trained${result.microBatch === undefined ? '' : ` with train(), micro-batches of ${result.microBatch}`}` : `FAILED: ${result.error}`) +
          `; wasm memory after build ${result.wasmMiB.afterBuild.toFixed(0)} MiB, after each step ` +
          `[${result.wasmMiB.afterSteps.map((m) => m.toFixed(0)).join(', ')}] MiB (limit 4096); ` +
          `step ms [${result.stepMs.map((m) => m.toFixed(0)).join(', ')}]; train()'s estimate ${result.estimateMiB?.toFixed(0) ?? '?'} MiB`,
      );
    }
  }
  if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), results } satisfies MemoryReport, null, 2));
}

await main();
