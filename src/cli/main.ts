/** The CLI's commands, separate from the executable so tests can call them. */
import { readFileSync } from 'node:fs';
import { initBackend, type BackendChoice } from '../backend/initBackend.js';
import type { Normalization } from '../data/loadDataset.js';
import { getEncoderSpec, listEncoders } from '../encoders/index.js';
import { modelPreprocessing } from '../encoders/preprocess.js';
import { describeModelInfo, modelInfo } from '../models/info.js';
import { ENCODER_ARCHITECTURES } from '../models/encoderModels.js';
import { getModelSpec, listModels, createModel } from '../registry.js';
import { summarize } from '../summary.js';
import { type ArgValue, modelOptionsFromArgs, parseArgs } from './args.js';
import { demoExitCode, runDemo } from './demo.js';
import { predictCommand } from './predict.js';
import { exportSmpCommand, importSmpCommand } from './smp.js';
import { describePreprocessing, trainCommand } from './train.js';
import { isHeightWidth, isPositiveInt } from '../util/validate.js';

const HELP: Record<string, string> = {
  summary: `summary <model> [--input H,W,C] [--classes N] [--filters f1,f2,...] [--<option> value ...]
  summary <model> --encoder NAME [--encoder-depth 3..5] [--decoder-channels c1,c2,...] [--input H,W,C] ...
      Build a model and print its layer table and parameter counts.
      Any model option works as --kebab-case (e.g. --no-batch-norm, --upsampling bilinear,
      --no-decoder-batch-norm, --decoder-interpolation bilinear, --deep-supervision).
      --encoder puts the decoder on an ImageNet encoder (see 'encoders').`,
  train: `train --model NAME --images DIR --masks DIR --out DIR [--epochs 20] [--batch-size 8]
        [--micro-batch auto|N] [--classes 1] [--size S|H,W] [--fit resize|crop] [--mask-suffix S]
        [--normalize unit|standardize] [--mean m1,m2,m3 --std s1,s2,s3] [--validation-split 0.2]
        [--seed 0] [--lr 0.001] [--augment] [--overwrite] [--backend auto] [--encoder NAME]
        [--no-preprocess] [--<model option> value ...]
      Train on image/mask pairs matched by file name; saves the best model, training.json,
      history.json and training-curve.svg to --out (a new or empty folder; --overwrite replaces a
      previous run there). --micro-batch auto (default) accumulates gradients over smaller passes
      when a batch does not fit the backend's memory (docs/memory.md). With --encoder, images are
      normalised with the encoder's ImageNet statistics (recorded in training.json;
      --no-preprocess: not).`,
  predict: `predict --model DIR --input FILE|DIR --out DIR [--tile-size S|H,W] [--overwrite]
        [--normalize unit|standardize] [--mean m1,m2,m3 --std s1,s2,s3] [--no-optimize]
        [--no-preprocess] [--backend auto]
      Write <name>_mask.png and <name>_overlay.png for every image (any size: overlap-tile), at the
      scale and normalisation the model was trained with (training.json). --out must be a new or
      empty folder outside the input folder (--overwrite replaces files there). The model is first
      optimised for inference (BatchNorm folded into the convolutions); --no-optimize predicts with
      it exactly as saved. A model on an encoder gets its input normalisation from its metadata,
      as train applied it. --model may also be a segmentation_models.pytorch checkpoint folder
      (config.json + model.safetensors); it then tiles at 256x256 unless --tile-size is given.`,
  'import-smp': `import-smp SOURCE --out DIR [--size H,W] [--overwrite]
      Convert a segmentation_models.pytorch checkpoint (what save_pretrained writes: config.json +
      model.safetensors; SOURCE is its folder or an http(s) base URL such as a Hugging Face
      repo's https://huggingface.co/<repo>/resolve/<revision>/) into a TF.js model folder
      (model.json + weights.bin, with the model's metadata) for the browser and predict.
      --size fixes the input size (default: any size). docs/from-pytorch.md.`,
  'export-smp': `export-smp MODEL_DIR --out DIR [--overwrite]
      Write a TF.js Unet / Unet++ on an ImageNet encoder (from train or import-smp) as
      config.json + model.safetensors, which segmentation_models_pytorch.from_pretrained(DIR) loads.`,
  demo: `demo [--out demo-output] [--epochs 8] [--count 320] [--size 64] [--overwrite] [--backend auto]
      Train a small UNet++ on synthetic cells and write overlays and a training curve.`,
  models: `models
      List the model names and the encoders.`,
  encoders: `encoders
      List the ImageNet encoders (for --encoder).`,
};

