/**
 * Overlap-tile prediction (Ronneberger et al. 2015, Fig. 2) for images of any size: the image is
 * mirror-padded (reflection without repeating the edge), cut into tiles whose predictions cover
 * the image, and stitched. For models whose output is a centred crop of the input (the classic
 * valid UNet) each tile's input includes the missing context, so with tile offsets that are
 * multiples of the model's downsampling factor the stitched result equals the prediction of the
 * whole mirror-padded image. For same-size (padded) models tiles overlap and are blended with
 * linear ramps. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';
import { reflectIndex } from '../data/pixels.js';
import { inputPreprocessor } from '../encoders/preprocess.js';
import { checkModelInputSize } from '../layers/inputSizeCheck.js';
import { checkInteger, checkOptionalBoolean, checkSize } from '../util/validate.js';
import { finalPrediction } from './finalPrediction.js';
import { optimizeForInference } from './optimize.js';

/** Options of {@link predictTiled}. */
export interface TiledOptions {
  /**
   * Input tile size fed to the model ([height, width] or a square side). Default: the model's
   * fixed input size; required when the model accepts any size. For the classic UNet it must
   * be a valid input size.
   */
  tileSize?: number | [number, number];
  /**
   * Minimum overlap in pixels between neighbouring output tiles (blended). Default 0 for models
   * whose output is smaller than the input (context already comes from the margins), and a
   * quarter of the output tile for same-size models.
   */
  overlap?: number;
  /** Tiles per model call. Default 4. */
  batchSize?: number;
  /**
   * Tile offsets are multiples of this (keeps pooling grids aligned). Default: the model's total
   * downsampling factor, read from its pooling/strided/upsampling layers.
   */
  align?: number;
  /**
   * Predict with `optimizeForInference(model)` (BatchNorm folded into the convolutions, activations
   * fused, Dropout removed), built once per call and disposed at its end. Default true. Pass
   * false to predict with `model` exactly as it is, or when you call predictTiled many times with
   * a model you optimised yourself.
   */
  optimize?: boolean;
  /**
   * Normalise the image with the encoder's statistics when the model has an ImageNet encoder
   * (`modelPreprocessing`; the image in [0, 1]), once, before tiling. Default true; false when the
   * image is already normalised.
   */
  preprocess?: boolean;
}

interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  inboundNodes?: { inboundLayers: LayerLike[] }[];
}

function firstInt(v: unknown): number {
  if (Array.isArray(v)) return Number(v[0]);
  return Number(v ?? 1);
}

/**
 * Largest cumulative spatial downsampling factor inside a model (e.g. 2^depth for a UNet), from
 * its pooling, strided convolution and upsampling layers. 1 when nothing downsamples.
 */
export function downsamplingFactor(model: tf.LayersModel): number {
  const factor = new Map<string, number>();
  let max = 1;
  for (const layer of model.layers as unknown as LayerLike[]) {
    const inbound = layer.inboundNodes?.[0]?.inboundLayers ?? [];
    let f = inbound.reduce((acc, l) => Math.max(acc, factor.get(l.name) ?? 1), 1);
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D') f *= firstInt(cfg.strides ?? cfg.poolSize);
    else if (/^(Conv2D|SeparableConv2D|DepthwiseConv2D)$/.test(cls)) f *= firstInt(cfg.strides);
    else if (cls === 'Conv2DTranspose') f /= firstInt(cfg.strides);
    else if (cls === 'UpSampling2D') f /= firstInt(cfg.size);
    if (!Number.isFinite(f) || f <= 0) f = 1;
    factor.set(layer.name, f);
    max = Math.max(max, f);
  }
  return Math.max(1, Math.round(max));
}

/**
 * Propagates a [1, th, tw, c] tile through the layers' own computeOutputShape and returns the
 * first pooling/strided layer whose input is not divisible by its stride (a tile size the model
 * takes only with misaligned crops), or null. Returns null when shapes cannot be traced.
 */
