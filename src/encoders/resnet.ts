/**
 * torchvision ResNet-18 / 34 / 50 as segmentation_models.pytorch's `ResNetEncoder` uses it (no
 * `fc`, no `avgpool`): features [x, relu(bn1(conv1 x)), layer1(maxpool …), layer2, layer3, layer4].
 */
import type * as tf from '@tensorflow/tfjs';
import {
  batchNormEntries, checkEncoderInput, convEntries, IMAGENET_PREPROCESSING, MAX_ENCODER_DEPTH, MIN_ENCODER_DEPTH, toPyramid,
} from './base.js';
import { add, channelsOf, relu, torchBatchNorm, torchConv2d, torchMaxPool2dAfterRelu } from './torchLayers.js';
import type { EncoderSpec, FeaturePyramid, SmpEncoderModule, SmpStateEntry } from './types.js';

type T = tf.SymbolicTensor;

interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  /** Blocks in layer1 … layer4. */
  layers: [number, number, number, number];
}

const EXPANSION = { basic: 1, bottleneck: 4 } as const;

/** The shortcut: identity, or `downsample` = 1×1 conv with the stride (no bias) → BN. */
function shortcut(x: T, prefix: string, outChannels: number, stride: number): T {
  if (stride === 1 && channelsOf(x) === outChannels) return x;
  const y = torchConv2d(x, { name: `${prefix}.downsample.0`, filters: outChannels, kernelSize: 1, stride });
  return torchBatchNorm(y, `${prefix}.downsample.1`);
}

/** BasicBlock: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut); the stride is on conv1. */
function basicBlock(x: T, prefix: string, planes: number, stride: number): T {
  let y = torchConv2d(x, { name: `${prefix}.conv1`, filters: planes, kernelSize: 3, stride, padding: 1 });
  y = relu(torchBatchNorm(y, `${prefix}.bn1`), `${prefix}.relu1`);
  y = torchConv2d(y, { name: `${prefix}.conv2`, filters: planes, kernelSize: 3, padding: 1 });
  y = torchBatchNorm(y, `${prefix}.bn2`);
  return relu(add(y, shortcut(x, prefix, planes, stride), `${prefix}.add`), `${prefix}.relu2`);
}

/** Bottleneck (v1.5, stride on the 3×3 conv2): 1×1 → 3×3 → 1×1 (×4), + shortcut, relu. */
function bottleneck(x: T, prefix: string, planes: number, stride: number): T {
  let y = torchConv2d(x, { name: `${prefix}.conv1`, filters: planes, kernelSize: 1 });
  y = relu(torchBatchNorm(y, `${prefix}.bn1`), `${prefix}.relu1`);
  y = torchConv2d(y, { name: `${prefix}.conv2`, filters: planes, kernelSize: 3, stride, padding: 1 });
  y = relu(torchBatchNorm(y, `${prefix}.bn2`), `${prefix}.relu2`);
  y = torchConv2d(y, { name: `${prefix}.conv3`, filters: planes * 4, kernelSize: 1 });
  y = torchBatchNorm(y, `${prefix}.bn3`);
  return relu(add(y, shortcut(x, prefix, planes * 4, stride), `${prefix}.add`), `${prefix}.relu3`);
}

function resnetLayer(x: T, cfg: ResNetConfig, index: number, planes: number, stride: number): T {
  const block = cfg.block === 'basic' ? basicBlock : bottleneck;
  let y = x;
  for (let b = 0; b < cfg.layers[index - 1]!; b++) {
    y = block(y, `encoder.layer${index}.${b}`, planes, b === 0 ? stride : 1);
  }
  return y;
}

function buildResNet(name: string, cfg: ResNetConfig, input: T, depth: number): FeaturePyramid {
  checkEncoderInput(name, input, depth);
  const features: T[] = [input];
  let x = torchConv2d(input, { name: 'encoder.conv1', filters: 64, kernelSize: 7, stride: 2, padding: 3 });
  x = relu(torchBatchNorm(x, 'encoder.bn1'), 'encoder.relu');
  features.push(x);
  x = torchMaxPool2dAfterRelu(x, { name: 'encoder.maxpool', poolSize: 3, stride: 2, padding: 1 });
  const planes = [64, 128, 256, 512];
  for (let layer = 1; layer < depth; layer++) {
    x = resnetLayer(x, cfg, layer, planes[layer - 1]!, layer === 1 ? 1 : 2);
    features.push(x);
  }
  return toPyramid(features);
}

