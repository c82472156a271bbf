/**
 * The models of the benchmarks, named on the command line as `decoder[/encoder][@size]`:
 *
 * - `unet-padded`: a plain model (1 input channel, the bench's `--filters`, BatchNorm) at the
 *   bench's `--size`;
 * - `unet/resnet34@256`: the decoder on an ImageNet encoder with segmentation_models.pytorch's
 *   defaults (3 input channels, decoder channels 256..16, depth 5), at 256×256;
 * - `@size` works for both; without it the bench's `--size` applies.
 *
 * The classic `unet` (valid convolutions) runs at the nearest valid input size below the size.
 */
import type * as tf from '@tensorflow/tfjs';
import { createModel, listEncoders, listModels, unetValidInputSize } from '../src/index.js';

export interface BenchModel {
  /** Canonical name, `decoder[/encoder]@size`, e.g. `unet-padded@128`, `unet/resnet34@256`. */
  id: string;
  /** The decoder (a registered model name). */
  decoder: string;
  /** The ImageNet encoder, or null for the plain model. */
  encoder: string | null;
  /** The requested size. */
  size: number;
  /** The input's height and width (the classic plain `unet`: the nearest valid size). */
  inputSize: number;
  /** Input channels: 1 for the plain models, 3 for encoder models (SMP's default). */
  channels: number;
}

/** Parses `decoder[/encoder][@size]`; `defaultSize` applies without `@size`, `depth` is the plain models' depth. */
export function parseBenchModel(text: string, defaultSize: number, depth: number): BenchModel {
  const m = /^([^/@\s]+)(?:\/([^/@\s]+))?(?:@(\d+))?$/.exec(text.trim());
  if (m === null) throw new Error(`bench: model '${text}' is not 'decoder', 'decoder/encoder' or either with '@size' (e.g. unet/resnet34@256)`);
  const [, decoder, encoder, sizeText] = m as unknown as [string, string, string | undefined, string | undefined];
  if (!listModels().includes(decoder)) throw new Error(`bench: unknown model '${decoder}' in '${text}' (known: ${listModels().join(', ')})`);
  if (encoder !== undefined && !listEncoders().includes(encoder)) {
    throw new Error(`bench: unknown encoder '${encoder}' in '${text}' (known: ${listEncoders().join(', ')})`);
  }
  const size = sizeText === undefined ? defaultSize : Number(sizeText);
  if (!(size >= 1)) throw new Error(`bench: the size in '${text}' must be a positive integer`);
  const inputSize = decoder === 'unet' && encoder === undefined ? unetValidInputSize(size, depth) : size;
  const id = `${decoder}${encoder === undefined ? '' : `/${encoder}`}@${size}`;
  return { id, decoder, encoder: encoder ?? null, size, inputSize, channels: encoder === undefined ? 1 : 3 };
}

/** Builds a bench model: plain with `filters` and BatchNorm, or on its encoder with SMP's defaults; 1 class. */
export function buildBenchModel(m: BenchModel, filters: number[]): tf.LayersModel {
  const inputShape = [m.inputSize, m.inputSize, m.channels];
  return m.encoder === null
    ? createModel(m.decoder, { inputShape, filters, numClasses: 1, batchNorm: true })
    : createModel(m.decoder, { encoder: m.encoder, inputShape, numClasses: 1 });
}