const USAGE = `Usage: segmentation-models-tfjs <command> [options]

Commands:
${Object.values(HELP).map((h) => `  ${h}`).join('\n')}
  help [command]
      Show this text (or one command's); --help after any command does the same.
  --version
      Print the version.`;

function commandHelp(command: string): string {
  return `Usage: segmentation-models-tfjs ${HELP[command]}`;
}

/** The package version, from its package.json (two folders up from src/cli or dist/cli). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

type Options = Record<string, ArgValue>;

function flag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function take(options: Options, key: string): ArgValue | undefined {
  const v = options[key];
  delete options[key];
  return v;
}

function str(options: Options, key: string, required: true, command: string): string;
function str(options: Options, key: string, required?: false, command?: string): string | undefined;
function str(options: Options, key: string, required = false, command = ''): string | undefined {
  const v = take(options, key);
  if (v === undefined || v === true) {
    if (v === true) throw new Error(`${flag(key)} needs a value`);
    if (required) throw new Error(`missing ${flag(key)}\n\n${commandHelp(command)}`);
    return undefined;
  }
  return String(v);
}

interface Range {
  integer?: boolean;
  /** Exclusive lower bound. */
  gt?: number;
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive upper bound. */
  lt?: number;
}

function describeRange(r: Range): string {
  const parts = [r.integer ? 'an integer' : 'a number'];
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.gt !== undefined) parts.push(`> ${r.gt}`);
  if (r.lt !== undefined) parts.push(`< ${r.lt}`);
  return parts.join(' ');
}

/** A numeric flag, checked against `range` before anything is loaded. */
function num(options: Options, key: string, range: Range = {}): number | undefined {
  const v = take(options, key);
  if (v === undefined) return undefined;
  const ok = typeof v === 'number' && Number.isFinite(v) && (!range.integer || Number.isInteger(v)) &&
    (range.min === undefined || v >= range.min) && (range.gt === undefined || v > range.gt) && (range.lt === undefined || v < range.lt);
  if (!ok) throw new Error(`${flag(key)} expects ${describeRange(range)}, got ${v === true ? 'no value' : String(v)}`);
  return v as number;
}

const POSITIVE_INT: Range = { integer: true, min: 1 };

/** `--size 256` or `--size 256,192`. */
function sizeFlag(options: Options, key: string): number | [number, number] | undefined {
  const v = take(options, key);
  if (v === undefined) return undefined;
  if (isPositiveInt(v) || isHeightWidth(v)) return v;
  throw new Error(`${flag(key)} expects a positive integer S or H,W (e.g. 256 or 256,192), got ${String(v)}`);
}

function numberList(v: ArgValue | undefined, key: string): number[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`${flag(key)} expects numbers separated by commas (one per channel), got ${String(v)}`);
  }
  return list as number[];
}

/** `--normalize unit|standardize`, or `--mean ... --std ...`. */
function normalization(options: Options): Normalization | undefined {
  const kind = str(options, 'normalize');
  const mean = numberList(take(options, 'mean'), 'mean');
  const std = numberList(take(options, 'std'), 'std');
  if (mean !== undefined || std !== undefined) {
    if (mean === undefined || std === undefined || mean.length !== std.length) {
      throw new Error('--mean and --std go together, with one value per image channel each (e.g. --mean 0.5 --std 0.25)');
    }
    if (kind !== undefined) throw new Error('--normalize and --mean/--std exclude each other');
    if (std.some((s) => !(s > 0))) throw new Error(`--std values must be > 0, got ${std.join(',')}`);
    return { mean, std };
  }
  if (kind === undefined) return undefined;
  if (kind !== 'unit' && kind !== 'standardize') {
    throw new Error(`--normalize expects unit or standardize (or --mean/--std), got ${kind}`);
  }
  return kind;
}

function noLeftovers(command: string, options: Options): void {
  const left = Object.keys(options);
  if (left.length > 0) throw new Error(`${command}: unknown option(s) ${left.map(flag).join(', ')}\n\n${commandHelp(command)}`);
}

function backendChoice(options: Options): BackendChoice {
  return (str(options, 'backend') ?? 'auto') as BackendChoice;
}

async function backend(choice: BackendChoice, log: (s: string) => void): Promise<void> {
  const name = await initBackend(choice);
  log(`backend: ${name}`);
}

/**
 * Library messages name library options (`maskSuffix`, `tileSize`, `fit: 'crop'`, ...); on the
 * command line these are flags. Rewrites those names so every error points at a flag.
 */
