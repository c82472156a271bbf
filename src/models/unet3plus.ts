import * as tf from '@tensorflow/tfjs';
import { ClassGate, CLASS_GATE_ACTIVATIONS, type ClassGateActivation } from '../layers/classGate.js';
import { convBlock } from '../layers/convBlock.js';
import { upsampleBy } from '../layers/upsample.js';
import {
  type CommonModelOptions,
  type ResolvedCommonOptions,
  COMMON_OPTION_KEYS,
  checkBooleanOption,
  checkDivisibleInput,
  checkOptionKeys,
  isPositiveInt,
  outputHead,
  resolveCommonOptions,
} from './options.js';

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

/** Name of the `cls` output of a CGM model. */
export const CGM_OUTPUT_NAME = 'cls';

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
  const catChannels = options.catChannels ?? opts.filters[0]!;
  if (!isPositiveInt(catChannels)) {
    throw new Error(`unet3+: catChannels must be a positive integer, got ${String(catChannels)}`);
  }
  checkBooleanOption('unet3+', 'deepSupervision', options.deepSupervision);
  checkBooleanOption('unet3+', 'cgm', options.cgm);
  const cgm = options.cgm ?? false;
  if (cgm && options.deepSupervision === false) {
    throw new Error(
      'unet3+: cgm: true implies deep supervision (the CGM gates every side output); ' +
        'leave deepSupervision unset or set it to true',
    );
  }
  const deepSupervision = options.deepSupervision ?? cgm;
  if (cgm && !CLASS_GATE_ACTIVATIONS.includes(opts.finalActivation as ClassGateActivation)) {
    throw new Error(
      `unet3+: cgm gates probabilities, so finalActivation must be 'sigmoid' or 'softmax', ` +
        `got '${opts.finalActivation}'`,
    );
  }
  checkDivisibleInput('unet3+', opts.inputShape, opts.filters.length - 1);
  return unet3PlusGraph(opts, { catChannels, deepSupervision, cgm });
}

