/**
 * `npm run bench [-- options]`: builds each model at a standard configuration and reports, per
 * backend and thread count: parameters, GFLOP per image, forward ms (1 image), train-step ms (Adam,
 * BCE), images/s, achieved GFLOP/s, peak wasm memory, peak RSS, and tensors alive (before / after
 * step 2 / after the last step / after disposal: a leak check). Each (model, backend, threads) runs
 * in its own process, so memory peaks and engine state are per run. When PyTorch is installed
 * (Debian's python3-torch), bench/pytorch_reference.py runs the same networks with the same thread
 * counts right after each model (with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for it only), and
 * the ratios are printed. The header gives the date, CPU model, cores and load average.
 *
 * Models are named `decoder[/encoder][@size]` (bench/models.ts): `unet-padded` is the plain model
 * (1 channel, --filters, BatchNorm) at --size; `unet/resnet34@256` is the decoder on an ImageNet
 * encoder with segmentation_models.pytorch's defaults (3 channels) at 256×256; the PyTorch side
 * builds it with scripts/smpref (a module-for-module reproduction of SMP's Unet / UnetPlusPlus).
 *
 * Options: --models unet,unet-padded,unet++,unet3+,unet/resnet34@128,unet/resnet34@256 (the standard set)
 *          --backends wasm,cpu  --size 128 (models without @size)  --batch 4
 *          --filters 16,32,64,128,256 (plain models)  --steps 5 (timed train steps, after 2 warm-up steps)
 *          --forward-reps 5  --cpu-train (also time train steps on the slow cpu backend)
 *          --threads 1,N (thread counts for wasm and PyTorch; default 1 and all cores)
 *          --no-torch  --json (one JSON document on stdout instead of tables)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, optimizeForInference, wasmBackendInfo, type BackendChoice } from '../src/index.js';
import { defaultWasmThreads } from '../src/backend/wasmThreads.js';
import { convFlopsPerImage } from './flops.js';
import { buildBenchModel, parseBenchModel, type BenchModel } from './models.js';
import type { BenchReport, RunResult, TorchResult, TorchRun } from './report.js';

const STANDARD = {
  models: ['unet', 'unet-padded', 'unet++', 'unet3+', 'unet/resnet34@128', 'unet/resnet34@256'],
  backends: ['wasm', 'cpu'],
  size: 128,
  batch: 4,
  filters: [16, 32, 64, 128, 256],
};
// Debian's python3 (with python3-torch); BENCH_TORCH_PYTHON overrides it.
const TORCH_PYTHON = process.env.BENCH_TORCH_PYTHON ?? '/usr/bin/python3';
const RESULT_TAG = 'BENCH_RESULT ';

/** Set by some machines' environments; they slow OpenBLAS, so the PyTorch reference runs without them. */
const TORCH_ENV_UNSET = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One (model, backend) measurement, in this process. */
async function measure(
  spec: BenchModel,
  backend: string,
  o: { batch: number; filters: number[]; steps: number; forwardReps: number; train: boolean; threads: number },
): Promise<RunResult> {
  await initBackend(backend as BackendChoice, backend === 'wasm' ? { threads: o.threads } : {});
  const threads = backend === 'wasm' ? wasmBackendInfo()!.threads : null;
  const model = spec.id;
  const { inputSize: size, channels } = spec;
  const before = tf.memory().numTensors;
  const net = buildBenchModel(spec, o.filters);
  const params = net.countParams();
  const trainableParams = net.trainableWeights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  const gflop = convFlopsPerImage(net) / 1e9;

  const x1 = tf.randomUniform([1, size, size, channels]);
  /** Median ms of `forwardReps` predictions of one image, after one warm-up. */
  const timeForward = (m: tf.LayersModel): number => {
    const once = () => {
      const out = m.predict(x1);
      const outs = Array.isArray(out) ? out : [out];
      for (const t of outs) t.dataSync();
      tf.dispose(outs);
    };
    once();
    const times: number[] = [];
    for (let i = 0; i < o.forwardReps; i++) {
      const t0 = performance.now();
      once();
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  const forwardMs = timeForward(net);
  // What predictTiled and the CLI run: BatchNorm folded into the convolutions, activations fused.
  const optimized = optimizeForInference(net);
  const optimizedForwardMs = timeForward(optimized);
  optimized.dispose();

  let trainStepMs: number | null = null;
  let afterStep2: number | null = null;
  let afterLastStep: number | null = null;
  const optimizer = tf.train.adam(1e-3);
  const x = tf.randomUniform([o.batch, size, size, channels]);
  const ys = net.outputs.map((t) =>
    tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([o.batch, ...(t.shape.slice(1) as number[])]), 0.5), 'float32')),
  );
  if (o.train) {
    net.compile({ optimizer, loss: net.outputs.map(() => 'binaryCrossentropy') });
    await net.trainOnBatch(x, ys);
    await net.trainOnBatch(x, ys);
    afterStep2 = tf.memory().numTensors;
    const times: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = performance.now();
      await net.trainOnBatch(x, ys); // returns loss values: waits for the step to finish
      times.push(performance.now() - t0);
    }
    afterLastStep = tf.memory().numTensors;
    trainStepMs = median(times);
  }
  tf.dispose([x1, x, ...ys]);
  net.dispose();
  optimizer.dispose();
  const afterDispose = tf.memory().numTensors;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const wasm = backend === 'wasm' ? wasmBackendInfo() : null;
  return {
    model,
    backend,
    threads,
    inputSize: size,
    channels,
    params,
    trainableParams,
    gflopPerImage: gflop,
    forwardMs,
    optimizedForwardMs,
    trainStepMs,
    imagesPerSec: trainStepMs === null ? null : (o.batch * 1000) / trainStepMs,
    forwardGflops: gflop / (forwardMs / 1000),
    // A train step does the forward pass plus two backward convolutions per forward one: 3×.
    trainGflops: trainStepMs === null ? null : (3 * gflop * o.batch) / (trainStepMs / 1000),
    peakRssMiB,
    peakWasmMiB: wasm === null ? null : wasm.memoryBytes / 2 ** 20,
    tensors: { before, afterStep2, afterLastStep, afterDispose },
    leak: afterDispose !== before || (afterStep2 !== null && afterStep2 !== afterLastStep),
  };
}