function misalignedLayer(model: tf.LayersModel, th: number, tw: number, c: number): string | null {
  const shapes = new Map<string, tf.Shape>();
  try {
    for (const layer of model.layers as unknown as (LayerLike & { computeOutputShape(s: tf.Shape | tf.Shape[]): tf.Shape })[]) {
      const inbound = layer.inboundNodes?.[0]?.inboundLayers ?? [];
      if (inbound.length === 0) {
        shapes.set(layer.name, [1, th, tw, c]);
        continue;
      }
      const ins = inbound.map((l) => shapes.get(l.name));
      if (ins.some((x) => x === undefined)) return null;
      const cls = layer.getClassName();
      if (/^(MaxPooling2D|AveragePooling2D|Conv2D|SeparableConv2D|DepthwiseConv2D)$/.test(cls)) {
        const cfg = layer.getConfig();
        const stride = firstInt(cls.endsWith('Pooling2D') ? cfg.strides ?? cfg.poolSize : cfg.strides);
        const [, h, w] = ins[0] as number[];
        if (stride > 1 && (h % stride !== 0 || w % stride !== 0)) return `${layer.name} (${cls}) receives ${h}x${w}`;
      }
      shapes.set(layer.name, layer.computeOutputShape(ins.length === 1 ? (ins[0] as tf.Shape) : (ins as tf.Shape[])));
    }
  } catch {
    return null;
  }
  return null;
}

function outputShapeFor(model: tf.LayersModel, th: number, tw: number, c: number): number[] {
  const problem = misalignedLayer(model, th, tw, c);
  if (problem !== null) {
    throw new Error(
      `predictTiled: ${th}x${tw} is not a valid tile size for this model: layer ${problem}, not divisible by its ` +
        'stride; choose a tileSize the model supports (for the classic UNet see unetValidInputSize).',
    );
  }
  let shape: tf.Shape | tf.Shape[];
  try {
    shape = model.computeOutputShape([1, th, tw, c]);
  } catch {
    // Some models (e.g. tf.Sequential) cannot compute shapes symbolically: probe with zeros.
    try {
      shape = tf.tidy(() => {
        return finalPrediction(model.predict(tf.zeros([1, th, tw, c]))).shape;
      });
    } catch (e) {
      throw new Error(
        `predictTiled: the model does not accept ${th}x${tw} tiles (${(e as Error).message}); ` +
          'choose a tileSize the model supports (for the classic UNet see unetValidInputSize).',
      );
    }
  }
  const first = (Array.isArray(shape[0]) ? shape[0] : shape) as tf.Shape;
  return first.map((d) => Number(d));
}

/** Start offsets of output tiles of size `out` with stride `stride` covering `n` pixels. */
function tileStarts(n: number, out: number, stride: number): number[] {
  const count = n <= out ? 1 : Math.ceil((n - out) / stride) + 1;
  return Array.from({ length: count }, (_, i) => i * stride);
}

function ramp(out: number, overlap: number): Float32Array {
  const w = new Float32Array(out);
  for (let k = 0; k < out; k++) w[k] = Math.min(1, (k + 1) / (overlap + 1), (out - k) / (overlap + 1));
  return w;
}

/** Tile geometry and batching of one predictTiled call, settled before any tile is predicted. */
interface TilePlan {
  /** Input tile height and width. */
  th: number;
  tw: number;
  /** Output tile height, width and channels. */
  oh: number;
  ow: number;
  k: number;
  /** Context margin of the input tile above and left of its output tile. */
  my: number;
  mx: number;
  /** Top-left corners of the output tiles, [y0, x0], covering the image. */
  tiles: (readonly [number, number])[];
  /** Blending weights along an output tile's rows and columns (1 inside, ramps in overlaps). */
  wy: Float32Array;
  wx: Float32Array;
  /** Tiles per model call. */
  batchSize: number;
}

