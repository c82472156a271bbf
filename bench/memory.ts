/**
 * `npm run bench:memory [-- options]`: trains the two largest configurations of the docs on the
 * wasm backend and reports whether they fit its 4 GiB memory, and how much they use:
 *
 * - `unet++`: UNet++ 256×256×1, filters 16..256, deep supervision (4 heads), batch 8;
 * - `unet3+`: UNet 3+ 256×256×1, filters 32..512, deep supervision and CGM (6 outputs), batch 4.
 *
 * Adam 1e-3, binary cross-entropy on every output. Each configuration runs in its own process
 * (wasm memory never shrinks). Reports the wasm memory after building the model, after each
 * train step, and the step times.
 *
 * Options: --configs unet++,unet3+  --steps 2  --threads N (wasm threads; default: all cores)  --json
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createModel, initBackend, wasmBackendInfo } from '../src/index.js';

export const CONFIGS: Record<string, { model: string; batch: number; options: Record<string, unknown> }> = {
  'unet++': { model: 'unet++', batch: 8, options: { inputShape: [256, 256, 1], filters: [16, 32, 64, 128, 256], deepSupervision: true } },
  'unet3+': { model: 'unet3+', batch: 4, options: { inputShape: [256, 256, 1], filters: [32, 64, 128, 256, 512], deepSupervision: true, cgm: true } },
};
const TAG = 'MEMORY_RESULT ';
const MiB = 2 ** 20;

interface Result {
  config: string;
  threads?: number;
  ok: boolean;
  error?: string;
  stepMs: number[];
  wasmMiB: { afterBuild: number; afterSteps: number[] };
}

async function run(name: string, steps: number, threads: number | undefined): Promise<Result> {
  const c = CONFIGS[name];
  if (c === undefined) throw new Error(`bench:memory: unknown config '${name}' (known: ${Object.keys(CONFIGS).join(', ')})`);
  await initBackend('wasm', threads === undefined ? {} : { threads });
  const mem = () => wasmBackendInfo()!.memoryBytes / MiB;
  const result: Result = { config: name, threads: wasmBackendInfo()!.threads, ok: false, stepMs: [], wasmMiB: { afterBuild: 0, afterSteps: [] } };
  try {
    const net = createModel(c.model, c.options);
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
    },
  });
  const steps = Number(values.steps);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (values.worker) {
    console.log(TAG + JSON.stringify(await run(values.configs!, steps, threads)));
    return;
  }
  const results: Result[] = [];
  for (const name of values.configs!.split(',')) {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--worker', '--configs', name, '--steps', String(steps)];
    if (threads !== undefined) args.push('--threads', String(threads));
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(TAG));
    const result: Result = line !== undefined
      ? (JSON.parse(line.slice(TAG.length)) as Result)
      : { config: name, ok: false, error: (r.stderr || `exit ${r.status}`).trim().split('\n').slice(-1)[0], stepMs: [], wasmMiB: { afterBuild: 0, afterSteps: [] } };
    results.push(result);
    if (!values.json) {
      const c = CONFIGS[name]!;
      console.log(
        `${name} (${JSON.stringify(c.options)}, batch ${c.batch}, ${result.threads ?? '?'} thread(s)): ` +
          (result.ok ? 'trained' : `FAILED: ${result.error}`) +
          `; wasm memory after build ${result.wasmMiB.afterBuild.toFixed(0)} MiB, after each step ` +
          `[${result.wasmMiB.afterSteps.map((m) => m.toFixed(0)).join(', ')}] MiB (limit 4096); ` +
          `step ms [${result.stepMs.map((m) => m.toFixed(0)).join(', ')}]`,
      );
    }
  }
  if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
}

await main();
