import type * as tf from '@tensorflow/tfjs';
import { unetGraph, UNET_OPTION_KEYS, type UNetOptions } from './unet.js';
import { checkDivisibleInput, checkOptionKeys, resolveCommonOptions } from './options.js';

/** Options of the padded UNet. */
export type UNetPaddedOptions = UNetOptions;

/**
 * The UNet topology with `'same'` convolutions: no cropping, output size = input size. Height and
 * width must be divisible by `2^(filters.length − 1)`.
 */
export function buildUNetPadded(options: UNetPaddedOptions = {}): tf.LayersModel {
  checkOptionKeys('unet-padded', options, UNET_OPTION_KEYS);
  const opts = resolveCommonOptions('unet-padded', options, {
    inputShape: [256, 256, 1],
    numClasses: 1,
    filters: [64, 128, 256, 512, 1024],
    batchNorm: true,
    name: 'unet_padded',
  });
  checkDivisibleInput('unet-padded', opts.inputShape, opts.filters.length - 1);
  return unetGraph(opts, 'same', 'unet-padded');
}