/** The input tile size: `options.tileSize`, else the model's fixed input size; it must match a fixed input. */
function resolveTileSize(model: tf.LayersModel, tileSize: TiledOptions['tileSize']): [number, number] {
  const inShape = model.inputs[0].shape;
  let th: number;
  let tw: number;
  if (tileSize !== undefined) [th, tw] = checkSize('predictTiled', 'tileSize', tileSize);
  else if (inShape[1] != null && inShape[2] != null) [th, tw] = [inShape[1], inShape[2]];
  else {
    throw new Error(
      'predictTiled: the model accepts any input size; pass tileSize (for the classic UNet a valid ' +
        'input size, see unetValidInputSize).',
    );
  }
  if ((inShape[1] != null && inShape[1] !== th) || (inShape[2] != null && inShape[2] !== tw)) {
    throw new Error(`predictTiled: tileSize ${th}x${tw} differs from the model's fixed input ${inShape[1]}x${inShape[2]}.`);
  }
  checkModelInputSize(model, th, tw, `predictTiled: tileSize ${th}x${tw}`);
  return [th, tw];
}

/**
 * Validates the image's channels and the options against the model and plans the tiles of an
 * h x w image: tile sizes, offsets that are multiples of `align` with at least `overlap` pixels
 * of overlap, and the blending ramps.
 */
function planTiles(model: tf.LayersModel, h: number, w: number, c: number, options: TiledOptions): TilePlan {
  const inChannels = model.inputs[0].shape[3];
  if (inChannels != null && inChannels !== c) {
    throw new Error(`predictTiled: the model expects ${inChannels} input channels but the image has ${c}.`);
  }
  const [th, tw] = resolveTileSize(model, options.tileSize);
  const [, oh, ow, k] = outputShapeFor(model, th, tw, c);
  if (!(oh > 0 && ow > 0 && oh <= th && ow <= tw && (th - oh) % 2 === 0 && (tw - ow) % 2 === 0)) {
    throw new Error(
      `predictTiled: a ${th}x${tw} tile gives a ${oh}x${ow} output; tiling needs an output that is the ` +
        'input or a centred crop of it (same resolution). Choose another tileSize.',
    );
  }
  const my = (th - oh) / 2;
  const mx = (tw - ow) / 2;
  const align = checkInteger('predictTiled', 'align', options.align ?? downsamplingFactor(model), 1);
  const overlap = checkInteger(
    'predictTiled', 'overlap', options.overlap ?? (my > 0 || mx > 0 ? 0 : Math.floor(Math.min(oh, ow) / 4)), 0,
  );
  const sy = Math.floor((oh - overlap) / align) * align;
  const sx = Math.floor((ow - overlap) / align) * align;
  if (sy <= 0 || sx <= 0) {
    throw new Error(
      `predictTiled: output tiles of ${oh}x${ow} with overlap ${overlap} leave no stride that is a multiple ` +
        `of ${align}; use a larger tileSize or a smaller overlap.`,
    );
  }
  const batchSize = checkInteger('predictTiled', 'batchSize', options.batchSize ?? 4, 1);
  const xs = tileStarts(w, ow, sx);
  const tiles = tileStarts(h, oh, sy).flatMap((y0) => xs.map((x0) => [y0, x0] as const));
  return { th, tw, oh, ow, k, my, mx, tiles, wy: ramp(oh, oh - sy), wx: ramp(ow, ow - sx), batchSize };
}

/** `optimizeForInference(model)` unless `optimize` is false; the caller disposes a new model. */
function inferenceModel(model: tf.LayersModel, optimize: unknown): tf.LayersModel {
  if (checkOptionalBoolean('predictTiled', 'optimize', optimize) === false) return model;
  try {
    return optimizeForInference(model);
  } catch (e) {
    throw new Error(`predictTiled: ${(e as Error).message}; pass optimize: false to predict with the model as it is.`);
  }
}

/**
 * Cuts the input tiles of `chunk` (mirror-padded at the borders) out of one [h, w, c] image,
 * predicts them in one call and returns the outputs, [chunk.length, oh, ow, k] as flat data.
 */
