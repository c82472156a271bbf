/**
 * segmentation_models.pytorch (SMP) model configs — the `config.json` that `save_pretrained`
 * writes — and what they mean here: the `createModel` options of the same model, and the state
 * dict SMP saves for it (every key, which of them the forward pass uses). Browser-safe.
 */
import { getEncoderSpec, listEncoders } from '../encoders/index.js';
import { batchNormEntries, convEntries } from '../encoders/base.js';
import type { SmpStateEntry } from '../encoders/types.js';
import type { EncoderModelOptions } from '../models/encoderModels.js';
import type { InputShape } from '../models/options.js';

/** SMP model classes that can be imported and exported (`_model_class` in config.json). */
export type SmpArchitecture = 'Unet' | 'UnetPlusPlus';

/** SMP class → `createModel` name. */
export const SMP_ARCHITECTURES: Readonly<Record<SmpArchitecture, 'unet' | 'unet++'>> = { Unet: 'unet', UnetPlusPlus: 'unet++' };

/**
 * The constructor arguments SMP's `Unet` and `UnetPlusPlus` take, with their defaults: what
 * `save_pretrained` records in config.json (plus `_model_class`).
 */
export const SMP_CONFIG_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  encoder_name: 'resnet34',
  encoder_depth: 5,
  encoder_weights: 'imagenet',
  decoder_use_norm: 'batchnorm',
  decoder_channels: [256, 128, 64, 32, 16],
  decoder_attention_type: null,
  decoder_interpolation: 'nearest',
  in_channels: 3,
  classes: 1,
  activation: null,
  aux_params: null,
});

/** SMP `activation` values that have a counterpart here, and the `finalActivation` they become. */
const ACTIVATIONS: Record<string, SmpFinalActivation> = { identity: 'linear', sigmoid: 'sigmoid', softmax2d: 'softmax', softmax: 'softmax' };
const INTERPOLATIONS = ['nearest', 'bilinear'] as const;

/** The `finalActivation` of an imported model (SMP's `activation`: null / identity → linear, sigmoid, softmax2d / softmax → softmax). */
export type SmpFinalActivation = 'linear' | 'sigmoid' | 'softmax';

/** A validated SMP config, in this library's terms. */
export interface SmpModelConfig {
  architecture: SmpArchitecture;
  encoder: string;
  encoderDepth: number;
  inChannels: number;
  numClasses: number;
  decoderChannels: number[];
  decoderBatchNorm: boolean;
  decoderInterpolation: 'nearest' | 'bilinear';
  /** `'linear'` = SMP's `activation: null` (logits). */
  finalActivation: SmpFinalActivation;
}

const PREFIX = 'SMP config';

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function positiveInt(config: Record<string, unknown>, key: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
    throw new Error(`${PREFIX}: ${key} must be ${range}, got ${describe(v)}.`);
  }
  return v;
}

/** SMP's `decoder_use_norm` (or the deprecated `decoder_use_batchnorm`) → BatchNorm (true) or none; unsupported values throw. */
export function parseSmpDecoderNorm(value: unknown): boolean {
  if (value === true || value === false) return value;
  const type = typeof value === 'string' ? value.toLowerCase()
    : isPlainObject(value) && Object.keys(value).length === 1 && typeof value.type === 'string' ? value.type.toLowerCase() : undefined;
  if (type === 'batchnorm') return true;
  if (type === 'identity') return false;
  throw new Error(
    `${PREFIX}: decoder_use_norm ${describe(value)} is not supported: the decoder here has BatchNorm (true, "batchnorm") ` +
      'or no normalisation (false, "identity"), with PyTorch\'s default BatchNorm settings; layernorm, instancenorm, ' +
      'inplace and normalisation options have no counterpart.',
  );
}

/** SMP's `activation` → `finalActivation`; unsupported values throw. */
export function parseSmpActivation(value: unknown): SmpFinalActivation {
  if (value === null || value === undefined) return 'linear';
  const a = typeof value === 'string' ? ACTIVATIONS[value] : undefined;
  if (a === undefined) {
    throw new Error(
      `${PREFIX}: activation ${describe(value)} is not supported; supported: null (logits), "identity", "sigmoid", ` +
        '"softmax2d" and "softmax" (both over the class channels).',
    );
  }
  return a;
}

/**
 * Validates an SMP config (config.json as parsed) and returns what it means. Missing arguments
 * take SMP's defaults, as SMP's constructor does. Unsupported values are errors that name the
 * field and list what is supported: another architecture or encoder, an auxiliary classification
 * head (`aux_params`), decoder attention, interpolation other than nearest / bilinear, a
 * normalisation other than BatchNorm or none, an activation other than identity / sigmoid /
 * softmax, or arguments SMP's Unet does not know.
 */
