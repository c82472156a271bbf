import * as tf from '@tensorflow/tfjs';
import {
  LabelArray,
  UNetWeightMapOptions,
  computeWeightMap,
  checkLabels,
  labelTensorData,
  resolveWeightMapOptions,
} from './unetWeightMap.js';

/** Options of {@link weightMapBatch}: targets and instances or weight maps, plus the weight-map options. */
export interface WeightMapBatchOptions extends UNetWeightMapOptions {
  /**
   * Targets [N, H, W, C] (C = 1 for a sigmoid output, or one-hot over C classes), or [N, H, W]
   * for a binary target. Optional when `instances` is given: then the binary target
   * `instances > 0` is used.
   */
  targets?: tf.Tensor;
  /** Precomputed pixel weight maps: a tensor [N, H, W] / [N, H, W, 1], or one [H, W] map per image. */
  weightMaps?: tf.Tensor | Array<tf.Tensor | Float32Array>;
  /**
   * Instance-label images (0 = background, 1..K = objects): a tensor [N, H, W] / [N, H, W, 1], or
   * one [H, W] tensor or row-major integer array per image. Their `unetWeightMap`s (with this
   * object's w0 / sigma / classWeights) become the weight channel.
   */
  instances?: tf.Tensor | Array<tf.Tensor | LabelArray>;
}

const WHERE = 'weightMapBatch';

/** Splits per-image inputs (tensor with batch axis, or array of per-image items) into a list. */
function perImage<T>(items: tf.Tensor | T[], label: string): Array<tf.Tensor | T> {
  if (items instanceof tf.Tensor) {
    if (items.rank !== 3 && !(items.rank === 4 && items.shape[3] === 1)) {
      throw new Error(`${WHERE}: ${label} tensor must be [N, H, W] or [N, H, W, 1], got [${items.shape}].`);
    }
    return tf.unstack(items.rank === 4 ? tf.squeeze(items, [3]) : items);
  }
  if (!Array.isArray(items) || items.length === 0) {
    throw new Error(`${WHERE}: ${label} must be a tensor or a non-empty array (one entry per image).`);
  }
  return items;
}

/**
 * Builds the packed `yTrue` for `weightedCrossEntropy({ weightMap: true })`: the target channels
 * followed by one pixel-weight channel, shape [N, H, W, C + 1] (float32). Give either
 * `weightMaps` or `instances` (weight maps then computed with `unetWeightMap`).
 */
export function weightMapBatch(options: WeightMapBatchOptions): tf.Tensor4D {
  const { targets, weightMaps, instances } = options;
  if ((weightMaps === undefined) === (instances === undefined)) {
    throw new Error(`${WHERE}: give exactly one of weightMaps or instances.`);
  }
  if (targets === undefined && instances === undefined) {
    throw new Error(`${WHERE}: targets are required with weightMaps.`);
  }
  const resolved = resolveWeightMapOptions(WHERE, options);
  return tf.tidy(() => {
    let maps: tf.Tensor[];
    let shape: [number, number] | undefined;
    if (targets !== undefined) {
      if (!(targets instanceof tf.Tensor) || (targets.rank !== 3 && targets.rank !== 4)) {
        throw new Error(
          `${WHERE}: targets must be a tensor [N, H, W, C] or [N, H, W], got ${
            targets instanceof tf.Tensor ? `shape [${targets.shape}]` : String(targets)
          }.`,
        );
      }
      shape = [targets.shape[1] as number, targets.shape[2] as number];
    }
    const foreground: tf.Tensor[] = [];
    if (instances !== undefined) {
      maps = perImage<tf.Tensor | LabelArray>(instances, 'instances').map((img, i) => {
        const label = `${WHERE} (instances[${i}])`;
        let data: ArrayLike<number>;
        let h: number;
        let w: number;
        if (img instanceof tf.Tensor) {
          ({ data, h, w } = labelTensorData(label, img));
        } else {
          if (!shape) throw new Error(`${WHERE}: with plain-array instances, pass targets too (they give H and W).`);
          [h, w] = shape;
          if (!ArrayBuffer.isView(img) || img.length !== h * w) {
            throw new Error(`${WHERE}: instances[${i}] must be an integer typed array of length H·W = ${h * w}.`);
          }
          checkLabels(label, img);
          data = img;
        }
        foreground.push(tf.tensor2d(Float32Array.from(data, (v) => (v > 0 ? 1 : 0)), [h, w]));
        return tf.tensor2d(computeWeightMap(data, h, w, resolved), [h, w]);
      });
    } else {
      maps = perImage<tf.Tensor | Float32Array>(weightMaps!, 'weightMaps').map((m, i) => {
        if (m instanceof tf.Tensor) return tf.cast(m, 'float32');
        if (!shape || !(m instanceof Float32Array) || m.length !== shape[0] * shape[1]) {
          throw new Error(`${WHERE}: weightMaps[${i}] must be a tensor or a Float32Array of length H·W.`);
        }
        return tf.tensor2d(m, shape);
      });
    }
    const stackMaps = (list: tf.Tensor[], label: string): tf.Tensor => {
      const first = list[0].shape;
      list.forEach((m, i) => {
        if (m.rank !== 2 || m.shape[0] !== first[0] || m.shape[1] !== first[1]) {
          throw new Error(`${WHERE}: ${label}[${i}] has shape [${m.shape}]; every image must be [H, W] = [${first}].`);
        }
      });
      return tf.expandDims(tf.stack(list), 3);
    };
    const weight = stackMaps(maps, instances !== undefined ? 'instances' : 'weightMaps');
    const target =
      targets === undefined
        ? stackMaps(foreground, 'instances')
        : tf.cast(targets.rank === 3 ? tf.expandDims(targets, 3) : targets, 'float32');
    const [n, h, w] = target.shape;
    if (weight.shape[0] !== n || weight.shape[1] !== h || weight.shape[2] !== w) {
      throw new Error(
        `${WHERE}: targets shape [${target.shape}] and weight maps shape [${weight.shape}] disagree ` +
          '(need the same N, H, W).',
      );
    }
    const values = target.dataSync();
    for (let i = 0; i < values.length; i++) {
      if (!(values[i] >= 0 && values[i] <= 1)) {
        throw new Error(`${WHERE}: target values must lie in [0, 1] (binary or one-hot); found ${values[i]}.`);
      }
    }
    return tf.concat([target, weight], 3) as tf.Tensor4D;
  });
}
