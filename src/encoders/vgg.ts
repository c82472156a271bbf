/**
 * torchvision VGG-16 (configuration "D"), with and without BatchNorm, as segmentation_models.pytorch's
 * `VGGEncoder` uses it (no classifier). Features are taken just before each 2×2 max-pool (f0 … f4:
 * real feature maps, f0 at full resolution with 64 channels) and after the last one (f5).
 */
import * as tf from '@tensorflow/tfjs';
import {
  batchNormEntries, checkEncoderInput, convEntries, IMAGENET_PREPROCESSING, MAX_ENCODER_DEPTH, MIN_ENCODER_DEPTH, toPyramid,
} from './base.js';
import { relu, torchBatchNorm, torchConv2d } from './torchLayers.js';
import type { EncoderSpec, FeaturePyramid, SmpEncoderModule } from './types.js';

type T = tf.SymbolicTensor;

const VGG16: readonly (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/** Module index in torchvision's `features` of each item of the configuration. */
function moduleIndexes(batchNorm: boolean): number[] {
  let i = 0;
  return VGG16.map((v) => {
    const at = i;
    i += v === 'M' ? 1 : batchNorm ? 3 : 2;
    return at;
  });
}

function buildVgg(name: string, batchNorm: boolean, input: T, depth: number): FeaturePyramid {
  checkEncoderInput(name, input, depth);
  const at = moduleIndexes(batchNorm);
  const features: T[] = [];
  let x = input;
  for (let k = 0; k < VGG16.length; k++) {
    const v = VGG16[k]!;
    const i = at[k]!;
    if (v === 'M') {
      // The feature before each pool (SMP's out index = pool index − 1).
      features.push(x);
      if (features.length > depth) break;
      x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'valid', name: `encoder.features.${i}` }).apply(x) as T;
      continue;
    }
    x = torchConv2d(x, { name: `encoder.features.${i}`, filters: v, kernelSize: 3, padding: 1, bias: true });
    if (batchNorm) x = torchBatchNorm(x, `encoder.features.${i + 1}`);
    x = relu(x, `encoder.features.${i + (batchNorm ? 2 : 1)}`);
  }
  // At depth 5 the last item is the 5th pool, whose output is f5.
  if (features.length <= depth) features.push(x);
  return toPyramid(features);
}

/**
 * SMP's VGG state dict: each conv (`features.i`, with bias) and BatchNorm (`features.i+1`) is a
 * module; block b (b = 0 … 4, the convs after b pools) is used from depth max(1, b): f_d is taken
 * before pool d + 1, so depth d runs blocks 0 … d.
 */
function vggModules(batchNorm: boolean, inChannels: number): SmpEncoderModule[] {
  const at = moduleIndexes(batchNorm);
  const modules: SmpEncoderModule[] = [];
  let c = inChannels;
  let block = 0;
  VGG16.forEach((v, k) => {
    if (v === 'M') {
      block++;
      return;
    }
    const i = at[k]!;
    const depth = Math.max(1, block);
    modules.push({ prefix: `encoder.features.${i}.`, depth, entries: convEntries(`encoder.features.${i}`, v, c, 3, true) });
    if (batchNorm) modules.push({ prefix: `encoder.features.${i + 1}.`, depth, entries: batchNormEntries(`encoder.features.${i + 1}`, v) });
    c = v;
  });
  return modules;
}

function vggSpec(name: string, batchNorm: boolean, revision: string): EncoderSpec {
  return {
    name,
    description: `VGG-16 (torchvision, configuration D)${batchNorm ? ' with BatchNorm' : ''}`,
    outChannels: [64, 128, 256, 512, 512, 512],
    minDepth: MIN_ENCODER_DEPTH,
    maxDepth: MAX_ENCODER_DEPTH,
    firstConv: 'encoder.features.0',
    build: (input, { depth }) => buildVgg(name, batchNorm, input, depth),
    preprocessing: IMAGENET_PREPROCESSING,
    weights: { imagenet: { repoId: `smp-hub/${name}.imagenet`, revision } },
    smpModules: (inChannels) => vggModules(batchNorm, inChannels),
    // SMP's VGG encoder drops every `classifier*` key.
    droppedPretrainedKeys: /^classifier/,
  };
}

export const vgg16 = vggSpec('vgg16', false, '49d74b799006ee252b86e25acd6f1fd8ac9a99c1');
export const vgg16Bn = vggSpec('vgg16_bn', true, '2c186d02fb519e93219a99a1c2af6295aef0bf0d');