export function parseSmpConfig(config: Record<string, unknown>): SmpModelConfig {
  if (!isPlainObject(config)) throw new Error(`${PREFIX}: expected the object of config.json, got ${describe(config)}.`);
  const cls = config._model_class;
  if (cls === undefined) {
    throw new Error(`${PREFIX}: no _model_class (save_pretrained writes it: "Unet" or "UnetPlusPlus"); add it to config.json.`);
  }
  if (cls !== 'Unet' && cls !== 'UnetPlusPlus') {
    throw new Error(`${PREFIX}: architecture ${describe(cls)} is not supported; supported: ${Object.keys(SMP_ARCHITECTURES).join(', ')}.`);
  }
  const unknown = Object.keys(config).filter((k) => !k.startsWith('_') && !(k in SMP_CONFIG_DEFAULTS) && k !== 'decoder_use_batchnorm');
  if (unknown.length > 0) {
    throw new Error(
      `${PREFIX}: unknown argument(s) ${unknown.join(', ')} (SMP passes them to timm encoders only); ` +
        `${cls} takes ${Object.keys(SMP_CONFIG_DEFAULTS).join(', ')}.`,
    );
  }
  const c: Record<string, unknown> = { ...SMP_CONFIG_DEFAULTS, ...config };
  // SMP still accepts the deprecated name, which then wins.
  if (config.decoder_use_batchnorm !== undefined && config.decoder_use_batchnorm !== null) c.decoder_use_norm = config.decoder_use_batchnorm;

  const encoder = c.encoder_name;
  if (typeof encoder !== 'string' || !listEncoders().includes(encoder)) {
    throw new Error(`${PREFIX}: encoder_name ${describe(encoder)} is not supported; supported: ${listEncoders().join(', ')}.`);
  }
  const spec = getEncoderSpec(encoder);
  const encoderDepth = positiveInt(c, 'encoder_depth', spec.minDepth, spec.maxDepth);
  const inChannels = positiveInt(c, 'in_channels');
  const numClasses = positiveInt(c, 'classes');
  const channels = c.decoder_channels;
  if (!Array.isArray(channels) || !channels.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
    throw new Error(`${PREFIX}: decoder_channels must be a list of positive integers, got ${describe(channels)}.`);
  }
  if (channels.length !== encoderDepth) {
    throw new Error(`${PREFIX}: decoder_channels has ${channels.length} entries but encoder_depth is ${encoderDepth} (SMP needs one per stage).`);
  }
  if (c.aux_params !== null) {
    throw new Error(`${PREFIX}: aux_params ${describe(c.aux_params)}: the auxiliary classification head is not supported; only aux_params null.`);
  }
  if (c.decoder_attention_type !== null) {
    throw new Error(`${PREFIX}: decoder_attention_type ${describe(c.decoder_attention_type)} is not supported; only null (no attention).`);
  }
  const interpolation = c.decoder_interpolation;
  if (typeof interpolation !== 'string' || !(INTERPOLATIONS as readonly string[]).includes(interpolation)) {
    throw new Error(`${PREFIX}: decoder_interpolation ${describe(interpolation)} is not supported; supported: ${INTERPOLATIONS.join(', ')}.`);
  }
  const weights = c.encoder_weights;
  if (weights !== null && typeof weights !== 'string') {
    throw new Error(`${PREFIX}: encoder_weights must be a string or null, got ${describe(weights)}.`);
  }
  return {
    architecture: cls,
    encoder,
    encoderDepth,
    inChannels,
    numClasses,
    decoderChannels: [...(channels as number[])],
    decoderBatchNorm: parseSmpDecoderNorm(c.decoder_use_norm),
    decoderInterpolation: interpolation as 'nearest' | 'bilinear',
    finalActivation: parseSmpActivation(c.activation),
  };
}

/** Options of the model built from an SMP config (`smpConfigToModelOptions`, `loadSmpModel`). */
export interface SmpModelOptions {
  /**
   * `[H, W]` or `[H, W, C]` (C must be the config's `in_channels`); `null` for a variable size.
   * Default `[null, null, C]`: `Unet` takes any size, `UnetPlusPlus` any multiple of
   * 2^encoder_depth (as in SMP; other sizes are an error at call time).
   */
  inputShape?: readonly (number | null)[];
  /** Model name. Default `unet_<encoder>` / `unet_plus_plus_<encoder>`. */
  name?: string;
}

/**
 * The `createModel` name and options that build the model an SMP config describes (see
 * {@link parseSmpConfig} for what is supported): `const { architecture, options } =
 * smpConfigToModelOptions(config); createModel(architecture, options)`.
 */
export function smpConfigToModelOptions(
  config: Record<string, unknown>,
  options: SmpModelOptions = {},
): { architecture: 'unet' | 'unet++'; options: EncoderModelOptions; config: SmpModelConfig } {
  const m = parseSmpConfig(config);
  const given = options.inputShape;
  if (given !== undefined && (!Array.isArray(given) || (given.length !== 2 && given.length !== 3))) {
    throw new Error(`SMP model: inputShape must be [height, width] or [height, width, channels], got ${describe(given)}.`);
  }
  if (given?.length === 3 && given[2] !== m.inChannels) {
    throw new Error(`SMP model: inputShape has ${String(given[2])} channels but the config's in_channels is ${m.inChannels}.`);
  }
  const [h, w] = given ?? [null, null];
  const inputShape: InputShape = [h ?? null, w ?? null, m.inChannels];
  return {
    architecture: SMP_ARCHITECTURES[m.architecture],
    options: {
      encoder: m.encoder,
      encoderDepth: m.encoderDepth,
      inputShape,
      numClasses: m.numClasses,
      finalActivation: m.finalActivation,
      decoderChannels: [...m.decoderChannels],
      decoderBatchNorm: m.decoderBatchNorm,
      decoderInterpolation: m.decoderInterpolation,
      ...(options.name === undefined ? {} : { name: options.name }),
    },
    config: m,
  };
}

