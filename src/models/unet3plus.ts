import type * as tf from '@tensorflow/tfjs';
import { unet3PlusDecoder } from '../decoders/unet3plus.js';
import { CONV_ENCODER_NAMING } from '../encoders/convBlocks.js';
import { CGM_OUTPUT_NAME, cgmBranch, gateByClass } from '../heads/classification.js';
import { segmentationHead } from '../heads/segmentation.js';
import { CLASS_GATE_ACTIVATIONS, type ClassGateActivation } from '../layers/classGate.js';
import { plainEncoder } from './plainEncoder.js';
import { PLAIN_ENCODER, finishModel, type ModelDescription, type OutputRole } from './info.js';
import {
  type CommonModelOptions,
  COMMON_OPTION_KEYS,
  checkDivisibleInput,
  checkOptionKeys,
  resolveCommonOptions,
} from './options.js';
import { checkInteger, checkOptionalBoolean } from '../util/validate.js';

export { CGM_OUTPUT_NAME, cgmTargets, type CgmTargetsOptions } from '../heads/classification.js';

/**
 * Options of UNet 3+ (Huang et al., ICASSP 2020). The shared `upsampling` option does not apply:
 * UNet 3+ resizes bilinearly (by the paper), and passing `upsampling` throws.
 */
export interface UNet3PlusOptions extends Omit<CommonModelOptions, 'upsampling'> {
  /** Channels of each of the `levels` inputs of a decoder stage (the paper's CatChannels). Default `filters[0]`. */
  catChannels?: number;
  /** A conv3×3 head on every decoder stage and on the bottleneck, each resized to full resolution. Default false (true with `cgm`). */
  deepSupervision?: boolean;
  /** The classification-guided module: one more output `cls` [B, 2]; gates every segmentation output at inference. Implies deep supervision. Default false. */
  cgm?: boolean;
}

export const UNET3PLUS_OPTION_KEYS: readonly string[] = [
  ...COMMON_OPTION_KEYS.filter((k) => k !== 'upsampling'),
  'catChannels',
  'deepSupervision',
  'cgm',
];

/**
 * Output names of a UNet 3+ model with `levels = filters.length` levels, in model output order:
 * `['d1']` without deep supervision; `['d1', ..., 'd<levels>']` with it (final output first, the
 * bottleneck's head last); plus `'cls'` with the CGM.
 */
export function unet3PlusOutputNames(levels: number, deepSupervision: boolean, cgm: boolean): string[] {
  const seg = deepSupervision || cgm ? Array.from({ length: levels }, (_, i) => `d${i + 1}`) : ['d1'];
  return cgm ? [...seg, CGM_OUTPUT_NAME] : seg;
}

/**
 * UNet 3+: an encoder of conv blocks (conv3×3 → BN → ReLU, twice) and 2×2 max-pools, and a decoder
 * whose every stage fuses all scales — shallower encoder maps max-pooled, the same-scale encoder
 * map, deeper decoder maps and the bottleneck bilinearly upsampled — each through conv3×3 →
 * `catChannels` → BN → ReLU, concatenated and fused by conv3×3 → BN → ReLU. Head: conv3×3 to
 * `numClasses` with `finalActivation`. Optional full-scale deep supervision and classification-
 * guided module (see {@link UNet3PlusOptions}); output order in {@link unet3PlusOutputNames}.
 */
export function buildUNet3Plus(options: UNet3PlusOptions = {}): tf.LayersModel {
  if ('upsampling' in options) {
    throw new Error(
      "unet3+: option 'upsampling' does not apply: UNet 3+ resizes every deeper map bilinearly by " +
        'a power of 2 (the paper). Remove the option',
    );
  }
  checkOptionKeys('unet3+', options, UNET3PLUS_OPTION_KEYS);
  const opts = resolveCommonOptions('unet3+', options, {
    inputShape: [256, 256, 1],
    numClasses: 1,
    filters: [64, 128, 256, 512, 1024],
    batchNorm: true,
    name: 'unet3plus',
  });
  const unet3PlusOptions = resolveUNet3PlusExtras('unet3+', options, opts.finalActivation, opts.filters[0]!);
  checkDivisibleInput('unet3+', opts.inputShape, opts.filters.length - 1);
  const sizeRule = { model: 'unet3+', rule: 'divisible', depth: opts.filters.length - 1 } as const;
  const { input, pyramid, layers } = plainEncoder(opts, 'same', CONV_ENCODER_NAMING.unet3Plus, sizeRule);
  const { upsampling: _unused, ...recorded } = opts; // not a UNet 3+ option
  return unet3PlusModel(
    input,
    { name: opts.name, architecture: 'unet3+', encoder: PLAIN_ENCODER, pyramid, options: { ...recorded, ...unet3PlusOptions } },
    { ...layers, ...unet3PlusOptions, numClasses: opts.numClasses, finalActivation: opts.finalActivation, firstFeature: 0 },
  );
}

