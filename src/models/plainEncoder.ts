import * as tf from '@tensorflow/tfjs';
import { convBlockEncoder, type ConvEncoderNaming } from '../encoders/convBlocks.js';
import type { FeaturePyramid } from '../encoders/types.js';
import type { ConvLayerOptions } from '../layers/convBlock.js';
import { inputSizeChecked } from '../layers/inputSizeCheck.js';
import type { InputSizeRule } from './inputSize.js';
import type { ResolvedCommonOptions } from './options.js';

/**
 * The image input (`input`) and the plain conv-block encoder of the papers' models on it, with the
 * model's own layer names; also the conv-layer options its decoder shares. On a variable input size
 * the encoder reads the input through an `InputSizeCheck` of `sizeRule`.
 */
export function plainEncoder(
  opts: ResolvedCommonOptions,
  padding: 'valid' | 'same',
  naming: ConvEncoderNaming,
  sizeRule: InputSizeRule,
): { input: tf.SymbolicTensor; pyramid: FeaturePyramid; layers: ConvLayerOptions } {
  const layers = {
    batchNorm: opts.batchNorm,
    batchNormMomentum: opts.batchNormMomentum,
    activation: opts.activation,
    dropout: opts.dropout,
    kernelInitializer: opts.kernelInitializer,
  };
  const input = tf.input({ shape: opts.inputShape, name: 'input' });
  const pyramid = convBlockEncoder(inputSizeChecked(input, sizeRule), { ...layers, filters: opts.filters, padding, naming });
  return { input, pyramid, layers };
}
