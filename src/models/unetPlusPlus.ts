import * as tf from '@tensorflow/tfjs';
import { convBlock } from '../layers/convBlock.js';
import { upsample2x } from '../layers/upsample.js';
import {
  type CommonModelOptions,
  COMMON_OPTION_KEYS,
  checkBooleanOption,
  checkDivisibleInput,
  checkOptionKeys,
  outputHead,
  resolveCommonOptions,
} from './options.js';

/** Options of UNet++ (Zhou et al., 2018). */
export interface UNetPlusPlusOptions extends CommonModelOptions {
  /**
   * A 1×1 head (with `finalActivation`) on every top-row node X^{0,1..L}; the model then has L
   * outputs, final first: `[head_0_L, ..., head_0_1]`. Default false: one output, `head_0_L`.
   */
  deepSupervision?: boolean;
}

export const UNETPP_OPTION_KEYS: readonly string[] = [...COMMON_OPTION_KEYS, 'deepSupervision'];

const MODEL = 'unet++';

/** Name of the 1×1 head on the top-row node X^{0,j}: `head_0_j` (also the model's output name). */
export function unetPlusPlusHeadName(j: number): string {
  return `head_0_${j}`;
}

/**
 * UNet++ (Zhou et al., 2018, "UNet++: A Nested U-Net Architecture for Medical Image Segmentation").
 *
 * Encoder nodes X^{i,0} are conv blocks with 2×2 max-pooling between levels; every decoder node is
 * X^{i,j} = convBlock(concat[X^{i,0}, ..., X^{i,j-1}, up(X^{i+1,j-1})]) with the filters of level
 * i, so each skip pathway is a dense stack of conv blocks. `'same'` convolutions: output size =
 * input size; H and W must be divisible by 2^L, L = `filters.length − 1`.
 *
 * Layer names (stable, used by {@link pruneUNetPlusPlus}): node X^{i,j} is the conv block
 * `x{i}_{j}` (`x{i}_{j}_conv1`, `x{i}_{j}_bn1`, `x{i}_{j}_act1`, ...); a decoder node's upsampling
 * of X^{i+1,j-1} is `x{i}_{j}_up` and its concatenation `x{i}_{j}_concat`; the pooling after
 * X^{i,0} is `pool{i}`; the head on X^{0,j} is `head_0_{j}`.
 *
 * `'transpose'` upsampling is a 2×2 stride-2 Conv2DTranspose to level i's filters (the original
 * Keras code); `'bilinear'`/`'nearest'` keep the deeper node's channels (pytorch-nested-unet).
 *
 * Outputs: without deep supervision `[head_0_L]`; with it `[head_0_L, head_0_{L-1}, ..., head_0_1]`
 * (final first, so `predict` returns the full-depth prediction first).
 */
export function buildUNetPlusPlus(options: UNetPlusPlusOptions = {}): tf.LayersModel {
  checkOptionKeys(MODEL, options, UNETPP_OPTION_KEYS);
  const { deepSupervision = false, ...common } = options;
  checkBooleanOption(MODEL, 'deepSupervision', deepSupervision);
  const opts = resolveCommonOptions(MODEL, common, {
    inputShape: [256, 256, 1],
    numClasses: 1,
    filters: [32, 64, 128, 256, 512],
    batchNorm: true,
    name: 'unet_plus_plus',
  });
  const { filters } = opts;
  const depth = filters.length - 1;
  checkDivisibleInput(MODEL, opts.inputShape, depth);

  const block = (x: tf.SymbolicTensor, level: number, name: string) =>
    convBlock(x, {
      filters: filters[level]!,
      padding: 'same',
      batchNorm: opts.batchNorm,
      activation: opts.activation,
      dropout: opts.dropout,
      kernelInitializer: opts.kernelInitializer,
      name,
    });

  const input = tf.input({ shape: opts.inputShape, name: 'input' });
  // nodes[i][j] = X^{i,j}
  const nodes: tf.SymbolicTensor[][] = Array.from({ length: depth + 1 }, () => []);
  let x = input;
  for (let i = 0; i <= depth; i++) {
    if (i > 0) {
      x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `pool${i - 1}` }).apply(nodes[i - 1]![0]!) as tf.SymbolicTensor;
    }
    nodes[i]![0] = block(x, i, `x${i}_0`);
  }
  // Column by column, so that X^{i+1,j-1} exists before X^{i,j}.
  for (let j = 1; j <= depth; j++) {
    for (let i = 0; i + j <= depth; i++) {
      const up = upsample2x(nodes[i + 1]![j - 1]!, {
        mode: opts.upsampling,
        filters: filters[i]!,
        kernelInitializer: opts.kernelInitializer,
        name: `x${i}_${j}_up`,
      });
      const cat = tf.layers
        .concatenate({ axis: -1, name: `x${i}_${j}_concat` })
        .apply([...nodes[i]!.slice(0, j), up]) as tf.SymbolicTensor;
      nodes[i]![j] = block(cat, i, `x${i}_${j}`);
    }
  }
  const head = (j: number) =>
    outputHead(nodes[0]![j]!, {
      numClasses: opts.numClasses,
      finalActivation: opts.finalActivation,
      kernelInitializer: opts.kernelInitializer,
      name: unetPlusPlusHeadName(j),
    });
  const levels = deepSupervision ? Array.from({ length: depth }, (_, k) => depth - k) : [depth];
  return tf.model({ inputs: input, outputs: levels.map(head), name: opts.name });
}

