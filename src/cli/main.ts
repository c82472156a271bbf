/** The CLI's commands, separate from the executable so tests can call them. */
import { modelOptionsFromArgs, parseArgs } from './args.js';
import { getModelSpec, listModels, createModel } from '../registry.js';
import { summarize } from '../summary.js';

const USAGE = `Usage: segmentation-models-tfjs <command> [options]

Commands:
  summary <model> [--input H,W,C] [--classes N] [--filters f1,f2,...] [--<option> value ...]
      Build a model and print its layer table and parameter counts.
      Any model option works as --kebab-case (e.g. --no-batch-norm, --upsampling bilinear).
  models
      List the model names.
  help
      Show this text.`;

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
      model.dispose();
      return 0;
    }
    case 'models':
      for (const name of listModels()) out(`${name.padEnd(12)} ${getModelSpec(name).description}`);
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

