/**
 * PyTorch `state_dict` ↔ TF.js weights, generic by layer class. A layer named by its PyTorch module
 * path (`encoder.layer1.0.conv1`) holds the keys `<layer name>.<parameter>`:
 *
 * | layer class            | PyTorch key (shape)                      | TF.js weight (shape)            |
 * | ---------------------- | ---------------------------------------- | ------------------------------- |
 * | Conv2D                 | `weight` [out, in, kh, kw], `bias` [out] | kernel [kh, kw, in, out], bias  |
 * | Conv2DTranspose        | `weight` [in, out, kh, kw], `bias` [out] | kernel [kh, kw, out, in], bias  |
 * | DepthwiseConv2D        | `weight` [C·m, 1, kh, kw], `bias`        | depthwise_kernel [kh, kw, C, m] |
 * | Dense                  | `weight` [out, in], `bias` [out]         | kernel [in, out], bias          |
 * | BatchNormalization     | `weight`, `bias`, `running_mean`, `running_var` | gamma, beta, moving_mean, moving_variance |
 *
 * BatchNorm's `num_batches_tracked` has no TF.js counterpart: {@link loadStateDict} ignores it (and
 * reports it), {@link modelStateDict} does not produce it.
 */
import * as tf from '@tensorflow/tfjs';

/** One tensor in PyTorch layout (row-major, float32). */
export interface TorchTensor {
  shape: number[];
  data: Float32Array;
}

/** A PyTorch-style state dict: key → tensor. */
export type StateDict = Record<string, TorchTensor>;

/** Where one PyTorch key lives in a TF.js model. */
export interface StateDictMapping {
  /** PyTorch key, `<layer name>.<parameter>`. */
  key: string;
  /** PyTorch shape of the tensor. */
  shape: number[];
  /** TF.js shape of the weight. */
  tfShape: number[];
  /** Layer name and class. */
  layer: string;
  layerClass: string;
  /** Index of the weight in `layer.weights`. */
  weightIndex: number;
  /** Whether the weight is trainable in Keras terms (BN moving statistics are not). */
  trainable: boolean;
}

/** The statistic PyTorch counts that has no TF.js weight. */
const IGNORED_SUFFIX = '.num_batches_tracked';

interface Rule {
  /** PyTorch parameter name for the TF.js weight name (`kernel`, `gamma`, ...). */
  params: Record<string, string>;
}

/** PyTorch shape of the TF.js kernel, for the layer classes whose kernel layout differs. */
const KERNEL_TO_TORCH: Record<string, (s: number[]) => number[]> = {
  // [kh, kw, in, out] → [out, in, kh, kw]; Conv2DTranspose: [kh, kw, out, in] → [in, out, kh, kw]
  Conv2D: (s) => [s[3]!, s[2]!, s[0]!, s[1]!],
  Conv2DTranspose: (s) => [s[3]!, s[2]!, s[0]!, s[1]!],
  // [kh, kw, C, m] → [C·m, 1, kh, kw]
  DepthwiseConv2D: (s) => [s[2]! * s[3]!, 1, s[0]!, s[1]!],
  // [in, out] → [out, in]
  Dense: (s) => [s[1]!, s[0]!],
};