function torchAvailable(): boolean {
  if (!existsSync(TORCH_PYTHON)) return false;
  return spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function runTorch(spec: BenchModel, o: { batch: number; filters: number[]; steps: number; forwardReps: number; threads: number }): TorchRun {
  const script = fileURLToPath(new URL('./pytorch_reference.py', import.meta.url));
  const model = spec.encoder === null ? spec.decoder : `${spec.decoder}/${spec.encoder}`;
  const env = { ...process.env };
  for (const v of TORCH_ENV_UNSET) delete env[v];
  const r = spawnSync(TORCH_PYTHON, [
    script, '--models', model, '--size', String(spec.inputSize), '--batch', String(o.batch), '--filters', o.filters.join(','),
    '--steps', String(o.steps), '--forward-reps', String(o.forwardReps), '--threads', String(o.threads),
  ], { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status !== 0) return { threads: o.threads, error: (r.stderr || 'pytorch_reference.py failed').trim().split('\n').slice(-1)[0]! };
  const doc = JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]!) as { torch: string; threads: number; results: Record<string, TorchResult> };
  return { ...doc.results[model]!, threads: doc.threads, torch: doc.torch };
}

function runWorker(model: string, backend: string, args: string[]): RunResult {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [...process.execArgv, script, '--worker', '--models', model, '--backends', backend, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_TAG));
  if (line === undefined) {
    const why = (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').filter((l) => l.trim()).slice(-1)[0];
    return { model, backend, threads: null, error: why ?? 'worker failed' };
  }
  return JSON.parse(line.slice(RESULT_TAG.length)) as RunResult;
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '—' : v.toFixed(digits));

