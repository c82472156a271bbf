import type * as tf from '@tensorflow/tfjs';
import { buildUNet } from './models/unet.js';
import { buildUNetPadded } from './models/unetPadded.js';
import { buildUNet3Plus } from './models/unet3plus.js';
import { buildUNetPlusPlus } from './models/unetPlusPlus.js';
import { buildEncoderModel, hasEncoderOption, type EncoderArchitecture, type EncoderModelOptions } from './models/encoderModels.js';

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

/**
 * Builds a model by name: `createModel('unet', { inputShape: [572, 572, 1], numClasses: 2 })`.
 * Names are case-insensitive and common aliases work (`unetpp`, `nested-unet`, `unet3plus`, ...).
 * With `encoder` (`createModel('unet', { encoder: 'resnet34' })`) the decoder sits on an ImageNet
 * encoder (see `buildEncoderModel`).
 */
export function createModel(name: string, options: object = {}): tf.LayersModel {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`createModel('${name}', options): options must be an object`);
  }
  return getModelSpec(name).build(options);
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