async function predictChunk(
  net: tf.LayersModel, img: tf.Tensor3D, chunk: TilePlan['tiles'], plan: TilePlan,
): Promise<Float32Array> {
  const { th, tw, oh, ow, k, my, mx } = plan;
  const [h, w] = img.shape;
  const input = tf.tidy(() => tf.stack(chunk.map(([y0, x0]) => {
    const rows = tf.tensor1d(Array.from({ length: th }, (_, i) => reflectIndex(y0 - my + i, h)), 'int32');
    const cols = tf.tensor1d(Array.from({ length: tw }, (_, i) => reflectIndex(x0 - mx + i, w)), 'int32');
    return tf.gather(tf.gather(img, rows, 0), cols, 1);
  })));
  const raw = net.predict(input);
  try {
    const pred = finalPrediction(raw);
    if (pred.shape[1] !== oh || pred.shape[2] !== ow || pred.shape[3] !== k) {
      throw new Error(
        `predictTiled: the model returned [${pred.shape.join(', ')}] for ${th}x${tw} tiles, expected ` +
          `[${chunk.length}, ${oh}, ${ow}, ${k}]; choose a tileSize the model supports.`,
      );
    }
    return (await pred.data()) as Float32Array;
  } finally {
    tf.dispose([input, raw]);
  }
}

/**
 * Predicts one [h, w, c] image tile by tile and blends the tiles: each output pixel is the
 * ramp-weighted mean of the tiles covering it. Writes [h, w, k] values into `out` at `offset`.
 */
async function predictImage(
  net: tf.LayersModel, img: tf.Tensor3D, plan: TilePlan, out: Float32Array, offset: number,
): Promise<void> {
  const { oh, ow, k, tiles, wy, wx, batchSize } = plan;
  const [h, w] = img.shape;
  const acc = new Float32Array(h * w * k);
  const wsum = new Float32Array(h * w);
  for (let start = 0; start < tiles.length; start += batchSize) {
    const chunk = tiles.slice(start, start + batchSize);
    const data = await predictChunk(net, img, chunk, plan);
    chunk.forEach(([y0, x0], t) => {
      for (let i = 0; i < oh && y0 + i < h; i++) {
        for (let j = 0; j < ow && x0 + j < w; j++) {
          const wt = wy[i] * wx[j];
          const p = (y0 + i) * w + (x0 + j);
          wsum[p] += wt;
          const q = ((t * oh + i) * ow + j) * k;
          for (let ch = 0; ch < k; ch++) acc[p * k + ch] += wt * data[q + ch];
        }
      }
    });
  }
  for (let p = 0; p < h * w; p++) {
    for (let ch = 0; ch < k; ch++) out[offset + p * k + ch] = acc[p * k + ch] / wsum[p];
  }
}

/**
 * Predicts an image of any size tile by tile. `image` is [H, W, C] or [B, H, W, C]; the result
 * has the same rank with the model's output channels, [H, W, K] or [B, H, W, K]. The caller
 * owns (disposes) the returned tensor; the input is not disposed. For multi-output models the
 * first output is used. A model on an ImageNet encoder gets its input normalisation applied to the
 * image first (see `preprocess`).
 */
export async function predictTiled(
  model: tf.LayersModel, image: tf.Tensor3D | tf.Tensor4D, options: TiledOptions = {},
): Promise<tf.Tensor3D | tf.Tensor4D> {
  if (image.rank !== 3 && image.rank !== 4) {
    throw new Error(`predictTiled: image must be [H, W, C] or [B, H, W, C], got shape [${image.shape.join(', ')}].`);
  }
  const preprocess = inputPreprocessor(model, options.preprocess, 'predictTiled');
  let batched = (image.rank === 3 ? image.expandDims(0) : image) as tf.Tensor4D;
  let net = model;
  try {
    const [b, h, w, c] = batched.shape;
    const plan = planTiles(model, h, w, c, options);
    if (preprocess !== null) {
      const normalized = preprocess(batched) as tf.Tensor4D;
      if (batched !== image) batched.dispose();
      batched = normalized;
    }
    net = inferenceModel(model, options.optimize);
    const result = new Float32Array(b * h * w * plan.k);
    for (let bi = 0; bi < b; bi++) {
      const img = tf.tidy(() => batched.slice([bi, 0, 0, 0], [1, h, w, c]).reshape([h, w, c]) as tf.Tensor3D);
      try {
        await predictImage(net, img, plan, result, bi * h * w * plan.k);
      } finally {
        img.dispose();
      }
    }
    return image.rank === 3 ? tf.tensor3d(result, [h, w, plan.k]) : tf.tensor4d(result, [b, h, w, plan.k]);
  } finally {
    if (batched !== image) batched.dispose();
    if (net !== model) net.dispose();
  }
}