/**
 * SMP's ResNet state dict: `conv1`, `bn1` (used from depth 1), `layer1` … `layer4` (used from
 * depth 2 … 5); `fc` is deleted by SMP.
 */
function resnetModules(cfg: ResNetConfig, inChannels: number): SmpEncoderModule[] {
  const modules: SmpEncoderModule[] = [
    { prefix: 'encoder.conv1.', depth: 1, entries: convEntries('encoder.conv1', 64, inChannels, 7) },
    { prefix: 'encoder.bn1.', depth: 1, entries: batchNormEntries('encoder.bn1', 64) },
  ];
  const e = EXPANSION[cfg.block];
  let inplanes = 64;
  for (let layer = 1; layer <= 4; layer++) {
    const planes = 64 * 2 ** (layer - 1);
    const entries: SmpStateEntry[] = [];
    for (let b = 0; b < cfg.layers[layer - 1]!; b++) {
      const p = `encoder.layer${layer}.${b}`;
      if (cfg.block === 'basic') {
        entries.push(...convEntries(`${p}.conv1`, planes, inplanes, 3), ...batchNormEntries(`${p}.bn1`, planes));
        entries.push(...convEntries(`${p}.conv2`, planes, planes, 3), ...batchNormEntries(`${p}.bn2`, planes));
      } else {
        entries.push(...convEntries(`${p}.conv1`, planes, inplanes, 1), ...batchNormEntries(`${p}.bn1`, planes));
        entries.push(...convEntries(`${p}.conv2`, planes, planes, 3), ...batchNormEntries(`${p}.bn2`, planes));
        entries.push(...convEntries(`${p}.conv3`, planes * 4, planes, 1), ...batchNormEntries(`${p}.bn3`, planes * 4));
      }
      const stride = b === 0 && layer > 1 ? 2 : 1;
      if (b === 0 && (stride !== 1 || inplanes !== planes * e)) {
        entries.push(...convEntries(`${p}.downsample.0`, planes * e, inplanes, 1), ...batchNormEntries(`${p}.downsample.1`, planes * e));
      }
      inplanes = planes * e;
    }
    modules.push({ prefix: `encoder.layer${layer}.`, depth: layer + 1, entries });
  }
  return modules;
}

function resnetSpec(
  name: string,
  cfg: ResNetConfig,
  description: string,
  weights: { repoId: string; revision: string },
): EncoderSpec {
  const e = EXPANSION[cfg.block];
  return {
    name,
    description,
    outChannels: [3, 64, 64 * e, 128 * e, 256 * e, 512 * e],
    minDepth: MIN_ENCODER_DEPTH,
    maxDepth: MAX_ENCODER_DEPTH,
    firstConv: 'encoder.conv1',
    build: (input, { depth }) => buildResNet(name, cfg, input, depth),
    preprocessing: IMAGENET_PREPROCESSING,
    weights: { imagenet: weights },
    smpModules: (inChannels) => resnetModules(cfg, inChannels),
    droppedPretrainedKeys: /^fc\.(weight|bias)$/,
  };
}

export const resnet18 = resnetSpec(
  'resnet18',
  { block: 'basic', layers: [2, 2, 2, 2] },
  'ResNet-18 (torchvision), BasicBlock ×[2,2,2,2]',
  { repoId: 'smp-hub/resnet18.imagenet', revision: '3f2325ff978283d47aa6a1d6878ca20565622683' },
);

export const resnet34 = resnetSpec(
  'resnet34',
  { block: 'basic', layers: [3, 4, 6, 3] },
  'ResNet-34 (torchvision), BasicBlock ×[3,4,6,3]',
  { repoId: 'smp-hub/resnet34.imagenet', revision: '7a57b34f723329ff020b3f8bc41771163c519d0c' },
);

export const resnet50 = resnetSpec(
  'resnet50',
  { block: 'bottleneck', layers: [3, 4, 6, 3] },
  'ResNet-50 (torchvision v1.5), Bottleneck ×[3,4,6,3]',
  { repoId: 'smp-hub/resnet50.imagenet', revision: '00cb74e366966d59cd9a35af57e618af9f88efe9' },
);
