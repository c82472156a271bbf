import * as tf from '@tensorflow/tfjs';
import type { ResolvedSmpDecoderOptions } from '../decoders/modules.js';
import { smpUnetPlusPlusDecoder, unetPlusPlusDecoder } from '../decoders/unetPlusPlus.js';
import { CONV_ENCODER_NAMING } from '../encoders/convBlocks.js';
import { segmentationHead } from '../heads/segmentation.js';
import {
  PLAIN_ENCODER,
  finishModel,
  modelInfo,
  setModelInfo,
  type ModelDescription,
  type ModelInfo,
  type OutputRole,
} from './info.js';
import {
  type CommonModelOptions,
  COMMON_OPTION_KEYS,
  checkDivisibleInput,
  checkOptionKeys,
  resolveCommonOptions,
} from './options.js';
import { plainEncoder } from './plainEncoder.js';
import { checkOptionalBoolean } from '../util/validate.js';
import { smpSegmentationHead, type PyramidHeadOptions } from './unet.js';

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
  checkOptionalBoolean(MODEL, 'deepSupervision', deepSupervision);
  const opts = resolveCommonOptions(MODEL, common, {
    inputShape: [256, 256, 1],
    numClasses: 1,
    filters: [32, 64, 128, 256, 512],
    batchNorm: true,
    name: 'unet_plus_plus',
  });
  const depth = opts.filters.length - 1;
  checkDivisibleInput(MODEL, opts.inputShape, depth);

  const { input, pyramid, layers } = plainEncoder(opts, 'same', CONV_ENCODER_NAMING.unetPlusPlus, { model: MODEL, rule: 'divisible', depth });
  const top = unetPlusPlusDecoder(pyramid, { ...layers, upsampling: opts.upsampling });
  const levels = deepSupervision ? Array.from({ length: depth }, (_, k) => depth - k) : [depth];
  const outputs = levels.map((j, k) => ({
    tensor: segmentationHead(top[j]!, {
      numClasses: opts.numClasses,
      activation: opts.finalActivation,
      kernelInitializer: opts.kernelInitializer,
      name: unetPlusPlusHeadName(j),
    }),
    role: roleOf(k),
  }));
  return finishModel(input, outputs, {
    name: opts.name,
    architecture: MODEL,
    encoder: PLAIN_ENCODER,
    pyramid,
    options: { ...opts, deepSupervision },
  });
}

function roleOf(k: number): OutputRole {
  return k === 0 ? 'segmentation' : 'deep-supervision';
}

/**
 * segmentation_models.pytorch's `UnetPlusPlus` on an encoder's pyramid: {@link smpUnetPlusPlusDecoder}
 * and SMP's segmentation head (`segmentation_head.0`). With `deepSupervision`, what SMP lacks: a
 * conv3×3 head on each stride-2 node, the paper's X^{0,j} for j = D−1 … 1 (`deep_supervision.{j}.0`),
 * its logits upsampled ×2 bilinearly (PyTorch's rule, `deep_supervision.{j}.upsample`), then
 * `finalActivation` (`deep_supervision.{j}.activation`). Outputs, final first:
 * `[segmentation_head.0, deep_supervision.{D−1}.activation, …, deep_supervision.1.activation]`.
 */
export function smpUnetPlusPlusModel(
  inputs: tf.SymbolicTensor | tf.SymbolicTensor[],
  desc: ModelDescription,
  opts: ResolvedSmpDecoderOptions & PyramidHeadOptions & { deepSupervision: boolean },
): tf.LayersModel {
  if (opts.decoderCenterBlock) {
    throw new Error(
      'unet++: decoderCenterBlock does not apply: segmentation_models.pytorch\'s UnetPlusPlus builds a center ' +
        'block for VGG encoders but never applies it. Remove the option',
    );
  }
  const { output, stride2 } = smpUnetPlusPlusDecoder(desc.pyramid, opts);
  const depth = desc.pyramid.features.length - 1;
  const sides = opts.deepSupervision
    ? stride2.map((node, d) => {
        const j = depth - 1 - d;
        return segmentationHead(node, {
          numClasses: opts.numClasses,
          activation: opts.finalActivation,
          kernelSize: 3,
          name: `deep_supervision.${j}.0`,
          upsample: 2,
          upsampleRule: 'torch',
          upsampleName: `deep_supervision.${j}.upsample`,
          activationName: `deep_supervision.${j}.activation`,
        });
      })
    : [];
  const outputs = [smpSegmentationHead(output, opts), ...sides].map((tensor, k) => ({ tensor, role: roleOf(k) }));
  return finishModel(inputs, outputs, desc);
}