/** L of a UNet++ model (its number of poolings), read from the encoder node names `x{i}_0_conv1`. */
function unetPlusPlusDepth(model: tf.LayersModel): number {
  const names = new Set(model.layers.map((l) => l.name));
  if (!names.has('x0_0_conv1') || !names.has('x1_0_conv1')) {
    throw new Error(
      `pruneUNetPlusPlus: model '${model.name}' is not a UNet++ built by buildUNetPlusPlus / ` +
        `createModel('unet++') (no encoder layers x0_0_conv1, x1_0_conv1)`,
    );
  }
  let depth = 1;
  while (names.has(`x${depth + 1}_0_conv1`)) depth++;
  return depth;
}

/**
 * UNet++ "fast mode" pruning (the paper's UNet++ L1..L4): a new model that computes only the nodes
 * X^{i,j} with i + j ≤ `level` and outputs the head `head_0_{level}`.
 *
 * The pruned model is rebuilt from the SAME layer objects (their `apply` on a new input), so it
 * shares the weights with `model` (training either trains both) and its prediction is bit-identical
 * to `model`'s `head_0_{level}` output. Disposing one of the two models does not dispose the shared
 * weights while the other still uses them.
 *
 * Pruning below the full depth needs the head of that level, i.e. a model built with
 * `deepSupervision: true`. Throws a clear Error for a level outside 1..L, a model without the
 * needed head, or a model that is not a UNet++.
 */
export function pruneUNetPlusPlus(model: tf.LayersModel, level: number): tf.LayersModel {
  if (!(model instanceof tf.LayersModel)) {
    throw new Error('pruneUNetPlusPlus: model must be a tf.LayersModel built by buildUNetPlusPlus');
  }
  const depth = unetPlusPlusDepth(model);
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > depth) {
    throw new Error(
      `pruneUNetPlusPlus: level must be an integer from 1 to ${depth} (the depth of '${model.name}'), got ${String(level)}`,
    );
  }
  const headName = unetPlusPlusHeadName(level);
  const output = model.outputs.find((t) => t.sourceLayer.name === headName);
  if (output === undefined) {
    const has = model.outputs.map((t) => t.sourceLayer.name).join(', ');
    throw new Error(
      `pruneUNetPlusPlus: model '${model.name}' has no output ${headName} (its outputs: ${has}); ` +
        'build it with deepSupervision: true to prune to a level below its depth',
    );
  }
  if (model.inputs.length !== 1) {
    throw new Error(`pruneUNetPlusPlus: expected a single-input UNet++, '${model.name}' has ${model.inputs.length} inputs`);
  }
  const source = model.inputs[0]!;
  const input = tf.input({ shape: source.shape.slice(1), dtype: source.dtype, name: 'input' });
  // Replays the graph that produces `output`, memoised by tensor id: each needed layer is applied
  // once to its replayed inputs, layers not on the path to the head are never touched.
  const replayed = new Map<number, tf.SymbolicTensor>([[source.id, input]]);
  const replay = (t: tf.SymbolicTensor): tf.SymbolicTensor => {
    const done = replayed.get(t.id);
    if (done !== undefined) return done;
    if (t.inputs.length === 0) {
      throw new Error(`pruneUNetPlusPlus: tensor of layer '${t.sourceLayer.name}' is not computed from the model input`);
    }
    const ins = t.inputs.map(replay);
    const out = t.sourceLayer.apply(ins.length === 1 ? ins[0]! : ins, t.callArgs) as tf.SymbolicTensor | tf.SymbolicTensor[];
    const result = Array.isArray(out) ? out[t.outputTensorIndex ?? 0]! : out;
    replayed.set(t.id, result);
    return result;
  };
  return tf.model({ inputs: input, outputs: replay(output), name: `${model.name}_L${level}` });
}
