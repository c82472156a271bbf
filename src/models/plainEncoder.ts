import * as tf from '@tensorflow/tfjs';
import { convBlockEncoder, type ConvEncoderNaming } from '../encoders/convBlocks.js';
import type { FeaturePyramid } from '../encoders/types.js';
import type { ConvLayerOptions } from '../layers/convBlock.js';
import type { ResolvedCommonOptions } from './options.js';

/**
 * The image input (`input`) and the plain conv-block encoder of the papers' models on it, with the
 * model's own layer names; also the conv-layer options its decoder shares.
 */
export function plainEncoder(
  opts: ResolvedCommonOptions,
  padding: 'valid' | 'same',
  naming: ConvEncoderNaming,
): { input: tf.SymbolicTensor; pyramid: FeaturePyramid; layers: ConvLayerOptions } {
  const layers = {
    batchNorm: opts.batchNorm,
    activation: opts.activation,
    dropout: opts.dropout,
    kernelInitializer: opts.kernelInitializer,
  };
  const input = tf.input({ shape: opts.inputShape, name: 'input' });
  const pyramid = convBlockEncoder(input, { ...layers, filters: opts.filters, padding, naming });
  return { input, pyramid, layers };
}
