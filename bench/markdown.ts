/**
 * `npm run bench:md [-- options]`: writes docs/benchmarks.md from the JSON of the benchmarks, so
 * that no number in it is typed by hand.
 *
 *   npm run bench:md -- --run
 *     runs `npm run bench -- --json`, `npm run bench:memory -- --json` (with and without --train)
 *     and `npm run bench:profile -- --json` (1 thread, each model of the bench at 128²), keeps their output in
 *     docs/benchmarks.json and writes docs/benchmarks.md from it.
 *   npm run bench:md -- --from docs/benchmarks.json
 *     rewrites docs/benchmarks.md from a kept docs/benchmarks.json (e.g. after changing this script).
 *   npm run bench:md -- --bench B.json [--memory M.json] [--profile P1.json --profile P2.json ...]
 *     from the output of the individual commands.
 *
 * Options: --out docs/benchmarks.md  --json-out docs/benchmarks.json (with --run)
 *          --bench-args '...' (passed on to `npm run bench` with --run, e.g. '--models unet-padded --steps 1')
 *          --no-memory / --no-profile / --no-smp-import (with --run: skip those parts)
 *          --smp-import S.json (the output of `npm run -s bench:smp-import -- --json`: adds or replaces that
 *          part; with --from, the merged JSON is also written to --json-out)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchReport, MemoryReport, ProfileReport, RunResult, SmpImportReport, TorchResult, TorchRun } from './report.js';

/** Everything docs/benchmarks.md is made from. */
export interface BenchmarkData {
  bench: BenchReport;
  memory?: MemoryReport;
  profiles?: ProfileReport[];
  smpImport?: SmpImportReport;
}

const ok = (t: TorchRun): t is TorchResult => !('error' in t);
const fixed = (v: number | null | undefined, digits: number): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
/** Ours ÷ theirs, as `2.41×`; `—` when either side is missing. */
export function ratio(ours: number | null | undefined, theirs: number | null | undefined): string {
  if (ours == null || theirs == null || !(theirs > 0)) return '—';
  return `${(ours / theirs).toFixed(2)}×`;
}

