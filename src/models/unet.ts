import type * as tf from '@tensorflow/tfjs';
import { smpUnetDecoder, unetDecoder } from '../decoders/unet.js';
import type { ResolvedSmpDecoderOptions } from '../decoders/modules.js';
import { CONV_ENCODER_NAMING } from '../encoders/convBlocks.js';
import { segmentationHead } from '../heads/segmentation.js';
import { plainEncoder } from './plainEncoder.js';
import { PLAIN_ENCODER, finishModel, type ModelDescription } from './info.js';
import { checkInputSize, type InputSizeRule } from './inputSize.js';
import {
  type CommonModelOptions,
  type ResolvedCommonOptions,
  COMMON_OPTION_KEYS,
  checkOptionKeys,
  resolveCommonOptions,
} from './options.js';

export { unetOutputSize, unetValidInputSize } from './inputSize.js';

/** Options of the classic UNet (Ronneberger et al., 2015). */
export type UNetOptions = CommonModelOptions;
export const UNET_OPTION_KEYS: readonly string[] = COMMON_OPTION_KEYS;

/**
 * The classic UNet: valid 3×3 convolutions, 2×2 max-pooling, 2×2 up-convolution, centre-cropped
 * skip connections ("copy and crop"), and a 1×1 output convolution. With the defaults
 * (`inputShape [572, 572, 1]`, filters 64..1024, 2 classes) the output is 388×388×2.
 */
export function buildUNet(options: UNetOptions = {}): tf.LayersModel {
  checkOptionKeys('unet', options, UNET_OPTION_KEYS);
  const opts = resolveCommonOptions('unet', options, {
    inputShape: [572, 572, 1],
    numClasses: 2,
    filters: [64, 128, 256, 512, 1024],
    batchNorm: true,
    name: 'unet',
  });
  checkInputSize(unetSizeRule('unet', 'valid', opts), opts.inputShape[0], opts.inputShape[1]);
  return unetGraph(opts, 'valid', 'unet');
}

/**
 * The UNet of the papers, shared by the classic (valid) and padded variants: the plain conv-block
 * encoder, the UNet decoder (×2 upsampling, concatenation with the (cropped) skip, a conv block per
 * level), and a 1×1 head.
 */
export function unetGraph(opts: ResolvedCommonOptions, padding: 'valid' | 'same', architecture: string): tf.LayersModel {
  const { input, pyramid, layers } = plainEncoder(opts, padding, CONV_ENCODER_NAMING.unet, unetSizeRule(architecture, padding, opts));
  const x = unetDecoder(pyramid, { ...layers, padding, upsampling: opts.upsampling });
  const output = segmentationHead(x, {
    numClasses: opts.numClasses,
    activation: opts.finalActivation,
    kernelInitializer: opts.kernelInitializer,
    name: 'head',
  });
  return finishModel(input, [{ tensor: output, role: 'segmentation' }], {
    name: opts.name,
    architecture,
    encoder: PLAIN_ENCODER,
    pyramid,
    options: opts,
  });
}

/** The sizes the UNet of the papers takes: the classic UNet's walk (`'valid'`) or divisible by 2^depth (`'same'`). */
function unetSizeRule(model: string, padding: 'valid' | 'same', opts: ResolvedCommonOptions): InputSizeRule {
  return { model, rule: padding === 'valid' ? 'unet-valid' : 'divisible', depth: opts.filters.length - 1 };
}

/** Head options of the models on an encoder pyramid. */
export interface PyramidHeadOptions {
  numClasses: number;
  /** `'linear'` = segmentation_models.pytorch's `activation=None` (logits). */
  finalActivation: string;
}

/**
 * segmentation_models.pytorch's `Unet` on an encoder's pyramid: {@link smpUnetDecoder} and SMP's
 * segmentation head (Conv2d 3×3 with bias, `segmentation_head.0`, with `finalActivation`). The
 * model's inputs are `inputs` (normally the image the encoder was built on).
 */
export function smpUnetModel(
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  desc: ModelDescription,
  opts: ResolvedSmpDecoderOptions & PyramidHeadOptions,
): tf.LayersModel {
  const x = smpUnetDecoder(desc.pyramid, opts);
  const output = smpSegmentationHead(x, opts);
  return finishModel(inputs, [{ tensor: output, role: 'segmentation' }], desc);
}

/** segmentation_models.pytorch's `SegmentationHead`: Conv2d 3×3 (bias) → activation, `segmentation_head.0`. */
export function smpSegmentationHead(x: tf.SymbolicTensor, opts: PyramidHeadOptions): tf.SymbolicTensor {
  return segmentationHead(x, {
    numClasses: opts.numClasses,
    activation: opts.finalActivation,
    kernelSize: 3,
    kernelInitializer: 'glorotUniform',
    name: 'segmentation_head.0',
  });
}
