/**
 * The JSON documents the benchmarks print with `--json` (`npm run bench`, `bench:memory`,
 * `bench:profile`), read by scripts/benchmarks-md.ts to write docs/benchmarks.md.
 */
import type { BenchModel } from './models.js';

/** One (model, backend, thread count) run of `npm run bench`, in its own process. */
export interface RunResult {
  /** The model's id, `decoder[/encoder]@size` (bench/models.ts). */
  model: string;
  backend: string;
  /** wasm: XNNPACK threads that ran; other backends: null. */
  threads: number | null;
  error?: string;
  inputSize?: number;
  channels?: number;
  params?: number;
  trainableParams?: number;
  gflopPerImage?: number;
  /** Median ms of `predict` on 1 image (inference mode, the model as built). */
  forwardMs?: number;
  /** The same with `optimizeForInference(model)` (what predictTiled and the CLI run). */
  optimizedForwardMs?: number;
  trainStepMs?: number | null;
  imagesPerSec?: number | null;
  forwardGflops?: number;
  trainGflops?: number | null;
  peakRssMiB?: number;
  /** wasm: size of the wasm memory at the end (it only grows: the run's high-water mark). */
  peakWasmMiB?: number | null;
  tensors?: { before: number; afterStep2: number | null; afterLastStep: number | null; afterDispose: number };
  leak?: boolean;
}

export interface TorchResult {
  params: number;
  forwardMs: number;
  trainStepMs: number;
  size: number;
  threads: number;
  torch: string;
}
export type TorchRun = TorchResult | { threads: number; error: string };

export interface MachineInfo {
  cpu: string;
  logicalCores: number;
  availableParallelism: number;
  loadAverage1m: number;
  memoryGiB: number;
}

/** `npm run -s bench -- --json`. */
export interface BenchReport {
  /** ISO date and time of the start. */
  date: string;
  machine: MachineInfo;
  node: string;
  config: {
    models: string[];
    size: number;
    batch: number;
    filters: number[];
    steps: number;
    forwardReps: number;
    threads: number[];
    optimizer: string;
    loss: string;
    batchNorm: boolean;
    numClasses: number;
    encoderModels: string;
  };
  torch: { available: true; version: string | null; python: string; envUnset: string[] } | { available: false };
  results: (BenchModel & { model: string; runs: RunResult[]; torch: TorchRun[] })[];
}

/** One configuration of `npm run bench:memory`. */
export interface MemoryResult {
  config: string;
  /** Model, input, options and batch in words. */
  description?: string;
  /** The estimate `train()` checks before a step (estimateTrainingMemory), MiB. */
  estimateMiB?: number;
  /** With `--train`: the micro-batch `train()` chose (`microBatch: 'auto'`). */
  microBatch?: number;
  threads?: number;
  ok: boolean;
  error?: string;
  stepMs: number[];
  wasmMiB: { afterBuild: number; afterSteps: number[] };
}

/** `npm run -s bench:memory -- --json`. */
export interface MemoryReport {
  date: string;
  results: MemoryResult[];
}

/** `npm run -s bench:profile -- --json`: one model. */
export interface ProfileReport {
  summary: {
    model: string;
    size: number;
    batch: number;
    filters: number[];
    threads: number;
    steps: number;
    stepMs: number;
    kernelMs: number;
    tfjsJsMs: number;
    parallelMs: number;
    serialMs: number;
    serialShare: number;
    peakWasmMiB: number;
  };
  kernels: { name: string; calls: number; totalMs: number; ownMs: number; parallelMs: number }[];
}

/** `npm run -s bench:smp-import -- --json`: peak RSS of importing an SMP checkpoint, in fresh processes. */
export interface SmpImportReport {
  date: string;
  cpu: string;
  node: string;
  /** The checkpoint's model, e.g. `Unet resnet34 (depth 5, ...)`. */
  model: string;
  params: number;
  weightsMiB: number;
  /** Peak RSS of: the runtime alone, `createModel` of the same model, and `loadSmpModel`. */
  peakRssMiB: { baseline: number; build: number; import: number };
  importMs: number;
  importPeakOverWeights: number;
  importAboveBaselineOverWeights: number;
  target: string;
  ok: boolean;
}