/** A markdown table; the first `textColumns` columns are left-aligned, the rest (numbers) right-aligned. */
function table(head: string[], rows: string[][], textColumns = 2): string {
  const sep = head.map((_, i) => (i < textColumns ? '---' : '---:'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function modelLabel(r: BenchReport['results'][number]): string {
  return r.encoder === null ? `\`${r.decoder}\`` : `\`${r.decoder}\` on \`${r.encoder}\``;
}
function inputLabel(r: BenchReport['results'][number]): string {
  return `${r.inputSize}×${r.inputSize}×${r.channels}`;
}
const wasmRun = (runs: RunResult[], threads: number) => runs.find((x) => x.backend === 'wasm' && x.threads === threads && x.error === undefined);
const torchRun = (torch: TorchRun[], threads: number) => torch.filter(ok).find((t) => t.threads === threads);
const ms = (v: number | null | undefined) => fixed(v, v != null && v < 100 ? 1 : 0);
const gflop = (v: number | null | undefined) => fixed(v, v != null && v < 0.1 ? 4 : 2);

/** Forward and train step of ours (wasm) and PyTorch at one thread count, with the ratios. */
function versusTable(bench: BenchReport, threads: number): string {
  const rows = bench.results.map((r) => {
    const w = wasmRun(r.runs, threads);
    const t = torchRun(r.torch, threads);
    const failed = r.runs.find((x) => x.backend === 'wasm' && x.threads === threads && x.error !== undefined);
    return [
      modelLabel(r), inputLabel(r), gflop(r.runs.find((x) => x.gflopPerImage !== undefined)?.gflopPerImage),
      failed ? `error: ${failed.error}` : ms(w?.forwardMs), ms(w?.optimizedForwardMs), ms(t?.forwardMs), ratio(w?.forwardMs, t?.forwardMs),
      ratio(w?.optimizedForwardMs, t?.forwardMs), ms(w?.trainStepMs), ms(t?.trainStepMs), ratio(w?.trainStepMs, t?.trainStepMs),
      fixed(w?.trainGflops, 1),
    ];
  });
  return table(
    ['model', 'input', 'GFLOP / image', 'forward ms (ours)', 'forward ms (ours, optimized)', 'forward ms (PyTorch)', 'forward ours ÷ PyTorch',
      'optimized forward ours ÷ PyTorch',
      `train step ms (ours)`, 'train step ms (PyTorch)', 'train ours ÷ PyTorch', 'train GFLOP/s (ours)'],
    rows,
  );
}

/** Speed-up of `threads` over 1 thread on both sides (1-thread time ÷ N-thread time). */
function speedupTable(bench: BenchReport, threads: number): string {
  const rows = bench.results.map((r) => {
    const w1 = wasmRun(r.runs, 1);
    const wn = wasmRun(r.runs, threads);
    const t1 = torchRun(r.torch, 1);
    const tn = torchRun(r.torch, threads);
    return [modelLabel(r), inputLabel(r), ratio(w1?.forwardMs, wn?.forwardMs), ratio(w1?.optimizedForwardMs, wn?.optimizedForwardMs), ratio(w1?.trainStepMs, wn?.trainStepMs),
      ratio(t1?.forwardMs, tn?.forwardMs), ratio(t1?.trainStepMs, tn?.trainStepMs)];
  });
  return table(['model', 'input', 'forward (ours)', 'optimized forward (ours)', 'train step (ours)', 'forward (PyTorch)', 'train step (PyTorch)'], rows);
}

function memoryTable(bench: BenchReport): string {
  const threads = bench.config.threads;
  const rows = bench.results.map((r) => {
    const w = threads.map((n) => wasmRun(r.runs, n));
    const leak = r.runs.some((x) => x.leak === true);
    return [modelLabel(r), inputLabel(r), String(bench.config.batch), ...w.map((x) => fixed(x?.peakWasmMiB, 0)),
      fixed(Math.max(...w.map((x) => x?.peakRssMiB ?? Number.NaN)), 0), leak ? '**leak**' : 'none'];
  });
  return table(['model', 'input', 'batch', ...threads.map((n) => `peak wasm MiB (${n} thread${n === 1 ? '' : 's'})`), 'peak RSS MiB', 'tensors leaked'], rows);
}

function otherBackendsTable(bench: BenchReport): string | null {
  const others = bench.results.flatMap((r) => r.runs.filter((x) => x.backend !== 'wasm').map((x) => ({ r, x })));
  if (others.length === 0) return null;
  const rows = others.map(({ r, x }) => [modelLabel(r), inputLabel(r), x.backend, x.error !== undefined ? `error: ${x.error}` : ms(x.forwardMs),
    x.trainStepMs == null ? '—' : ms(x.trainStepMs)]);
  return table(['model', 'input', 'backend', 'forward ms', 'train step ms'], rows, 3);
}

function bigMemoryTable(memory: MemoryReport): string {
  const rows = memory.results.map((m) => [
    `\`${m.config}\``, m.description ?? '', String(m.threads ?? '—'),
    m.microBatch === undefined ? 'whole batch (`trainOnBatch`)' : `\`train()\`, \`microBatch: 'auto'\` → ${m.microBatch}`,
    m.ok ? 'trains' : `fails: ${m.error ?? 'unknown error'}`,
    fixed(m.wasmMiB.afterBuild, 0), m.wasmMiB.afterSteps.map((v) => v.toFixed(0)).join(', ') || '—',
    m.estimateMiB === undefined ? '—' : fixed(m.estimateMiB, 0),
  ]);
  return table(['config', 'model, input, batch', 'threads', 'how', 'result', 'wasm MiB after build', 'wasm MiB after each step', 'estimate MiB (train())'], rows, 5);
}

function profileTable(profiles: ProfileReport[]): string {
  const rows = profiles.map(({ summary: s }) => [
    `\`${s.model}\``, String(s.batch), String(s.threads), ms(s.stepMs), ms(s.parallelMs), ms(s.serialMs),
    `${(100 * s.serialShare).toFixed(1)} %`, ms(s.tfjsJsMs),
  ]);
  return table(['model', 'batch', 'threads', 'step ms', 'in XNNPACK ms', 'outside XNNPACK ms', 'outside XNNPACK share', 'of which tfjs JavaScript ms'], rows);
}

function smpImportTable(r: SmpImportReport): string {
  const mib = (v: number) => fixed(v, 0);
  return table(
    ['checkpoint', 'parameters', 'model.safetensors MiB', 'runtime alone MiB', '`createModel` MiB', '`loadSmpModel` MiB', 'import s',
      'import peak ÷ weights', '(import peak − runtime) ÷ weights'],
    [[r.model, r.params.toLocaleString('en'), mib(r.weightsMiB), mib(r.peakRssMiB.baseline), mib(r.peakRssMiB.build), mib(r.peakRssMiB.import),
      fixed(r.importMs / 1000, 1), `${fixed(r.importPeakOverWeights, 2)}×`, `${fixed(r.importAboveBaselineOverWeights, 2)}×`]],
    1,
  );
}

/** docs/benchmarks.md from the benchmarks' JSON. */
export function benchmarksMarkdown(data: BenchmarkData): string {
  const { bench, memory, profiles } = data;
  const { machine, config } = bench;
  const threads = config.threads;
  const most = Math.max(...threads);
  const torch = bench.torch.available
    ? `PyTorch ${bench.torch.version ?? '(version unknown)'} (\`${bench.torch.python}\`, ${bench.torch.envUnset.join(' and ')} unset for it), ` +
      `pinned to the same thread counts (OpenMP and OpenBLAS pools)`
    : 'PyTorch: not available on this machine (no comparison)';
  const out: string[] = [];
  out.push('# Benchmarks');
  out.push('');
  out.push('<!-- Generated by `npm run bench:md` from the JSON of `npm run bench`, `bench:memory` and `bench:profile`. Do not edit by hand. -->');
  out.push('');
  out.push(`Measured on ${bench.date.slice(0, 10)} (${bench.date}) with \`npm run bench\`; what the columns mean and how to run it: ` +
    '[backends and performance](backend.md#benchmarks-and-profiling). Numbers depend on the machine; run the bench on yours.');
  out.push('');
  out.push(`- **Machine**: ${machine.cpu}, ${machine.logicalCores} logical cores (${machine.availableParallelism} available to Node), ` +
    `${machine.memoryGiB.toFixed(0)} GiB; load average ${machine.loadAverage1m.toFixed(2)} (1 min) at the start.`);
  out.push(`- **Software**: Node ${bench.node}; ours on the \`wasm\` backend with ${threads.join(' and ')} thread(s); ${torch}.`);
  out.push(`- **Models**: plain models with filters ${config.filters.join(', ')}, BatchNorm, 1 input channel; ` +
    `encoder models (\`decoder\` on \`encoder\`) with ${config.encoderModels}. 1 class (sigmoid), batch ${config.batch}, ` +
    `${config.optimizer}, ${config.loss}.`);
  out.push(`- **Timing**: forward = median of ${config.forwardReps} passes of 1 image (inference mode); "optimized" = the same ` +
    'after `optimizeForInference` (BatchNorm folded, activations fused: what `predictTiled` and the CLI run; PyTorch runs its ' +
    `eval-mode model as is); train step = median of ` +
    `${config.steps} steps of batch ${config.batch} after 2 warm-up steps. "ours ÷ PyTorch" > 1 means we are slower.`);
  for (const n of threads) {
    out.push('');
    out.push(`## Ours vs PyTorch, ${n} thread${n === 1 ? '' : 's'}${n === most && n > 1 ? ' (all cores)' : ''}`);
    out.push('');
    out.push(versusTable(bench, n));
  }
  for (const n of threads.filter((t) => t > 1)) {
    out.push('');
    out.push(`## Speed-up of ${n} threads over 1 thread`);
    out.push('');
    out.push('1-thread time ÷ ' + `${n}-thread time, on each side.`);
    out.push('');
    out.push(speedupTable(bench, n));
  }
  out.push('');
  out.push('## Peak memory');
  out.push('');
  out.push('The wasm memory is the size the module grew to in the run (it never shrinks: the high-water mark of forward passes and ' +
    'train steps); RSS is the whole Node process. Each run is its own process. "tensors leaked": tensors alive after disposing ' +
    'everything, or a tensor count that grew between train steps.');
  out.push('');
  out.push(memoryTable(bench));
  if (memory !== undefined && memory.results.length > 0) {
    out.push('');
    out.push('## The largest configurations (`npm run bench:memory`)');
    out.push('');
    out.push(`Measured ${memory.date.slice(0, 10)}, each configuration in its own process; the wasm memory is capped at 4096 MiB. ` +
      '"Whole batch": `trainOnBatch` on the whole batch (Adam, binary cross-entropy on every output), without the memory check; ' +
      '`train()`: the library\'s training loop (default BCE + Dice loss) with `microBatch: \'auto\'`, which splits the batch into the ' +
      'largest micro-batches its estimate lets fit. The estimate is what `train()` checks against the cap before the first step ' +
      '(`estimateTrainingMemory`, [memory](memory.md)).');
    out.push('');
    out.push(bigMemoryTable(memory));
  }
  if (profiles !== undefined && profiles.length > 0) {
    out.push('');
    out.push('## Where a train step goes (`npm run bench:profile`)');
    out.push('');
    out.push('Time inside XNNPACK operators (the part that runs on the thread pool) and outside them (the library\'s and ' +
      'tfjs\'s kernels that run in JavaScript or serial C++, and tfjs\'s own bookkeeping); mean of the timed steps, wall time.');
    out.push('');
    out.push(profileTable(profiles));
  }
  if (data.smpImport !== undefined) {
    const r = data.smpImport;
    out.push('');
    out.push('## Importing an SMP checkpoint (`npm run bench:smp-import`)');
    out.push('');
    out.push(`Measured ${r.date.slice(0, 10)} on ${r.cpu}, Node ${r.node}. Peak resident memory (RSS) of a fresh Node process on the ` +
      'built package (cpu backend) that loads the library and TF.js and then does nothing (runtime alone), builds the model with ' +
      '`createModel`, or imports the checkpoint with `loadSmpModel(dir)` (config.json + model.safetensors from a folder, random weights). ' +
      'The import reads the file tensor by tensor and builds the model without random initial weights ([from PyTorch](from-pytorch.md)).');
    out.push('');
    out.push(smpImportTable(r));
  }
  const others = otherBackendsTable(bench);
  if (others !== null) {
    out.push('');
    out.push('## Other backends');
    out.push('');
    out.push(others);
  }
  out.push('');
  return out.join('\n');
}

function readJson<T>(path: string): T {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`bench:md: ${path} is not JSON (${(e as Error).message}); give it the output of the command run with --json (npm run -s ...)`);
  }
}

/** Runs `npm run -s <script> -- --json <args>` and parses its output. */
function runJson<T>(script: string, args: string[]): T {
  console.error(`bench:md: npm run -s ${script} -- --json ${args.join(' ')}`);
  const r = spawnSync('npm', ['run', '-s', script, '--', '--json', ...args], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench:md: npm run ${script} failed (exit ${r.status})`);
  // The JSON starts at the first line that starts with '{' (npm echoes the commands of nested scripts first).
  const start = r.stdout.search(/^\{/m);
  if (start < 0) throw new Error(`bench:md: npm run ${script} printed no JSON`);
  return JSON.parse(r.stdout.slice(start)) as T;
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      run: { type: 'boolean', default: false },
      from: { type: 'string' },
      bench: { type: 'string' },
      memory: { type: 'string' },
      profile: { type: 'string', multiple: true },
      out: { type: 'string', default: 'docs/benchmarks.md' },
      'json-out': { type: 'string', default: 'docs/benchmarks.json' },
      'bench-args': { type: 'string', default: '' },
      'no-memory': { type: 'boolean', default: false },
      'no-profile': { type: 'boolean', default: false },
      'no-smp-import': { type: 'boolean', default: false },
      'smp-import': { type: 'string' },
    },
  });
  let data: BenchmarkData;
  if (values.run) {
    const bench = runJson<BenchReport>('bench', values['bench-args']!.split(/\s+/).filter(Boolean));
    // The largest configurations on the whole batch, and through train() with microBatch 'auto'.
    const memory = values['no-memory'] ? undefined : runJson<MemoryReport>('bench:memory', []);
    if (memory !== undefined) memory.results.push(...runJson<MemoryReport>('bench:memory', ['--train']).results);
    // The profile of every distinct model of the bench, 1 thread, at the bench's batch (128² for the encoder models).
    const profiled = [...new Set(bench.results.map((r) => (r.encoder === null ? r.decoder : `${r.decoder}/${r.encoder}`)))];
    const profiles = values['no-profile']
      ? undefined
      : profiled.map((m) => runJson<ProfileReport>('bench:profile', ['--model', m, '--size', String(bench.config.size),
        '--batch', String(bench.config.batch), '--filters', bench.config.filters.join(','), '--threads', '1']));
    const smpImport = values['no-smp-import'] ? undefined : runJson<SmpImportReport>('bench:smp-import', []);
    data = { bench, memory, profiles, smpImport };
    writeAtomically(values['json-out']!, JSON.stringify(data, null, 2) + '\n');
    console.error(`bench:md: wrote ${values['json-out']}`);
  } else if (values.from !== undefined) {
    data = readJson<BenchmarkData>(values.from);
  } else if (values.bench !== undefined) {
    data = {
      bench: readJson<BenchReport>(values.bench),
      memory: values.memory === undefined ? undefined : readJson<MemoryReport>(values.memory),
      profiles: values.profile?.map((p) => readJson<ProfileReport>(p)),
    };
  } else {
    throw new Error('bench:md: give --run (run the benchmarks), --from docs/benchmarks.json, or --bench FILE [--memory FILE] [--profile FILE ...]');
  }
  if (values['smp-import'] !== undefined && !values.run) {
    data.smpImport = readJson<SmpImportReport>(values['smp-import']);
    if (values.from !== undefined) {
      writeAtomically(values['json-out']!, JSON.stringify(data, null, 2) + '\n');
      console.error(`bench:md: wrote ${values['json-out']}`);
    }
  }
  writeAtomically(values.out!, benchmarksMarkdown(data));
  console.error(`bench:md: wrote ${values.out}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