// ---------------------------------------------------------------------------------------------
// The state dict SMP saves

/**
 * `'weight'`: used by SMP's forward pass (the model built here holds it); `'unused'`: a weight SMP
 * keeps but never uses (encoder modules beyond `encoder_depth`, UnetPlusPlus's VGG centre block);
 * `'num_batches_tracked'`: a BatchNorm's int64 step counter (no counterpart here).
 */
export type SmpEntryRole = 'weight' | 'unused' | 'num_batches_tracked';

export interface SmpLayoutEntry extends SmpStateEntry {
  role: SmpEntryRole;
}

const NBT = '.num_batches_tracked';

/** `Conv2dReLU` (conv 3×3, bias only without BatchNorm, → BatchNorm) at `prefix` (`.0`, `.1`). */
function conv2dReLUEntries(prefix: string, out: number, inChannels: number, batchNorm: boolean): SmpStateEntry[] {
  return [...convEntries(`${prefix}.0`, out, inChannels, 3, !batchNorm), ...(batchNorm ? batchNormEntries(`${prefix}.1`, out) : [])];
}

/** Module prefixes SMP keeps for `m` but never runs: encoder modules beyond the depth, UnetPlusPlus's VGG centre block. */
export function smpUnusedPrefixes(m: SmpModelConfig): string[] {
  const spec = getEncoderSpec(m.encoder);
  const out = spec.smpModules(m.inChannels).filter((mod) => mod.depth > m.encoderDepth).map((mod) => mod.prefix);
  if (m.architecture === 'UnetPlusPlus' && m.encoder.startsWith('vgg')) out.push('decoder.center.');
  return out;
}

/**
 * Every entry of the state dict SMP's model for `m` has, in SMP's order, with its PyTorch shape
 * and role: the encoder (all of it, whatever the depth), the decoder (SMP's `UnetDecoder` /
 * `UnetPlusPlusDecoder` channel rules; the centre block for VGG encoders) and the segmentation head.
 */
export function smpStateDictLayout(m: SmpModelConfig): SmpLayoutEntry[] {
  const spec = getEncoderSpec(m.encoder);
  const out: SmpLayoutEntry[] = [];
  const push = (entries: SmpStateEntry[], used: boolean) => {
    for (const e of entries) out.push({ ...e, role: e.key.endsWith(NBT) ? 'num_batches_tracked' : used ? 'weight' : 'unused' });
  };
  for (const mod of spec.smpModules(m.inChannels)) push(mod.entries, mod.depth <= m.encoderDepth);

  // Decoder channels: encoder features f1 … f_depth, deepest first.
  const enc = spec.outChannels.slice(1, m.encoderDepth + 1).reverse();
  const dec = m.decoderChannels;
  const head = enc[0]!;
  const inCh = [head, ...dec.slice(0, -1)];
  const skip = [...enc.slice(1), 0];
  const bn = m.decoderBatchNorm;
  const block = (name: string, inChannels: number, skipChannels: number, outChannels: number): SmpStateEntry[] => [
    ...conv2dReLUEntries(`decoder.blocks.${name}.conv1`, outChannels, inChannels + skipChannels, bn),
    ...conv2dReLUEntries(`decoder.blocks.${name}.conv2`, outChannels, outChannels, bn),
  ];
  if (m.encoder.startsWith('vgg')) {
    const center = [...conv2dReLUEntries('decoder.center.0', head, head, bn), ...conv2dReLUEntries('decoder.center.1', head, head, bn)];
    push(center, m.architecture === 'Unet');
  }
  if (m.architecture === 'Unet') {
    dec.forEach((o, i) => push(block(String(i), inCh[i]!, skip[i]!, o), true));
  } else {
    for (let layer = 0; layer < inCh.length - 1; layer++) {
      for (let d = 0; d <= layer; d++) {
        const entries = d === 0
          ? block(`x_0_${layer}`, inCh[layer]!, skip[layer]! * (layer + 1), dec[layer]!)
          : block(`x_${d}_${layer}`, skip[layer - 1]!, skip[layer]! * (layer + 1 - d), skip[layer]!);
        push(entries, true);
      }
    }
    push(block(`x_0_${inCh.length - 1}`, inCh[inCh.length - 1]!, 0, dec[dec.length - 1]!), true);
  }
  push(convEntries('segmentation_head.0', m.numClasses, dec[dec.length - 1]!, 3, true), true);
  return out;
}
