import type * as tf from '@tensorflow/tfjs';
import { buildUNet } from './models/unet.js';
import { buildUNetPadded } from './models/unetPadded.js';
import { buildUNet3Plus } from './models/unet3plus.js';
import { buildUNetPlusPlus } from './models/unetPlusPlus.js';
import { buildEncoderModel, hasEncoderOption, type EncoderArchitecture, type EncoderModelOptions } from './models/encoderModels.js';
import { loadEncoderWeights, type EncoderWeights, type LoadEncoderWeightsOptions } from './io/encoderWeights.js';

/** A buildable architecture: its canonical name, aliases and builder. */
export interface ModelSpec {
  /** Canonical name, e.g. `'unet++'`. */
  name: string;
  /** Other accepted spellings (matched case-insensitively, ignoring `-`, `_`, spaces and dots). */
  aliases: string[];
  /** One line for `listModels`/CLI help. */
  description: string;
  /** Builds the model from its options (unknown keys and bad values throw). */
  build: (options: object) => tf.LayersModel;
}

const specs = new Map<string, ModelSpec>();
const lookup = new Map<string, string>();

/** Normalises a name for lookup: lower case, `plus` → `+`, separators dropped. */
function key(name: string): string {
  return name.toLowerCase().replace(/plus/g, '+').replace(/[\s_\-.]/g, '');
}

/**
 * Adds an architecture to the registry (used by the library's own models; open to extensions).
 * A name or alias another model already has is an error, and then nothing is registered.
 */
export function registerModel(spec: ModelSpec): void {
  const names = [spec.name, ...spec.aliases];
  // Every name is checked before any is taken: a refused spec leaves the registry as it was.
  for (const alias of names) {
    const owner = lookup.get(key(alias));
    if (owner !== undefined && owner !== spec.name) {
      throw new Error(`registerModel: name '${alias}' of '${spec.name}' is already taken by '${owner}'`);
    }
  }
  for (const alias of names) lookup.set(key(alias), spec.name);
  specs.set(spec.name, spec);
}

/** Canonical names of every registered model. */
export function listModels(): string[] {
  return [...specs.keys()];
}

/** The registered spec for a name or alias; throws listing the known names otherwise. */
export function getModelSpec(name: string): ModelSpec {
  if (typeof name !== 'string') {
    throw new Error(`model name must be a string; known models: ${listModels().join(', ')}`);
  }
  const canonical = lookup.get(key(name));
  if (canonical === undefined) {
    throw new Error(`unknown model '${name}'. Known models: ${listModels().join(', ')}`);
  }
  return specs.get(canonical)!;
}

/** The canonical name for a name or alias (`'UNetPP'` → `'unet++'`). */
export function resolveModelName(name: string): string {
  return getModelSpec(name).name;
}

/** The plain builder, or {@link buildEncoderModel} when the options name an `encoder` (`encoder: undefined` = none). */
function plainOrEncoder(architecture: EncoderArchitecture, plain: (o: object) => tf.LayersModel): (o: object) => tf.LayersModel {
  return (o) => {
    if (hasEncoderOption(o)) return buildEncoderModel(architecture, o as EncoderModelOptions);
    const { encoder: _none, ...rest } = o as { encoder?: undefined };
    return plain(rest);
  };
}

/** The options of {@link createModelAsync} beyond `createModel`'s: pretrained encoder weights. */
export interface EncoderWeightsOption {
  /**
   * Pretrained encoder weights: `'imagenet'` (the weights segmentation_models.pytorch publishes for
   * the encoder, downloaded once and cached), or the weight file: a path, a URL, bytes or a Blob.
   * `null` or absent: none (the model is built as `createModel` builds it).
   */
  encoderWeights?: EncoderWeights | null;
  /** Download options (cache folder, Hub URL, progress, checksum, ...): see `fetchPretrainedFile`. */
  encoderWeightsOptions?: LoadEncoderWeightsOptions;
}

