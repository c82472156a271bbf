/**
 * `npm run bench:profile [-- options]`: where a wasm training step spends its time, kernel by
 * kernel.
 *
 * Every kernel registered for 'wasm' is wrapped with a timer (the wasm backend is synchronous, so
 * wall time per call is exact), and so are the stock kernels that this library's kernels call
 * into (BatchMatMul, Conv2D, AvgPool, ...: XNNPACK). Per kernel it reports calls, total and "own"
 * time (total less the stock kernels it called) per step; time outside every kernel is tfjs's own
 * JavaScript (engine, tape, layers, optimizer bookkeeping).
 *
 * "Parallel" time is time inside XNNPACK operators, which run on the thread pool; everything else
 * (our kernels' JavaScript, serial C++ kernels, tfjs's JavaScript) runs on one thread. Which stock
 * kernels are XNNPACK is listed in XNNPACK_KERNELS (from tfjs-backend-wasm 4.22's C++ sources) and
 * can be checked with `--threads 1` vs `--threads 2`: only those get faster.
 *
 * Options: --model unet-padded (or decoder/encoder[@size], as in `npm run bench`)  --size 128  --batch 4
 *          --filters 16,32,64,128,256 (plain models)  --steps 3
 *          --threads N (wasm threads; default 1)  --top 25 (rows)  --json
 *          --clock cpu (time kernels by the process's CPU time instead of wall time: steady on a busy
 *          machine, but only meaningful with --threads 1, where one thread does all the work)
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, wasmBackendInfo } from '../src/index.js';
import { wrapOriginals } from '../src/backend/kernels/wasmUtil.js';
import { buildBenchModel, parseBenchModel } from './models.js';
import type { ProfileReport } from './report.js';

/** Stock wasm kernels that run an XNNPACK operator on the thread pool (tfjs-backend-wasm 4.22). */
export const XNNPACK_KERNELS = new Set([
  'Conv2D', 'FusedConv2D', 'DepthwiseConv2dNative', 'FusedDepthwiseConv2D', 'BatchMatMul', '_FusedMatMul',
  'AvgPool', 'MaxPool', 'Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference',
  'Relu', 'Relu6', 'Sigmoid', 'Abs', 'Neg', 'Sqrt', 'Square', 'Ceil', 'Floor', 'Round', 'ClipByValue',
  'Elu', 'LeakyRelu', 'Prelu', 'Transpose', 'ResizeBilinear',
]);

interface Stat {
  calls: number;
  total: number;
  own: number;
  /** Of `own`: time in XNNPACK operators (this kernel's own, for stock XNNPACK kernels). */
  parallel: number;
}

const stats = new Map<string, Stat>();
let now = (): number => performance.now();
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const stack: { nested: number; nestedParallel: number }[] = [];

function timed<F extends (...a: never[]) => unknown>(name: string, fn: F, parallel: boolean): F {
  return ((...args: never[]) => {
    const frame = { nested: 0, nestedParallel: 0 };
    stack.push(frame);
    const t0 = now();
    try {
      return fn(...args);
    } finally {
      const dt = now() - t0;
      stack.pop();
      const parent = stack[stack.length - 1];
      const own = dt - frame.nested;
      if (parent !== undefined) {
        parent.nested += dt;
        parent.nestedParallel += frame.nestedParallel + (parallel ? own : 0);
      }
      let s = stats.get(name);
      if (s === undefined) stats.set(name, (s = { calls: 0, total: 0, own: 0, parallel: 0 }));
      s.calls++;
      s.total += dt;
      s.own += own;
      s.parallel += parallel ? own : 0;
    }
  }) as F;
}

function instrument(): void {
  for (const config of tf.getKernelsForBackend('wasm')) {
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, kernelFunc: timed(config.kernelName, config.kernelFunc, XNNPACK_KERNELS.has(config.kernelName)) });
  }
  wrapOriginals((name, fn) => timed(`${name} (inside ours)`, fn, XNNPACK_KERNELS.has(name)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'unet-padded' },
      size: { type: 'string', default: '128' },
      batch: { type: 'string', default: '4' },
      filters: { type: 'string', default: '16,32,64,128,256' },
      steps: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1' },
      top: { type: 'string', default: '25' },
      json: { type: 'boolean', default: false },
      clock: { type: 'string', default: 'wall' },
    },
  });
  if (values.clock === 'cpu') now = cpuNow;
  const filters = values.filters!.split(',').map(Number);
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const spec = parseBenchModel(values.model!, Number(values.size), filters.length - 1);
  const model = spec.id;
  await initBackend('wasm', { threads: Number(values.threads) });
  instrument();
  const size = spec.inputSize;
  const net = buildBenchModel(spec, filters);
  const optimizer = tf.train.adam(1e-3);
  net.compile({ optimizer, loss: net.outputs.map(() => 'binaryCrossentropy') });
  const x = tf.randomUniform([batch, size, size, spec.channels]);
  const ys = net.outputs.map((t) =>
    tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([batch, ...(t.shape.slice(1) as number[])]), 0.5), 'float32')),
  );
  await net.trainOnBatch(x, ys);
  await net.trainOnBatch(x, ys);
  stats.clear();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = now();
    await net.trainOnBatch(x, ys);
    times.push(now() - t0);
  }
  const info = wasmBackendInfo()!;
  const step = times.reduce((a, b) => a + b, 0) / steps;
  const rows = [...stats.entries()]
    .map(([name, s]) => ({ name, calls: s.calls / steps, totalMs: s.total / steps, ownMs: s.own / steps, parallelMs: s.parallel / steps }))
    .sort((a, b) => b.ownMs - a.ownMs);
  const top = rows.filter((r) => !r.name.endsWith('(inside ours)'));
  const inKernels = top.reduce((a, r) => a + r.totalMs, 0);
  const parallel = rows.reduce((a, r) => a + r.parallelMs, 0);
  const summary: ProfileReport['summary'] = {
    model, size, batch, filters, threads: info.threads, steps, stepMs: step,
    kernelMs: inKernels, tfjsJsMs: step - inKernels, parallelMs: parallel, serialMs: step - parallel,
    serialShare: (step - parallel) / step, peakWasmMiB: info.memoryBytes / 2 ** 20,
  };
  if (values.json) {
    console.log(JSON.stringify({ summary, kernels: rows } satisfies ProfileReport, null, 2));
    return;
  }
  const f = (v: number) => v.toFixed(1);
  console.log(`# ${model} ${size}×${size} batch ${batch}, filters [${filters}], wasm ${info.threads} thread(s): ${f(step)} ms/step (${values.clock} time, mean of ${steps})`);
  console.log(`in kernels ${f(inKernels)} ms, tfjs JavaScript outside kernels ${f(step - inKernels)} ms; ` +
    `XNNPACK (parallel) ${f(parallel)} ms, serial ${f(step - parallel)} ms = ${(100 * summary.serialShare).toFixed(1)} % of the step; ` +
    `wasm memory ${summary.peakWasmMiB.toFixed(0)} MiB`);
  console.log('| kernel | calls/step | total ms | own ms | of which XNNPACK ms | own % of step |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(`| ${r.name} | ${r.calls.toFixed(0)} | ${f(r.totalMs)} | ${f(r.ownMs)} | ${f(r.parallelMs)} | ${((100 * r.ownMs) / step).toFixed(1)} |`);
  }
}

await main();
