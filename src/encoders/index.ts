/** The ImageNet encoder registry: segmentation_models.pytorch's ResNet, MobileNetV2 and VGG encoders. */
import { mobilenetV2 } from './mobilenetV2.js';
import { resnet18, resnet34, resnet50 } from './resnet.js';
import type { EncoderPreprocessing, EncoderSpec } from './types.js';
import { vgg16, vgg16Bn } from './vgg.js';

export type {
  EncoderBuildOptions,
  EncoderPreprocessing,
  EncoderSpec,
  FeaturePyramid,
  PretrainedWeights,
} from './types.js';
export { IMAGENET_PREPROCESSING } from './base.js';

const ENCODERS: readonly EncoderSpec[] = [resnet18, resnet34, resnet50, mobilenetV2, vgg16, vgg16Bn];

/** Canonical names of the ImageNet encoders, as in segmentation_models.pytorch. */
export function listEncoders(): string[] {
  return ENCODERS.map((e) => e.name);
}

function normalize(name: string): string {
  return name.trim().toLowerCase().replace(/-/g, '_');
}

/**
 * The encoder registered as `name` (case-insensitive; `-` and `_` are interchangeable, so
 * `'ResNet34'` and `'mobilenet-v2'` work). Unknown names throw an error listing the known ones.
 */
export function getEncoderSpec(name: string): EncoderSpec {
  if (typeof name !== 'string') {
    throw new Error(`Encoder name must be a string, got ${typeof name}. Known encoders: ${listEncoders().join(', ')}.`);
  }
  const spec = ENCODERS.find((e) => e.name === normalize(name));
  if (spec === undefined) {
    throw new Error(`Unknown encoder '${name}'. Known encoders: ${listEncoders().join(', ')}.`);
  }
  return spec;
}

/**
 * The input normalisation the encoder's pretrained weights expect: `x' = (x / scale − mean) / std`
 * per RGB channel, with `x / scale` in `inputRange` (ImageNet mean/std on [0, 1] for every encoder here).
 */
export function encoderPreprocessing(name: string): EncoderPreprocessing {
  const p = getEncoderSpec(name).preprocessing;
  return { inputSpace: p.inputSpace, inputRange: [...p.inputRange], mean: [...p.mean], std: [...p.std] };
}
