/** The CLI's commands, separate from the executable so tests can call them. */
import { initBackend, type BackendChoice } from '../backend/initBackend.js';
import { getEncoderSpec, listEncoders } from '../encoders/index.js';
import { modelPreprocessing } from '../encoders/preprocess.js';
import { describeModelInfo, modelInfo } from '../models/info.js';
import { ENCODER_ARCHITECTURES } from '../models/encoderModels.js';
import { getModelSpec, listModels, createModel } from '../registry.js';
import { summarize } from '../summary.js';
import { type ArgValue, modelOptionsFromArgs, parseArgs } from './args.js';
import { runDemo } from './demo.js';
import { predictCommand } from './predict.js';
import { describePreprocessing, trainCommand } from './train.js';

const USAGE = `Usage: segmentation-models-tfjs <command> [options]

Commands:
  summary <model> [--input H,W,C] [--classes N] [--filters f1,f2,...] [--<option> value ...]
  summary <model> --encoder NAME [--encoder-depth 3..5] [--decoder-channels c1,c2,...] [--input H,W,C] ...
      Build a model and print its layer table and parameter counts.
      Any model option works as --kebab-case (e.g. --no-batch-norm, --upsampling bilinear,
      --no-decoder-batch-norm, --decoder-interpolation bilinear, --deep-supervision).
      --encoder puts the decoder on an ImageNet encoder (see 'encoders').
  train --model NAME --images DIR --masks DIR --out DIR [--epochs 20] [--batch-size 8]
        [--classes 1] [--size S|H,W] [--mask-suffix S] [--validation-split 0.2] [--seed 0]
        [--lr 0.001] [--augment] [--backend auto] [--encoder NAME] [--no-preprocess]
        [--<model option> value ...]
      Train on image/mask pairs matched by file name; saves the best model, training.json,
      history.json and training-curve.svg to --out. With --encoder, images are normalised with
      the encoder's ImageNet statistics (recorded in training.json; --no-preprocess: not).
  predict --model DIR --input FILE|DIR --out DIR [--backend auto] [--no-optimize] [--no-preprocess]
      Write <name>_mask.png and <name>_overlay.png for every image (any size: overlap-tile).
      The model is first optimised for inference (BatchNorm folded into the convolutions);
      --no-optimize predicts with it exactly as saved. A model on an encoder gets its input
      normalisation from its metadata, as train applied it.
  demo [--out demo-output] [--epochs 8] [--count 320] [--size 64] [--backend auto]
      Train a small UNet++ on synthetic cells and write overlays and a training curve.
  models
      List the model names and the encoders.
  encoders
      List the ImageNet encoders (for --encoder).
  help
      Show this text.`;

type Options = Record<string, ArgValue>;

function take(options: Options, key: string): ArgValue | undefined {
  const v = options[key];
  delete options[key];
  return v;
}

function str(options: Options, key: string, required: true): string;
function str(options: Options, key: string, required?: false): string | undefined;
function str(options: Options, key: string, required = false): string | undefined {
  const v = take(options, key);
  if (v === undefined) {
    if (required) throw new Error(`missing --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}\n\n${USAGE}`);
    return undefined;
  }
  return String(v);
}

function num(options: Options, key: string): number | undefined {
  const v = take(options, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw new Error(`--${key} expects a number, got ${String(v)}`);
  return v;
}

function noLeftovers(command: string, options: Options): void {
  const left = Object.keys(options);
  if (left.length > 0) throw new Error(`${command}: unknown option(s) ${left.map((k) => `--${k}`).join(', ')}\n\n${USAGE}`);
}

async function backend(options: Options, log: (s: string) => void): Promise<void> {
  const name = await initBackend((str(options, 'backend') ?? 'auto') as BackendChoice);
  log(`backend: ${name}`);
}

/** A `--flag` / `--no-flag` switch: true, false, or undefined when absent. */
function flag(options: Options, command: string, key: string): boolean | undefined {
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
  const [command, ...rest] = argv;
  const { positional, options } = parseArgs(rest);
  switch (command) {
    case 'summary': {
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
    case 'train': {
      await backend(options, out);
      const size = take(options, 'size');
      await trainCommand({
        model: str(options, 'model', true),
        images: str(options, 'images', true),
        masks: str(options, 'masks', true),
        out: str(options, 'out', true),
        epochs: num(options, 'epochs'),
        batchSize: num(options, 'batchSize'),
        numClasses: num(options, 'classes') ?? num(options, 'numClasses'),
        size: size === undefined ? undefined : Array.isArray(size) ? (size as [number, number]) : Number(size),
        maskSuffix: str(options, 'maskSuffix'),
        validationSplit: num(options, 'validationSplit'),
        seed: num(options, 'seed'),
        learningRate: num(options, 'lr'),
        augment: take(options, 'augment') === true,
        preprocess: flag(options, 'train', 'preprocess'),
        modelOptions: modelOptionsFromArgs(options),
        log: out,
      });
      return 0;
    }
    case 'predict': {
      await backend(options, out);
      const optimize = flag(options, 'predict', 'optimize') ?? true;
      const preprocess = flag(options, 'predict', 'preprocess');
      const o = { model: str(options, 'model', true), input: str(options, 'input', true), out: str(options, 'out', true), optimize, preprocess };
      noLeftovers('predict', options);
      await predictCommand({ ...o, log: out });
      return 0;
    }
    case 'demo': {
      const filters = take(options, 'filters');
      const o = {
        out: str(options, 'out'),
        epochs: num(options, 'epochs'),
        count: num(options, 'count'),
        size: num(options, 'size'),
        batchSize: num(options, 'batchSize'),
        seed: num(options, 'seed'),
        backend: str(options, 'backend'),
        filters: Array.isArray(filters) ? (filters as number[]) : undefined,
      };
      noLeftovers('demo', options);
      const result = await runDemo({ ...o, log: out });
      return result.dice >= 0.8 ? 0 : 2;
    }
    case 'models':
      for (const name of listModels()) out(`${name.padEnd(12)} ${getModelSpec(name).description}`);
      out('');
      out(`Encoders (--encoder NAME with ${ENCODER_ARCHITECTURES.join(', ')}):`);
      listEncoderLines(out);
      return 0;
    case 'encoders':
      listEncoderLines(out);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return 0;
    default:
      throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  }
}