/** The UNet 3+ options beyond the common ones, resolved. */
export interface UNet3PlusExtras {
  catChannels: number;
  deepSupervision: boolean;
  cgm: boolean;
}

/** Validates `catChannels`, `deepSupervision` and `cgm` (and that the CGM can gate `finalActivation`). */
export function resolveUNet3PlusExtras(
  model: string,
  options: { catChannels?: number; deepSupervision?: boolean; cgm?: boolean },
  finalActivation: string,
  defaultCatChannels: number,
): UNet3PlusExtras {
  const catChannels = checkInteger(model, 'catChannels', options.catChannels ?? defaultCatChannels);
  checkOptionalBoolean(model, 'deepSupervision', options.deepSupervision);
  checkOptionalBoolean(model, 'cgm', options.cgm);
  const cgm = options.cgm ?? false;
  if (cgm && options.deepSupervision === false) {
    throw new Error(
      `${model}: cgm: true implies deep supervision (the CGM gates every side output); ` +
        'leave deepSupervision unset or set it to true',
    );
  }
  const deepSupervision = options.deepSupervision ?? cgm;
  if (cgm && !CLASS_GATE_ACTIVATIONS.includes(finalActivation as ClassGateActivation)) {
    throw new Error(
      `${model}: cgm gates probabilities, so finalActivation must be 'sigmoid' or 'softmax', ` +
        `got '${finalActivation}'`,
    );
  }
  return { catChannels, deepSupervision, cgm };
}

/** Everything {@link unet3PlusModel} needs besides the pyramid. */
export interface UNet3PlusModelOptions extends UNet3PlusExtras {
  numClasses: number;
  finalActivation: string;
  batchNorm: boolean;
  /** BatchNormalization momentum (Keras convention). Default 0.9. */
  batchNormMomentum?: number;
  activation: string;
  dropout: number;
  kernelInitializer: string;
  /** 0: every feature (the plain encoder); 1: leave out f0 (an ImageNet encoder, f0 = the input). */
  firstFeature: 0 | 1;
  /** BatchNormalization epsilon of the decoder units (default tfjs's 1e-3; encoder models: PyTorch's 1e-5). */
  batchNormEpsilon?: number;
}

/**
 * UNet 3+ on a pyramid: {@link unet3PlusDecoder}, then the heads: on stage k (k = 1 only, or
 * 1 … n with deep supervision) a conv3×3 to `numClasses` (`d{k}_conv`), its logits resized
 * bilinearly to full resolution by the stage's stride (`d{k}_up`, when the stride is > 1), then
 * `finalActivation` (`d{k}`). With the CGM ({@link cgmBranch} on the deepest feature) every head
 * is gated by a `ClassGate` named `d{k}` and `cls` is the last output.
 */
export function unet3PlusModel(
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  desc: ModelDescription,
  opts: UNet3PlusModelOptions,
): tf.LayersModel {
  const { stages, strides } = unet3PlusDecoder(desc.pyramid, opts);
  const heads = opts.deepSupervision ? stages.length : 1;
  const seg: tf.SymbolicTensor[] = [];
  for (let k = 1; k <= heads; k++) {
    seg.push(
      segmentationHead(stages[k - 1]!, {
        numClasses: opts.numClasses,
        activation: opts.finalActivation,
        kernelSize: 3,
        kernelInitializer: opts.kernelInitializer,
        name: `d${k}_conv`,
        upsample: strides[k - 1]!,
        upsampleName: `d${k}_up`,
        activationName: opts.cgm ? `d${k}_prob` : `d${k}`,
      }),
    );
  }
  const role = (k: number): OutputRole => (k === 0 ? 'segmentation' : 'deep-supervision');
  if (!opts.cgm) return finishModel(inputs, seg.map((tensor, k) => ({ tensor, role: role(k) })), desc);
  const deepest = desc.pyramid.features[desc.pyramid.features.length - 1]!;
  const cls = cgmBranch(deepest, { kernelInitializer: opts.kernelInitializer });
  const gatedOutputs = gateByClass(seg, cls, opts.finalActivation as ClassGateActivation, seg.map((_, i) => `d${i + 1}`));
  return finishModel(
    inputs,
    [...gatedOutputs.map((tensor, k) => ({ tensor, role: role(k) })), { tensor: cls, role: 'classification' as const }],
    desc,
  );
}