/**
 * Builds a model by name: `createModel('unet', { inputShape: [572, 572, 1], numClasses: 2 })`.
 * Names are case-insensitive and common aliases work (`unetpp`, `nested-unet`, `unet3plus`, ...).
 * With `encoder` (`createModel('unet', { encoder: 'resnet34' })`) the decoder sits on an ImageNet
 * encoder (see `buildEncoderModel`). Synchronous: pretrained encoder weights, which may be
 * downloaded, are loaded by {@link createModelAsync}.
 */
export function createModel(name: string, options: object = {}): tf.LayersModel {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`createModel('${name}', options): options must be an object`);
  }
  const { encoderWeights, encoderWeightsOptions } = options as EncoderWeightsOption;
  if ((encoderWeights !== undefined && encoderWeights !== null) || encoderWeightsOptions !== undefined) {
    throw new Error(
      `createModel('${name}'): encoderWeights may need a download, so createModel (synchronous) does not take it: ` +
        `use \`await createModelAsync('${name}', { ...options, encoderWeights })\`.`,
    );
  }
  const { encoderWeights: _none, ...rest } = options as EncoderWeightsOption;
  return getModelSpec(name).build('encoderWeights' in options ? rest : options);
}

/**
 * `createModel`, then the encoder's pretrained weights: `await createModelAsync('unet', { encoder:
 * 'resnet34', encoderWeights: 'imagenet' })`. `encoderWeights` is a tag (`'imagenet'`: the file
 * segmentation_models.pytorch publishes for the encoder on the Hugging Face Hub, at a pinned
 * revision, downloaded once and cached) or the weight file itself (path, URL, bytes, Blob); see
 * `loadEncoderWeights` for the checks and the first-conv adaptation for input channels ≠ 3.
 * Without `encoderWeights` it resolves to what `createModel` returns.
 */
export async function createModelAsync<O extends object>(name: string, options?: O & EncoderWeightsOption): Promise<tf.LayersModel> {
  const given: unknown = options ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new Error(`createModelAsync('${name}', options): options must be an object`);
  }
  const { encoderWeights, encoderWeightsOptions, ...rest } = given as EncoderWeightsOption;
  if (encoderWeights === undefined || encoderWeights === null) {
    if (encoderWeightsOptions !== undefined) {
      throw new Error(`createModelAsync('${name}'): encoderWeightsOptions applies to encoderWeights, which is not set`);
    }
    return createModel(name, rest);
  }
  if (!hasEncoderOption(rest)) {
    throw new Error(`createModelAsync('${name}'): encoderWeights needs an ImageNet encoder: add encoder (e.g. encoder: 'resnet34')`);
  }
  const model = createModel(name, rest);
  try {
    await loadEncoderWeights(model, encoderWeights, encoderWeightsOptions);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

registerModel({
  name: 'unet',
  aliases: ['classic-unet', 'unet-valid', 'unet2015'],
  description: 'Classic UNet (Ronneberger 2015): valid convs, centre-cropped skips; output smaller than input',
  build: plainOrEncoder('unet', (o) => buildUNet(o)),
});
registerModel({
  name: 'unet-padded',
  aliases: ['padded-unet', 'unet-same'],
  description: "UNet with 'same' convs: output size = input size",
  build: plainOrEncoder('unet-padded', (o) => buildUNetPadded(o)),
});
registerModel({
  name: 'unet++',
  aliases: ['unetpp', 'unet_plus_plus', 'nested-unet', 'unet2plus', 'unet-nested'],
  description: 'UNet++ (Zhou 2018): nested dense skip pathways, optional deep supervision, prunable',
  build: plainOrEncoder('unet++', (o) => buildUNetPlusPlus(o)),
});
registerModel({
  name: 'unet3+',
  aliases: ['unet3plus', 'unet-3plus', 'unet_3plus', 'unet+++', 'unet3p', 'unet-3p'],
  description: 'UNet 3+ (Huang 2020): full-scale skips, optional full-scale deep supervision and classification-guided module',
  build: plainOrEncoder('unet3+', (o) => buildUNet3Plus(o)),
});
