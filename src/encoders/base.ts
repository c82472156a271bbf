/** What every ImageNet encoder shares: input / depth checks, the pyramid, ImageNet preprocessing. */
import type * as tf from '@tensorflow/tfjs';
import type { EncoderPreprocessing, FeaturePyramid, SmpStateEntry } from './types.js';

/** torchvision's ImageNet normalisation (every SMP ResNet / MobileNetV2 / VGG `imagenet` weight). */
export const IMAGENET_PREPROCESSING: EncoderPreprocessing = {
  inputSpace: 'RGB',
  inputRange: [0, 1],
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** SMP's decoders use encoder depths 3 … 5. */
export const MIN_ENCODER_DEPTH = 3;
export const MAX_ENCODER_DEPTH = 5;

/** Checks the builder's input (`[B, H, W, C]`, C known and ≥ 1) and depth; returns C. */
export function checkEncoderInput(encoder: string, input: tf.SymbolicTensor, depth: number): number {
  if (!Number.isInteger(depth) || depth < MIN_ENCODER_DEPTH || depth > MAX_ENCODER_DEPTH) {
    throw new Error(
      `Encoder '${encoder}': depth must be an integer from ${MIN_ENCODER_DEPTH} to ${MAX_ENCODER_DEPTH} ` +
        `(the number of stride-2 stages), got ${depth}.`,
    );
  }
  const shape = input.shape;
  const c = shape[3];
  if (shape.length !== 4 || c === null || c === undefined || !Number.isInteger(c) || c < 1) {
    throw new Error(
      `Encoder '${encoder}': the input must be [batch, height, width, channels] with a known channel count ≥ 1, ` +
        `got shape [${shape.map((d) => (d === null ? 'null' : d)).join(', ')}].`,
    );
  }
  return c;
}

/** The pyramid of `features` (f0 at stride 1, f_i at stride 2^i). */
export function toPyramid(features: tf.SymbolicTensor[]): FeaturePyramid {
  return {
    features,
    channels: features.map((f) => f.shape[3]!),
    strides: features.map((_, i) => 2 ** i),
  };
}

/** State-dict entries of `nn.Conv2d` (`weight` [out, in, k, k], `bias` [out] when it has one). */
export function convEntries(prefix: string, outChannels: number, inChannels: number, kernelSize: number, bias = false): SmpStateEntry[] {
  const out: SmpStateEntry[] = [{ key: `${prefix}.weight`, shape: [outChannels, inChannels, kernelSize, kernelSize] }];
  if (bias) out.push({ key: `${prefix}.bias`, shape: [outChannels] });
  return out;
}

/** State-dict entries of `nn.BatchNorm2d(channels)`, in PyTorch's order. */
export function batchNormEntries(prefix: string, channels: number): SmpStateEntry[] {
  return [
    ...['weight', 'bias', 'running_mean', 'running_var'].map((p) => ({ key: `${prefix}.${p}`, shape: [channels] })),
    { key: `${prefix}.num_batches_tracked`, shape: [] },
  ];
}