const FLAG_WORDING: [RegExp, string][] = [
  [/\(with fit 'resize' or 'crop'\)/g, '(with --fit resize or --fit crop)'],
  [/\buse fit: 'resize'/g, 'use --fit resize'],
  [/\bfit must be 'resize' or 'crop'/g, '--fit must be resize or crop'],
  [/\bpass size\b/g, 'pass --size'],
  [/\bnormalize\.mean and normalize\.std need/g, '--mean and --std need'],
  [/\bset maskSuffix\b/g, 'pass --mask-suffix'],
  [/\bmaskSuffix\b/g, '--mask-suffix'],
  [/\bpass tileSize\b/g, 'pass --tile-size'],
  [/\btileSize\b/g, '--tile-size'],
  [/\bbatchSize:? /g, '--batch-size '],
  [/\bmicroBatch:? /g, '--micro-batch '],
  [/\bbatchSize\b/g, '--batch-size'],
  [/\bmicroBatch\b/g, '--micro-batch'],
  [/\bvalidationSplit\b/g, '--validation-split'],
  [/\bnumClasses\b/g, '--classes'],
  [/\(or 'auto'\)/g, '(or auto)'],
];

/** An error whose message names CLI flags instead of library options. */
export function cliError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  let message = err.message;
  for (const [pattern, replacement] of FLAG_WORDING) message = message.replace(pattern, replacement);
  if (message === err.message) return err;
  const out = new Error(message, { cause: err });
  out.stack = err.stack?.replace(err.message, message);
  return out;
}

function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** A `--flag` / `--no-flag` switch: true, false, or undefined when absent. */
function switchFlag(options: Options, command: string, key: string): boolean | undefined {
  const v = take(options, key);
  if (v !== undefined && typeof v !== 'boolean') {
    throw new Error(`${command}: --${key} takes no value; --no-${key} turns it off`);
  }
  return v;
}

function listEncoderLines(out: (s: string) => void): void {
  for (const name of listEncoders()) out(`${name.padEnd(12)} ${getEncoderSpec(name).description}`);
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  try {
    return await run(argv, out);
  } catch (e) {
    throw cliError(e);
  }
}

async function run(argv: string[], out: (s: string) => void): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    out(version());
    return 0;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    out(topic !== undefined && topic in HELP ? commandHelp(topic) : USAGE);
    return 0;
  }
  if (command in HELP && wantsHelp(rest)) {
    // Before any backend starts or any file is read.
    out(commandHelp(command));
    return 0;
  }
  const { positional, options } = parseArgs(rest);
  switch (command) {
    case 'summary':
      return summaryFromFlags(positional, options, out);
    case 'train':
      return trainFromFlags(options, out);
    case 'predict':
      return predictFromFlags(options, out);
    case 'demo':
      return demoFromFlags(options, out);
    case 'import-smp':
    case 'export-smp':
      return smpFromFlags(command, positional, options, out);
    case 'models':
      for (const name of listModels()) out(`${name.padEnd(12)} ${getModelSpec(name).description}`);
      out('');
      out(`Encoders (--encoder NAME with ${ENCODER_ARCHITECTURES.join(', ')}):`);
      listEncoderLines(out);
      return 0;
    case 'encoders':
      listEncoderLines(out);
      return 0;
    default:
      throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  }
}

/** `summary <model> [flags]`: the layer table, the model's description and its preprocessing. */
function summaryFromFlags(positional: string[], options: Options, out: (s: string) => void): number {
  const name = positional[0];
  if (!name) throw new Error(`summary needs a model name; known models: ${listModels().join(', ')}`);
  const model = createModel(name, modelOptionsFromArgs(options));
  out(summarize(model).text);
  const info = modelInfo(model);
  if (info !== null) out(`Model: ${describeModelInfo(info)}`);
  const preprocessing = modelPreprocessing(model);
  if (preprocessing !== null) out(`Preprocessing: ${describePreprocessing(preprocessing)}`);
  model.dispose();
  return 0;
}

