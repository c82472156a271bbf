/**
 * `npm run bench:smp-import [-- options]`: peak memory (RSS) of importing a segmentation_models.pytorch
 * checkpoint, against the size of its weights.
 *
 * Writes a random-weights Unet on resnet34 (depth 5, SMP's default decoder, 3 input channels,
 * 1 class) with `saveSmpModel` into a temporary folder, then in fresh child processes (plain Node on
 * the built package, CPU backend):
 *
 * - `baseline`: the library and TF.js loaded, nothing else;
 * - `build`: `createModel` of the same model (what any use of it costs);
 * - `import`: `loadSmpModel(dir)` (reads config.json + model.safetensors, builds, loads every tensor).
 *
 * Each reports its peak RSS (Linux: `VmHWM` of /proc/self/status, which, unlike `ru_maxrss`, does
 * not include the parent's RSS at fork; elsewhere `maxRSS`). The target: the import's peak RSS
 * below 3× the size of model.safetensors.
 *
 * Options: --encoder resnet34  --json  --keep (leave the checkpoint folder)
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createModel, saveSmpModel } from '../src/node.js';
import type { SmpImportReport } from './report.js';

const TAG = 'SMP_IMPORT_RESULT ';
const MiB = 2 ** 20;
type Phase = 'baseline' | 'build' | 'import';

function modelOptions(encoder: string): Record<string, unknown> {
  return { encoder, inputShape: [null, null, 3], numClasses: 1 };
}

/**
 * The child process: plain Node on the built package (dist/, `npm run build` first), no TypeScript
 * loader, so that its RSS is the library's and not the compiler's.
 */
function childScript(phase: Phase, dir: string, encoder: string): string {
  const dist = new URL('../dist/node.js', import.meta.url).href;
  return `
    import * as tf from '@tensorflow/tfjs';
    const lib = await import(${JSON.stringify(dist)});
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
    await tf.ready();
    const phase = ${JSON.stringify(phase)};
    const t0 = performance.now();
    let params = 0;
    if (phase === 'build') {
      const m = lib.createModel('unet', ${JSON.stringify(modelOptions(encoder))});
      params = m.countParams();
      m.dispose();
    } else if (phase === 'import') {
      const m = await lib.loadSmpModel(${JSON.stringify(dir)});
      params = m.countParams();
      m.dispose();
    }
    const ms = performance.now() - t0;
    // Linux: VmHWM is this process's own peak RSS (ru_maxrss also counts the parent's RSS at fork).
    let peakRssBytes = process.resourceUsage().maxRSS * 1024;
    try {
      const { readFileSync } = await import('node:fs');
      const m = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m) peakRssBytes = Number(m[1]) * 1024;
    } catch {}
    console.log(${JSON.stringify(TAG)} + JSON.stringify({ phase, peakRssBytes, params, ms }));
  `;
}

interface ChildResult {
  phase: Phase;
  peakRssBytes: number;
  params: number;
  ms: number;
}

function runChild(phase: Phase, dir: string, encoder: string): ChildResult {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', childScript(phase, dir, encoder)], { cwd, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(TAG));
  if (line === undefined) throw new Error(`bench:smp-import: the ${phase} process failed: ${(r.stderr || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line.slice(TAG.length)) as ChildResult;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      encoder: { type: 'string', default: 'resnet34' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const encoder = values.encoder!;
  const root = await mkdtemp(join(tmpdir(), 'smtf-bench-smp-'));
  const dir = join(root, `unet-${encoder}`);
  try {
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
    const model = createModel('unet', modelOptions(encoder));
    const { weights } = await saveSmpModel(model, dir);
    model.dispose();
    const weightsBytes = (await stat(weights)).size;
    const results = (['baseline', 'build', 'import'] as Phase[]).map((p) => runChild(p, dir, encoder));
    const [base, build, imp] = results as [ChildResult, ChildResult, ChildResult];
    const ratio = imp.peakRssBytes / weightsBytes;
    const summary: SmpImportReport = {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
      model: `Unet ${encoder} (depth 5, decoder [256, 128, 64, 32, 16], 1 class)`,
      params: imp.params,
      weightsMiB: weightsBytes / MiB,
      peakRssMiB: { baseline: base.peakRssBytes / MiB, build: build.peakRssBytes / MiB, import: imp.peakRssBytes / MiB },
      importMs: imp.ms,
      importPeakOverWeights: ratio,
      importAboveBaselineOverWeights: (imp.peakRssBytes - base.peakRssBytes) / weightsBytes,
      target: 'import peak RSS < 3 x weights',
      ok: ratio < 3,
      node: process.version,
    };
    if (values.json) {
      console.log(JSON.stringify(summary, null, 2));
    } else {
      const f = (x: number) => x.toFixed(0);
      console.log(`${summary.date.slice(0, 10)}, ${summary.cpu}, Node ${summary.node}`);
      console.log(`${summary.model}: ${summary.params.toLocaleString('en')} params, model.safetensors ${f(summary.weightsMiB)} MiB`);
      console.log(`peak RSS: baseline (library + TF.js) ${f(summary.peakRssMiB.baseline)} MiB, createModel ${f(summary.peakRssMiB.build)} MiB, loadSmpModel ${f(summary.peakRssMiB.import)} MiB (${(imp.ms / 1000).toFixed(1)} s)`);
      console.log(
        `import peak = ${ratio.toFixed(2)} x weights (${summary.importAboveBaselineOverWeights.toFixed(2)} x above the baseline); ` +
          `target < 3 x: ${summary.ok ? 'met' : 'NOT met'}`,
      );
    }
  } finally {
    if (!values.keep) await rm(root, { recursive: true, force: true });
    else console.log(`checkpoint kept in ${dir}`);
  }
}

await main();