function unet3PlusGraph(
  opts: ResolvedCommonOptions,
  extra: { catChannels: number; deepSupervision: boolean; cgm: boolean },
): tf.LayersModel {
  const { filters, name } = opts;
  const levels = filters.length;
  const unit = (x: tf.SymbolicTensor, f: number, convs: number, unitName: string) =>
    convBlock(x, {
      filters: f,
      convs,
      padding: 'same',
      batchNorm: opts.batchNorm,
      activation: opts.activation,
      dropout: opts.dropout,
      kernelInitializer: opts.kernelInitializer,
      name: unitName,
    });
  const pool = (x: tf.SymbolicTensor, factor: number, poolName: string) =>
    // kernel = stride, 'same' padding = PyTorch's ceil_mode.
    tf.layers
      .maxPooling2d({ poolSize: factor, strides: factor, padding: 'same', name: poolName })
      .apply(x) as tf.SymbolicTensor;

  const input = tf.input({ shape: opts.inputShape, name: 'input' });
  // Encoder: enc[s] is the paper's X_En^s (1-based); enc[levels] is the bottleneck.
  const enc: tf.SymbolicTensor[] = [];
  let x = input;
  for (let s = 1; s <= levels; s++) {
    if (s > 1) x = pool(x, 2, `pool${s - 1}`);
    x = unit(x, filters[s - 1]!, 2, `enc${s}`);
    enc[s] = x;
  }
  // Decoder: dec[d] is X_De^d; the bottleneck serves as dec[levels].
  const dec: tf.SymbolicTensor[] = [];
  dec[levels] = enc[levels]!;
  for (let d = levels - 1; d >= 1; d--) {
    const parts: tf.SymbolicTensor[] = [];
    for (let s = 1; s <= levels; s++) {
      let src: tf.SymbolicTensor;
      let tag: string;
      if (s < d) {
        tag = `dec${d}_enc${s}`;
        src = pool(enc[s]!, 2 ** (d - s), `${tag}_pool`);
      } else if (s === d) {
        tag = `dec${d}_enc${s}`;
        src = enc[s]!;
      } else {
        tag = `dec${d}_dec${s}`;
        src = upsampleBy(dec[s]!, 2 ** (s - d), 'bilinear', `${tag}_up`);
      }
      parts.push(unit(src, extra.catChannels, 1, tag));
    }
    const cat = tf.layers.concatenate({ axis: -1, name: `dec${d}_concat` }).apply(parts) as tf.SymbolicTensor;
    dec[d] = unit(cat, extra.catChannels * levels, 1, `dec${d}_fuse`);
  }

  // Heads: conv3×3 → (bilinear ×2^(k−1)) → finalActivation. Output k is named `d<k>`.
  const gated = extra.cgm;
  const heads = extra.deepSupervision ? levels : 1;
  const seg: tf.SymbolicTensor[] = [];
  for (let k = 1; k <= heads; k++) {
    let y = outputHead(dec[k]!, {
      numClasses: opts.numClasses,
      finalActivation: 'linear',
      kernelSize: 3,
      kernelInitializer: opts.kernelInitializer,
      name: `d${k}_conv`,
    });
    if (k > 1) y = upsampleBy(y, 2 ** (k - 1), 'bilinear', `d${k}_up`);
    y = tf.layers
      .activation({ activation: opts.finalActivation as never, name: gated ? `d${k}_prob` : `d${k}` })
      .apply(y) as tf.SymbolicTensor;
    seg.push(y);
  }
  if (!extra.cgm) return tf.model({ inputs: input, outputs: seg.length === 1 ? seg[0]! : seg, name });

  // Classification-guided module on the bottleneck: Dropout(0.5) → 1×1 conv → 2 → global max-pool → sigmoid.
  let c = tf.layers.dropout({ rate: 0.5, name: 'cls_dropout' }).apply(enc[levels]!) as tf.SymbolicTensor;
  c = tf.layers
    .conv2d({ filters: 2, kernelSize: 1, kernelInitializer: opts.kernelInitializer as never, name: 'cls_conv' })
    .apply(c) as tf.SymbolicTensor;
  c = tf.layers.globalMaxPooling2d({ name: 'cls_pool' }).apply(c) as tf.SymbolicTensor;
  const cls = tf.layers.activation({ activation: 'sigmoid', name: CGM_OUTPUT_NAME }).apply(c) as tf.SymbolicTensor;
  const outputs = seg.map(
    (y, i) =>
      new ClassGate({ activation: opts.finalActivation as ClassGateActivation, name: `d${i + 1}` }).apply([
        y,
        cls,
      ]) as tf.SymbolicTensor,
  );
  return tf.model({ inputs: input, outputs: [...outputs, cls], name });
}

/** Options of {@link cgmTargets}. */
export interface CgmTargetsOptions {
  /** A pixel is "object" when a non-background value exceeds this. Default 0.5. */
  threshold?: number;
}

/**
 * Targets of the CGM's `cls` output from a batch of masks `[B, H, W, C]`: `[B, 2]` float32 one-hot
 * `[empty, object]`, where an image holds an object when any pixel is non-background:
 * - `C = 1` (binary masks, or integer class maps with 0 = background): any value > `threshold`;
 * - `C > 1` (one-hot, channel 0 = background): any value of channels 1.. > `threshold`.
 */
export function cgmTargets(masks: tf.Tensor, opts: CgmTargetsOptions = {}): tf.Tensor2D {
  if (!(masks instanceof tf.Tensor) || masks.rank !== 4) {
    const shape = masks instanceof tf.Tensor ? JSON.stringify(masks.shape) : typeof masks;
    throw new Error(`cgmTargets: masks must be a [batch, height, width, channels] tensor, got ${shape}`);
  }
  const threshold = opts.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new Error(`cgmTargets: threshold must be a finite number, got ${String(threshold)}`);
  }
  const [b, h, w, c] = masks.shape as [number, number, number, number];
  if (c < 1) throw new Error('cgmTargets: masks have no channels');
  return tf.tidy(() => {
    const foreground = c === 1 ? masks : tf.slice(masks, [0, 0, 0, 1], [b, h, w, c - 1]);
    const peak = tf.max(tf.reshape(tf.cast(foreground, 'float32'), [b, -1]), 1);
    const object = tf.cast(tf.greater(peak, threshold), 'int32');
    return tf.oneHot(object, 2).cast('float32') as tf.Tensor2D;
  });
}