/** `train`: every flag is read and checked before the backend starts or any image is loaded. */
async function trainFromFlags(options: Options, out: (s: string) => void): Promise<number> {
  const choice = backendChoice(options);
  const microRaw = take(options, 'microBatch');
  const batchSize = num(options, 'batchSize', POSITIVE_INT);
  let microBatch: number | 'auto' | undefined;
  if (microRaw !== undefined && microRaw !== 'auto') {
    options['microBatch'] = microRaw;
    microBatch = num(options, 'microBatch', POSITIVE_INT);
    if (microBatch! > (batchSize ?? 8)) throw new Error(`--micro-batch (${microBatch}) must not exceed --batch-size (${batchSize ?? 8})`);
  } else if (microRaw === 'auto') microBatch = 'auto';
  const fit = str(options, 'fit');
  if (fit !== undefined && fit !== 'resize' && fit !== 'crop') throw new Error(`--fit expects resize or crop, got ${fit}`);
  const flags = {
    model: str(options, 'model', true, 'train'),
    images: str(options, 'images', true, 'train'),
    masks: str(options, 'masks', true, 'train'),
    out: str(options, 'out', true, 'train'),
    epochs: num(options, 'epochs', POSITIVE_INT),
    batchSize,
    microBatch,
    numClasses: num(options, 'classes', POSITIVE_INT) ?? num(options, 'numClasses', POSITIVE_INT),
    size: sizeFlag(options, 'size'),
    fit: fit as 'resize' | 'crop' | undefined,
    maskSuffix: str(options, 'maskSuffix'),
    normalize: normalization(options),
    validationSplit: num(options, 'validationSplit', { min: 0, lt: 1 }),
    seed: num(options, 'seed', { integer: true, min: 0 }),
    learningRate: num(options, 'lr', { gt: 0 }),
    augment: take(options, 'augment') === true,
    overwrite: take(options, 'overwrite') === true,
    preprocess: switchFlag(options, 'train', 'preprocess'),
  };
  resolveModelOrThrow(flags.model);
  const modelOptions = modelOptionsFromArgs(options);
  await backend(choice, out);
  await trainCommand({ ...flags, modelOptions, log: out });
  return 0;
}

/** `predict`: flags checked before the backend starts. */
async function predictFromFlags(options: Options, out: (s: string) => void): Promise<number> {
  const choice = backendChoice(options);
  const optimize = switchFlag(options, 'predict', 'optimize') ?? true;
  const preprocess = switchFlag(options, 'predict', 'preprocess');
  const flags = {
    model: str(options, 'model', true, 'predict'),
    input: str(options, 'input', true, 'predict'),
    out: str(options, 'out', true, 'predict'),
    tileSize: sizeFlag(options, 'tileSize'),
    normalize: normalization(options),
    overwrite: take(options, 'overwrite') === true,
    optimize,
    preprocess,
  };
  noLeftovers('predict', options);
  await backend(choice, out);
  await predictCommand({ ...flags, log: out });
  return 0;
}

/** `demo`: exit code 0 when the demo reaches validation Dice 0.8, else 2. */
async function demoFromFlags(options: Options, out: (s: string) => void): Promise<number> {
  const filters = take(options, 'filters');
  const flags = {
    out: str(options, 'out'),
    epochs: num(options, 'epochs', POSITIVE_INT),
    count: num(options, 'count', { integer: true, min: 2 }),
    size: num(options, 'size', { integer: true, min: 8 }),
    batchSize: num(options, 'batchSize', POSITIVE_INT),
    seed: num(options, 'seed', { integer: true, min: 0 }),
    backend: str(options, 'backend'),
    filters: numberList(filters, 'filters'),
    overwrite: take(options, 'overwrite') === true,
  };
  noLeftovers('demo', options);
  const result = await runDemo({ ...flags, log: out });
  return demoExitCode(result.dice);
}

/** `import-smp SOURCE --out DIR` and `export-smp MODEL_DIR --out DIR`. */
async function smpFromFlags(command: 'import-smp' | 'export-smp', positional: string[], options: Options, out: (s: string) => void): Promise<number> {
  const source = positional[0];
  if (!source || positional.length > 1) {
    throw new Error(`${command} takes one ${command === 'import-smp' ? 'SOURCE' : 'MODEL_DIR'}, got ${positional.length}\n\n${commandHelp(command)}`);
  }
  const size = command === 'import-smp' ? sizeFlag(options, 'size') : undefined;
  const flags = { out: str(options, 'out', true, command), overwrite: take(options, 'overwrite') === true, log: out };
  noLeftovers(command, options);
  if (command === 'export-smp') await exportSmpCommand({ ...flags, model: source });
  else await importSmpCommand({ ...flags, source, size: typeof size === 'number' ? [size, size] : size });
  return 0;
}

/** An unknown model name fails before anything is loaded. */
function resolveModelOrThrow(name: string): void {
  getModelSpec(name);
}