const RULES: Record<string, Rule> = {
  Conv2D: { params: { kernel: 'weight', bias: 'bias' } },
  Conv2DTranspose: { params: { kernel: 'weight', bias: 'bias' } },
  DepthwiseConv2D: { params: { depthwise_kernel: 'weight', bias: 'bias' } },
  Dense: { params: { kernel: 'weight', bias: 'bias' } },
  BatchNormalization: {
    params: { gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' },
  },
};

/** The TF weight's own name (`kernel`, `gamma`, ...): what follows the last `/` of its variable name. */
function weightName(v: tf.LayerVariable): string {
  const full = v.originalName;
  return full.slice(full.lastIndexOf('/') + 1);
}

/**
 * Permutes a row-major array of `shape` so that output axis k is input axis `perm[k]` (rank ≤ 4;
 * plain loops: far faster than a tensor transpose on the cpu backend for weights of millions of values).
 */
function permute(src: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const s4 = [...Array(4 - rank).fill(1), ...shape] as [number, number, number, number];
  const p4 = [0, 1, 2, 3].slice(0, 4 - rank).concat(perm.map((p) => p + 4 - rank));
  const strides = [s4[1] * s4[2] * s4[3], s4[2] * s4[3], s4[3], 1];
  const [n0, n1, n2, n3] = p4.map((p) => s4[p]!) as [number, number, number, number];
  const [t0, t1, t2, t3] = p4.map((p) => strides[p]!) as [number, number, number, number];
  const out = new Float32Array(src.length);
  let o = 0;
  for (let a = 0; a < n0; a++) {
    for (let b = 0; b < n1; b++) {
      for (let c = 0; c < n2; c++) {
        const base = a * t0 + b * t1 + c * t2;
        for (let d = 0; d < n3; d++) out[o++] = src[base + d * t3]!;
      }
    }
  }
  return out;
}

/**
 * PyTorch-layout values → TF layout (`forward`), or back. Conv2D / Conv2DTranspose kernels swap
 * [O, I, kh, kw] ↔ [kh, kw, I, O] (the same permutation for both); depthwise [C·m, 1, kh, kw] ↔
 * [kh, kw, C, m]; Dense [out, in] ↔ [in, out]; everything else is the same array.
 */
function convert(layerClass: string, param: string, data: Float32Array, torchShape: number[], tfShape: number[], forward: boolean): Float32Array {
  if (param !== 'weight' || !(layerClass in KERNEL_TO_TORCH)) return data.slice();
  switch (layerClass) {
    case 'Conv2D':
    case 'Conv2DTranspose':
      return forward ? permute(data, torchShape, [2, 3, 1, 0]) : permute(data, tfShape, [3, 2, 0, 1]);
    case 'DepthwiseConv2D': {
      // [C·m, 1, kh, kw] is [C, m, kh, kw] in memory; [kh, kw, C, m] ↔ [C, m, kh, kw] by [2, 3, 0, 1].
      const cm = [tfShape[2]!, tfShape[3]!, tfShape[0]!, tfShape[1]!];
      return forward ? permute(data, cm, [2, 3, 0, 1]) : permute(data, tfShape, [2, 3, 0, 1]);
    }
    default: // Dense
      return forward ? permute(data, torchShape, [1, 0]) : permute(data, tfShape, [1, 0]);
  }
}

/** Where one PyTorch key of the model is written: the target of {@link writeStateDictTensor}. */
export interface StateDictTarget extends StateDictMapping {
  /** The TF.js variable that holds it. */
  variable: tf.LayerVariable;
  /** The PyTorch parameter name (`weight`, `bias`, `running_mean`, ...). */
  param: string;
}

function locate(model: tf.LayersModel): StateDictTarget[] {
  const out: StateDictTarget[] = [];
  for (const layer of model.layers) {
    const weights = layer.weights;
    if (weights.length === 0) continue;
    const layerClass = layer.getClassName();
    const rule = RULES[layerClass];
    if (rule === undefined) {
      throw new Error(
        `State dict: layer '${layer.name}' (${layerClass}) holds weights but has no PyTorch mapping; ` +
          `supported weighted layers: ${Object.keys(RULES).join(', ')}.`,
      );
    }
    weights.forEach((v, weightIndex) => {
      const name = weightName(v);
      const param = rule.params[name];
      if (param === undefined) {
        throw new Error(`State dict: weight '${v.originalName}' of layer '${layer.name}' (${layerClass}) has no PyTorch name.`);
      }
      const key = `${layer.name}.${param}`;
      const tfShape = [...(v.shape as number[])];
      const torchShape = param === 'weight' && layerClass in KERNEL_TO_TORCH ? KERNEL_TO_TORCH[layerClass]!(tfShape) : tfShape;
      out.push({
        key,
        shape: torchShape,
        tfShape,
        layer: layer.name,
        layerClass,
        weightIndex,
        trainable: v.trainable,
        variable: v,
        param,
      });
    });
  }
  return out;
}

/** Every PyTorch key the model holds, with its PyTorch shape and the layer / weight it lives in. */
export function stateDictMapping(model: tf.LayersModel): StateDictMapping[] {
  return locate(model).map(({ variable: _v, param: _p, ...m }) => m);
}

/** The model's weights as a PyTorch state dict (PyTorch layouts; no `num_batches_tracked`). */
export function modelStateDict(model: tf.LayersModel): StateDict {
  const out: StateDict = {};
  for (const m of locate(model)) {
    const values = m.variable.read().dataSync() as Float32Array;
    out[m.key] = { shape: m.shape, data: convert(m.layerClass, m.param, values, m.shape, m.tfShape, false) };
  }
  return out;
}

/** Options of {@link loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Default true: every key of the model must be present and every key of `stateDict` must belong
   * to the model (`num_batches_tracked` excepted). With false, missing and unexpected keys are only
   * reported. Shape mismatches are errors either way.
   */
  strict?: boolean;
}