/** L of a UNet++ model built before models carried their {@link ModelInfo}: from the encoder node names `x{i}_0_conv1`. */
function depthFromLayerNames(model: tf.LayersModel): number {
  const names = new Set(model.layers.map((l) => l.name));
  if (!names.has('x0_0_conv1') || !names.has('x1_0_conv1')) throw notUNetPlusPlus(model, '(no encoder layers x0_0_conv1, x1_0_conv1)');
  let depth = 1;
  while (names.has(`x${depth + 1}_0_conv1`)) depth++;
  return depth;
}

function notUNetPlusPlus(model: tf.LayersModel, why: string): Error {
  return new Error(
    `pruneUNetPlusPlus: model '${model.name}' is not a UNet++ built by buildUNetPlusPlus / createModel('unet++') ${why}`,
  );
}

/**
 * The depth L of a UNet++ and its segmentation outputs by level (`byLevel.get(k)` = the output
 * of level k): from the model's {@link ModelInfo} (outputs final first: output k is level L − k),
 * or, for a model saved before it had one, from the layer names `x{i}_0_conv1` / `head_0_{j}`.
 */
function unetPlusPlusLevels(
  model: tf.LayersModel,
  info: ModelInfo | null,
): { depth: number; byLevel: Map<number, tf.SymbolicTensor> } {
  const byLevel = new Map<number, tf.SymbolicTensor>();
  if (info === null) {
    const depth = depthFromLayerNames(model);
    for (const t of model.outputs) {
      const m = /^head_0_(\d+)$/.exec(t.sourceLayer.name);
      if (m) byLevel.set(Number(m[1]), t);
    }
    return { depth, byLevel };
  }
  if (info.architecture !== MODEL) throw notUNetPlusPlus(model, `(its metadata says '${info.architecture}')`);
  const depth = info.prunedLevel ?? info.encoderDepth;
  info.outputs.forEach((o, k) => {
    if (o.role !== 'classification') byLevel.set(depth - k, model.outputs[k]!);
  });
  return { depth, byLevel };
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
  const info = modelInfo(model);
  const { depth, byLevel } = unetPlusPlusLevels(model, info);
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 1 || level > depth) {
    throw new Error(
      `pruneUNetPlusPlus: level must be an integer from 1 to ${depth} (the depth of '${model.name}'), got ${String(level)}`,
    );
  }
  const output = byLevel.get(level);
  if (output === undefined) {
    const headName = info === null || info.encoder === PLAIN_ENCODER ? unetPlusPlusHeadName(level) : `of level ${level}`;
    const has = model.outputs.map((t) => t.sourceLayer.name).join(', ');
    throw new Error(
      `pruneUNetPlusPlus: model '${model.name}' has no output ${headName} (its outputs: ${has}); ` +
        'build it with deepSupervision: true to prune to a level below its depth',
    );
  }
  // Replays the graph that produces `output`, memoised by tensor id: each needed layer is applied
  // once to its replayed inputs, layers not on the path to the head are never touched. Model inputs
  // become new inputs of the same shape and name (only those the level needs).
  const replayed = new Map<number, tf.SymbolicTensor>();
  const replay = (t: tf.SymbolicTensor): tf.SymbolicTensor => {
    const done = replayed.get(t.id);
    if (done !== undefined) return done;
    let result: tf.SymbolicTensor;
    if (model.inputs.includes(t)) {
      result = tf.input({ shape: t.shape.slice(1), dtype: t.dtype, name: t.sourceLayer.name });
    } else if (t.inputs.length === 0) {
      throw new Error(`pruneUNetPlusPlus: tensor of layer '${t.sourceLayer.name}' is not computed from the model input`);
    } else {
      const ins = t.inputs.map(replay);
      const out = t.sourceLayer.apply(ins.length === 1 ? ins[0]! : ins, t.callArgs) as tf.SymbolicTensor | tf.SymbolicTensor[];
      result = Array.isArray(out) ? out[t.outputTensorIndex ?? 0]! : out;
    }
    replayed.set(t.id, result);
    return result;
  };
  const prunedOutput = replay(output);
  const inputs = model.inputs.filter((t) => replayed.has(t.id)).map((t) => replayed.get(t.id)!);
  const pruned = tf.model({ inputs: inputs.length === 1 ? inputs[0]! : inputs, outputs: prunedOutput, name: `${model.name}_L${level}` });
  if (info !== null) {
    const present = new Set(pruned.layers.map((l) => l.name));
    setModelInfo(pruned, {
      ...info,
      encoderFeatures: info.encoderFeatures.filter((n) => present.has(n)),
      outputs: [{ name: pruned.outputNames[0]!, role: 'segmentation' }],
      prunedLevel: level,
    });
  }
  return pruned;
}
