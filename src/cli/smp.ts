/**
 * `import-smp` and `export-smp`: segmentation_models.pytorch checkpoints (config.json +
 * model.safetensors, what `save_pretrained` writes) to a TF.js model folder and back; and the
 * model loading `predict` shares with them (a TF.js model folder or an SMP checkpoint folder).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeModelInfo, modelInfo } from '../models/info.js';
import { SMP_CONFIG_FILE, SMP_WEIGHTS_FILE } from '../io/smpCheckpoint.js';
import { loadSmpModel, saveSmpModel } from '../io/smpModel.js';
import { pathKind } from '../io/nodeFiles.js';
import { prepareOutputFolder } from './outputs.js';

const TFJS_FILES = ['model.json', 'weights.bin'];

const exists = async (path: string): Promise<boolean> => (await pathKind(path)) !== null;

/** True when `dir` is an SMP checkpoint folder (config.json + model.safetensors) without a TF.js model.json. */
export async function isSmpCheckpointDir(dir: string): Promise<boolean> {
  return !(await exists(join(dir, 'model.json'))) && (await exists(join(dir, SMP_CONFIG_FILE))) && (await exists(join(dir, SMP_WEIGHTS_FILE)));
}

/**
 * A model for the CLI: a TF.js model folder (`model.json`), a model.json file, or an SMP
 * checkpoint folder (loaded with `loadSmpModel`; `smp` is true then).
 */
export async function loadCliModel(path: string): Promise<{ model: tf.LayersModel; modelJson: string | null; smp: boolean }> {
  if (!path.endsWith('.json') && (await isSmpCheckpointDir(path))) {
    return { model: await loadSmpModel(path), modelJson: null, smp: true };
  }
  const modelJson = path.endsWith('.json') ? path : join(path, 'model.json');
  if (!(await exists(modelJson))) {
    throw new Error(
      `no model at ${path}: expected a TF.js model folder (model.json + weights.bin, as train and import-smp write) ` +
        `or a segmentation_models.pytorch checkpoint folder (${SMP_CONFIG_FILE} + ${SMP_WEIGHTS_FILE}, as save_pretrained writes).`,
    );
  }
  return { model: await tf.loadLayersModel(`file://${modelJson}`), modelJson, smp: false };
}

export interface ImportSmpOptions {
  /** Checkpoint folder, `file://` URL, or http(s) base URL (e.g. a Hub repo's `resolve/<revision>/`). */
  source: string;
  /** Output folder for model.json + weights.bin. */
  out: string;
  /** Fixed input `[H, W]`; default any size (Unet) / any multiple of 2^depth (UnetPlusPlus). */
  size?: [number, number];
  overwrite?: boolean;
  log?: (line: string) => void;
}

/** `import-smp`: an SMP checkpoint → a TF.js model folder (with its ModelInfo, SMP config included). */
export async function importSmpCommand(o: ImportSmpOptions): Promise<string> {
  const log = o.log ?? console.log;
  const remote = /^https?:\/\//i.test(o.source);
  const folder = await prepareOutputFolder(o.out, {
    command: 'import-smp', overwrite: o.overwrite, inputs: remote ? [] : [o.source], ownFiles: TFJS_FILES,
  });
  let model: tf.LayersModel | undefined;
  try {
    model = await loadSmpModel(o.source, o.size === undefined ? {} : { inputShape: o.size });
    log(`model: ${describeModelInfo(modelInfo(model)!)}`);
    await model.save(`file://${o.out}`);
  } catch (e) {
    await folder.cleanup();
    throw e;
  } finally {
    model?.dispose();
  }
  log(`wrote ${join(o.out, 'model.json')} and ${join(o.out, 'weights.bin')}`);
  return join(o.out, 'model.json');
}

export interface ExportSmpOptions {
  /** TF.js model folder (or model.json) of a Unet / Unet++ on an ImageNet encoder. */
  model: string;
  /** Output folder for config.json + model.safetensors. */
  out: string;
  overwrite?: boolean;
  log?: (line: string) => void;
}

/** `export-smp`: a TF.js model folder → config.json + model.safetensors for `smp.from_pretrained`. */
export async function exportSmpCommand(o: ExportSmpOptions): Promise<{ config: string; weights: string }> {
  const log = o.log ?? console.log;
  const { model } = await loadCliModel(o.model);
  try {
    const folder = await prepareOutputFolder(o.out, {
      command: 'export-smp', overwrite: o.overwrite, inputs: [o.model], ownFiles: [SMP_CONFIG_FILE, SMP_WEIGHTS_FILE],
    });
    try {
      const written = await saveSmpModel(model, o.out, { overwrite: o.overwrite });
      log(`wrote ${written.config} and ${written.weights} (Python: segmentation_models_pytorch.from_pretrained('${o.out}'))`);
      return written;
    } catch (e) {
      await folder.cleanup();
      throw e;
    }
  } finally {
    model.dispose();
  }
}