/** What {@link loadStateDict} did: the keys it wrote and those it skipped. */
export interface LoadStateDictResult {
  /** Keys written into the model. */
  loaded: string[];
  /** Model keys absent from `stateDict` (non-strict only). */
  missing: string[];
  /** `stateDict` keys the model does not hold (non-strict only). */
  unexpected: string[];
  /** `num_batches_tracked` keys, which have no TF.js counterpart. */
  ignored: string[];
}

function listKeys(keys: string[], max = 8): string {
  return keys.length <= max ? keys.join(', ') : `${keys.slice(0, max).join(', ')}, … (${keys.length - max} more)`;
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Writes a PyTorch state dict into the model (PyTorch layouts are transposed to TF.js). Everything
 * is checked before anything is written: a shape mismatch, a data length that does not match its
 * shape, or (strict) a missing / unexpected key throws an error naming the keys, and leaves the
 * model untouched.
 */
export function loadStateDict(
  model: tf.LayersModel,
  stateDict: StateDict,
  options: LoadStateDictOptions = {},
): LoadStateDictResult {
  const strict = options.strict ?? true;
  const located = locate(model);
  const modelKeys = new Set(located.map((m) => m.key));
  const given = Object.keys(stateDict);
  const ignored = given.filter((k) => k.endsWith(IGNORED_SUFFIX));
  const unexpected = given.filter((k) => !modelKeys.has(k) && !k.endsWith(IGNORED_SUFFIX));
  const missing = located.filter((m) => !Object.prototype.hasOwnProperty.call(stateDict, m.key)).map((m) => m.key);
  const problems: string[] = [];
  if (strict && missing.length > 0) problems.push(`${missing.length} missing key(s): ${listKeys(missing)}`);
  if (strict && unexpected.length > 0) problems.push(`${unexpected.length} unexpected key(s): ${listKeys(unexpected)}`);
  const present = located.filter((m) => Object.prototype.hasOwnProperty.call(stateDict, m.key));
  for (const m of present) {
    const t = stateDict[m.key]!;
    const shape = Array.isArray(t.shape) ? t.shape : [];
    if (shape.length !== m.shape.length || shape.some((d, i) => d !== m.shape[i])) {
      problems.push(`shape mismatch for '${m.key}': given [${shape.join(', ')}], the model's (PyTorch layout) is [${m.shape.join(', ')}]`);
    } else if (!(t.data instanceof Float32Array) || t.data.length !== product(m.shape)) {
      const what = t.data instanceof Float32Array ? `${t.data.length} values` : 'data that is not a Float32Array';
      problems.push(`'${m.key}' has ${what}, its shape [${m.shape.join(', ')}] needs ${product(m.shape)} float32 values`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `loadStateDict: ${problems.join('; ')}. Nothing was loaded. Keys are '<layer name>.<parameter>' ` +
        `(PyTorch module paths); pass { strict: false } to load a subset.`,
    );
  }
  for (const m of present) writeStateDictTensor(m, stateDict[m.key]!.data);
  return { loaded: present.map((m) => m.key), missing, unexpected, ignored };
}

/** The model's PyTorch keys and where each is written (for loading a state dict one tensor at a time). */
export function stateDictTargets(model: tf.LayersModel): Map<string, StateDictTarget> {
  return new Map(locate(model).map((m) => [m.key, m]));
}

/**
 * Writes one tensor in PyTorch layout into its weight (transposed to TF.js). `data` must hold
 * exactly the values of the target's PyTorch shape; anything else is an error naming the key.
 */
export function writeStateDictTensor(target: StateDictTarget, data: Float32Array): void {
  if (!(data instanceof Float32Array) || data.length !== product(target.shape)) {
    throw new Error(`writeStateDictTensor: '${target.key}' needs ${product(target.shape)} float32 values (PyTorch shape [${target.shape.join(', ')}]), got ${data instanceof Float32Array ? data.length : 'data that is not a Float32Array'}.`);
  }
  const value = tf.tensor(convert(target.layerClass, target.param, data, target.shape, target.tfShape, true), target.tfShape, 'float32');
  target.variable.write(value);
  value.dispose();
}