function printTable(model: string, runs: RunResult[], torch: TorchRun[], batch: number): void {
  const first = runs.find((r) => r.error === undefined);
  console.log(`\n## ${model}` + (first ? ` (input ${first.inputSize}×${first.inputSize}×${first.channels}, ${fmt(first.gflopPerImage, 2)} GFLOP/image, ${first.params} params, ${first.trainableParams} trainable)` : ''));
  const head = ['backend', 'threads', 'forward ms', 'optimized fwd ms', 'train step ms', 'img/s', 'fwd GFLOP/s', 'train GFLOP/s', 'peak wasm MiB', 'peak RSS MiB',
    'tensors before/step2/last/after', 'fwd ×torch', 'optimized fwd ×torch', 'train ×torch', 'train speed-up vs 1 thread'];
  const rows: string[][] = [];
  const ok = torch.filter((t): t is TorchResult => !('error' in t));
  const sameThreads = (n: number | null) => ok.find((t) => t.threads === n);
  const oneThread = runs.find((r) => r.backend === 'wasm' && r.threads === 1 && r.trainStepMs);
  for (const r of runs) {
    if (r.error !== undefined) {
      rows.push([r.backend, String(r.threads ?? '—'), `error: ${r.error}`]);
      continue;
    }
    const tn = r.tensors!;
    const t = sameThreads(r.threads);
    rows.push([
      r.backend, String(r.threads ?? '—'), fmt(r.forwardMs, 1), fmt(r.optimizedForwardMs, 1), r.trainStepMs === null ? 'skipped' : fmt(r.trainStepMs), fmt(r.imagesPerSec, 2),
      fmt(r.forwardGflops, 1), fmt(r.trainGflops, 1), fmt(r.peakWasmMiB), fmt(r.peakRssMiB),
      `${tn.before}/${tn.afterStep2 ?? '—'}/${tn.afterLastStep ?? '—'}/${tn.afterDispose}${r.leak ? ' LEAK' : ''}`,
      t ? fmt(r.forwardMs! / t.forwardMs, 2) : '—', t && r.optimizedForwardMs ? fmt(r.optimizedForwardMs / t.forwardMs, 2) : '—', t && r.trainStepMs ? fmt(r.trainStepMs / t.trainStepMs, 2) : '—',
      r.backend === 'wasm' && oneThread && r.trainStepMs ? fmt(oneThread.trainStepMs! / r.trainStepMs, 2) : '—',
    ]);
  }
  const torchOne = ok.find((t) => t.threads === 1);
  for (const t of torch) {
    if ('error' in t) {
      rows.push(['pytorch', String(t.threads), `error: ${t.error}`]);
      continue;
    }
    const g = first?.gflopPerImage ?? 0;
    rows.push([`pytorch ${t.torch} (${t.params} params)`, String(t.threads), fmt(t.forwardMs, 1), '—', fmt(t.trainStepMs), fmt((batch * 1000) / t.trainStepMs, 2),
      fmt(g / (t.forwardMs / 1000), 1), fmt((3 * g * batch) / (t.trainStepMs / 1000), 1), '—', '—', '—', '1.00', '—', '1.00',
      torchOne ? fmt(torchOne.trainStepMs / t.trainStepMs, 2) : '—']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + head.map((_, i) => (cells[i] ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      backends: { type: 'string' },
      size: { type: 'string' },
      batch: { type: 'string' },
      filters: { type: 'string' },
      steps: { type: 'string' },
      'forward-reps': { type: 'string' },
      'cpu-train': { type: 'boolean', default: false },
      'no-torch': { type: 'boolean', default: false },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      worker: { type: 'boolean', default: false },
    },
  });
  const int = (v: string | undefined, d: number, what: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench: --${what} must be a positive integer, got '${v}'`);
    return n;
  };
  const backends = values.backends?.split(',') ?? STANDARD.backends;
  const size = int(values.size, STANDARD.size, 'size');
  const batch = int(values.batch, STANDARD.batch, 'batch');
  const filters = values.filters?.split(',').map((f) => int(f, 0, 'filters')) ?? STANDARD.filters;
  const steps = int(values.steps, 5, 'steps');
  const forwardReps = int(values['forward-reps'], 5, 'forward-reps');
  const allCores = defaultWasmThreads();
  const threadCounts = values.threads?.split(',').map((t) => int(t, 0, 'threads')) ?? [...new Set([1, allCores])];
  const models = (values.models?.split(',') ?? STANDARD.models).map((m) => parseBenchModel(m, size, filters.length - 1));

  if (values.worker) {
    const backend = backends[0]!;
    const slowCpu = backend === 'cpu';
    const r = await measure(models[0]!, backend, {
      batch, filters, steps: slowCpu ? Math.min(steps, 2) : steps,
      forwardReps: slowCpu ? Math.min(forwardReps, 2) : forwardReps, train: !slowCpu || values['cpu-train'],
      threads: threadCounts[0]!,
    }).catch((e: Error) => ({ model: models[0]!.id, backend, threads: null, error: e.message.split('\n')[0] }) as RunResult);
    console.log(RESULT_TAG + JSON.stringify(r));
    return;
  }

  const passOn = ['--size', String(size), '--batch', String(batch), '--filters', filters.join(','), '--steps', String(steps), '--forward-reps', String(forwardReps), ...(values['cpu-train'] ? ['--cpu-train'] : [])];
  const withTorch = !values['no-torch'] && torchAvailable();
  const machine = {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    logicalCores: cpus().length,
    availableParallelism: availableParallelism(),
    loadAverage1m: loadavg()[0],
    memoryGiB: totalmem() / 2 ** 30,
  };
  const config: BenchReport['config'] = {
    models: models.map((m) => m.id), size, batch, filters, steps, forwardReps, threads: threadCounts,
    optimizer: 'adam(1e-3)', loss: 'binaryCrossentropy', batchNorm: true, numClasses: 1,
    encoderModels: 'SMP defaults: 3 input channels, decoder channels 256,128,64,32,16, encoder depth 5, sigmoid head',
  };
  const date = new Date().toISOString();
  if (!values.json) {
    console.log(`# segmentation-models-tfjs benchmark, ${date}`);
    console.log(`machine: ${machine.cpu}, ${machine.logicalCores} logical cores (${machine.availableParallelism} available), ` +
      `${machine.memoryGiB.toFixed(0)} GiB, load average ${machine.loadAverage1m.toFixed(2)} at start; node ${process.version}`);
    console.log(`config: plain models: filters [${filters}], BN, input ${size}×${size}×1 unless @size (classic unet: nearest valid size); ` +
      `encoder models: ${config.encoderModels}; 1 class, batch ${batch}, Adam, BCE; ` +
      `median of ${forwardReps} forward passes (1 image) and ${steps} train steps after warm-up; wasm threads ${threadCounts.join(' and ')}`);
    console.log(
      withTorch
        ? `PyTorch reference: ${TORCH_PYTHON} bench/pytorch_reference.py with ${threadCounts.join(' and ')} thread(s) (OpenMP/OpenBLAS pools pinned to the same count; ${TORCH_ENV_UNSET.join(', ')} unset), run right after each model`
        : values['no-torch']
          ? 'PyTorch reference skipped (--no-torch)'
          : 'PyTorch reference unavailable (install Debian python3-torch: apt-get install python3-torch)',
    );
    if (backends.includes('cpu') && !values['cpu-train']) console.log('cpu backend: forward only (a train step takes minutes; --cpu-train to time it)');
  }
  const all: BenchReport['results'] = [];
  for (const spec of models) {
    const runs = backends.flatMap((b) =>
      b === 'wasm' ? threadCounts.map((t) => runWorker(spec.id, b, [...passOn, '--threads', String(t)])) : [runWorker(spec.id, b, passOn)],
    );
    const torch = withTorch ? threadCounts.map((threads) => runTorch(spec, { batch, filters, steps, forwardReps, threads })) : [];
    all.push({ ...spec, model: spec.id, runs, torch });
    if (!values.json) printTable(spec.id, runs, torch, batch);
  }
  if (values.json) {
    const torchVersion = all.flatMap((m) => m.torch).find((t): t is TorchResult => 'torch' in t)?.torch ?? null;
    const report: BenchReport = {
      date, machine, node: process.version, config,
      torch: withTorch ? { available: true, version: torchVersion, python: TORCH_PYTHON, envUnset: TORCH_ENV_UNSET } : { available: false },
      results: all,
    };
    console.log(JSON.stringify(report, null, 2));
  }
}

await main();
