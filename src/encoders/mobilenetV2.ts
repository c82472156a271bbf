/**
 * torchvision MobileNetV2 (width 1.0) as segmentation_models.pytorch's `MobileNetV2Encoder` uses
 * it (no classifier): features [x, features[1], features[3], features[6], features[13], features[18]].
 */
import type * as tf from '@tensorflow/tfjs';
import {
  batchNormEntries, checkEncoderInput, convEntries, IMAGENET_PREPROCESSING, MAX_ENCODER_DEPTH, MIN_ENCODER_DEPTH, toPyramid,
} from './base.js';
import { add, channelsOf, relu6, torchBatchNorm, torchConv2d, torchDepthwiseConv2d } from './torchLayers.js';
import type { EncoderSpec, FeaturePyramid, SmpEncoderModule, SmpStateEntry } from './types.js';

type T = tf.SymbolicTensor;

/** Inverted-residual groups (expansion t, output channels c, repeats n, first stride s). */
const SETTINGS: readonly [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];
/** Indices into `features` whose outputs are f1 … f5. */
const OUT_INDEXES = [1, 3, 6, 13, 18];

/** `Conv2dNormActivation`: conv (no bias, pad (k−1)/2) → BN → ReLU6, as `${prefix}.{0,1,2}`. */
function convBnRelu6(x: T, prefix: string, filters: number, kernelSize: number, stride: number): T {
  const y = torchConv2d(x, { name: `${prefix}.0`, filters, kernelSize, stride, padding: (kernelSize - 1) >> 1 });
  return relu6(torchBatchNorm(y, `${prefix}.1`), `${prefix}.2`);
}

/** InvertedResidual: [1×1 expand →] 3×3 depthwise → 1×1 linear projection → BN [+ x]. */
function invertedResidual(x: T, prefix: string, outChannels: number, stride: number, t: number): T {
  const inChannels = channelsOf(x);
  const hidden = Math.round(inChannels * t);
  let y = x;
  let j = 0;
  if (t !== 1) y = convBnRelu6(y, `${prefix}.conv.${j++}`, hidden, 1, 1);
  y = torchDepthwiseConv2d(y, { name: `${prefix}.conv.${j}.0`, kernelSize: 3, stride, padding: 1 });
  y = relu6(torchBatchNorm(y, `${prefix}.conv.${j}.1`), `${prefix}.conv.${j}.2`);
  y = torchConv2d(y, { name: `${prefix}.conv.${j + 1}`, filters: outChannels, kernelSize: 1 });
  y = torchBatchNorm(y, `${prefix}.conv.${j + 2}`);
  return stride === 1 && inChannels === outChannels ? add(x, y, `${prefix}.add`) : y;
}

function buildMobileNetV2(input: T, depth: number): FeaturePyramid {
  checkEncoderInput('mobilenet_v2', input, depth);
  const last = OUT_INDEXES[depth - 1]!;
  const features: T[] = [input];
  let x = convBnRelu6(input, 'encoder.features.0', 32, 3, 2);
  let index = 1;
  for (const [t, c, n, s] of SETTINGS) {
    for (let r = 0; r < n && index <= last; r++, index++) {
      x = invertedResidual(x, `encoder.features.${index}`, c, r === 0 ? s : 1, t);
      if (OUT_INDEXES.includes(index)) features.push(x);
    }
  }
  if (index <= last) {
    x = convBnRelu6(x, `encoder.features.${index}`, 1280, 1, 1);
    features.push(x);
  }
  return toPyramid(features);
}

/** Conv (no bias) → BN entries of a `Conv2dNormActivation` at `prefix` (`.0`, `.1`). */
function convBnEntries(prefix: string, out: number, inChannels: number, kernelSize: number): SmpStateEntry[] {
  return [...convEntries(`${prefix}.0`, out, inChannels, kernelSize), ...batchNormEntries(`${prefix}.1`, out)];
}

/**
 * SMP's MobileNetV2 state dict: `features.0` … `features.18` (the classifier is deleted); module i
 * is used from the depth of the first output index ≥ i.
 */
function mobilenetV2Modules(inChannels: number): SmpEncoderModule[] {
  const depthOf = (i: number) => OUT_INDEXES.findIndex((o) => o >= i) + 1;
  const modules: SmpEncoderModule[] = [{ prefix: 'encoder.features.0.', depth: 1, entries: convBnEntries('encoder.features.0', 32, inChannels, 3) }];
  let index = 1;
  let c = 32;
  for (const [t, out, n] of SETTINGS) {
    for (let r = 0; r < n; r++, index++) {
      const p = `encoder.features.${index}.conv`;
      const hidden = Math.round(c * t);
      let j = 0;
      const entries: SmpStateEntry[] = [];
      if (t !== 1) entries.push(...convBnEntries(`${p}.${j++}`, hidden, c, 1));
      // Depthwise: weight [hidden, 1, 3, 3].
      entries.push({ key: `${p}.${j}.0.weight`, shape: [hidden, 1, 3, 3] }, ...batchNormEntries(`${p}.${j}.1`, hidden));
      entries.push(...convEntries(`${p}.${j + 1}`, out, hidden, 1), ...batchNormEntries(`${p}.${j + 2}`, out));
      modules.push({ prefix: `encoder.features.${index}.`, depth: depthOf(index), entries });
      c = out;
    }
  }
  modules.push({ prefix: `encoder.features.${index}.`, depth: depthOf(index), entries: convBnEntries(`encoder.features.${index}`, 1280, c, 1) });
  return modules;
}

export const mobilenetV2: EncoderSpec = {
  name: 'mobilenet_v2',
  description: 'MobileNetV2 (torchvision, width 1.0), inverted residuals with ReLU6',
  outChannels: [3, 16, 24, 32, 96, 1280],
  minDepth: MIN_ENCODER_DEPTH,
  maxDepth: MAX_ENCODER_DEPTH,
  firstConv: 'encoder.features.0.0',
  build: (input, { depth }) => buildMobileNetV2(input, depth),
  preprocessing: IMAGENET_PREPROCESSING,
  weights: { imagenet: { repoId: 'smp-hub/mobilenet_v2.imagenet', revision: 'e67aa804e17f7b404b629127eabbd224c4e0690b' } },
  smpModules: mobilenetV2Modules,
  droppedPretrainedKeys: /^classifier\.1\.(weight|bias)$/,
};
