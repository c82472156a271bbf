/**
 * Inference-time graph optimisation of a functional tfjs model: BatchNormalization folded into the
 * convolution before it, the activation after it fused into the convolution, Dropout removed.
 * Browser-safe.
 */
import * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;
type Sym = tf.SymbolicTensor;

/** Options of {@link optimizeForInference}; every transformation is on by default. */
export interface OptimizeForInferenceOptions {
  /** Fold a BatchNormalization into the convolution (or Dense) that is its only input. Default true. */
  foldBatchNorm?: boolean;
  /** Fuse an Activation / ReLU layer into the convolution (or Dense) before it. Default true. */
  fuseActivations?: boolean;
  /** Drop Dropout and noise layers, which are the identity at inference. Default true. */
  removeDropout?: boolean;
}

/** Layers that `predict` runs as the identity. */
const INFERENCE_IDENTITY = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/**
 * Layers a following BatchNormalization folds into, with the axis of their kernel that holds the
 * output channels (negative: from the end). DepthwiseConv2D's output channels are the last two
 * kernel axes (input channel × multiplier), see {@link channelScaleShape}.
 */
const FOLDABLE: Record<string, { kernel: string; axis: number }> = {
  Conv1D: { kernel: 'kernel', axis: -1 },
  Conv2D: { kernel: 'kernel', axis: -1 },
  Conv3D: { kernel: 'kernel', axis: -1 },
  Dense: { kernel: 'kernel', axis: -1 },
  Conv2DTranspose: { kernel: 'kernel', axis: -2 },
  SeparableConv2D: { kernel: 'pointwise_kernel', axis: -1 },
  DepthwiseConv2D: { kernel: 'depthwise_kernel', axis: -1 },
};

/** What replaces a chain `producer [→ BatchNormalization] [→ activation]` of the original graph. */
interface Chain {
  producer: Sym;
  bn?: Sym;
  act?: { tensor: Sym; activation: string };
}

interface Context {
  options: Required<OptimizeForInferenceOptions>;
  /** Rebuilt copies of the original layers (a shared layer stays shared). */
  copies: Map<Layer, Layer>;
  /** Fused layers by the ids of the layers they replace. */
  fused: Map<string, Layer>;
  /** Layer names taken in the new model. */
  names: Set<string>;
  /** Temporary weight tensors, disposed once the new model holds its own copies. */
  temporaries: tf.Tensor[];
}

/** Last segment of a weight's scoped name: `x0_0_conv1/kernel` → `kernel`. */
function weightKey(w: tf.LayerVariable): string {
  return w.originalName.split('/').pop()!;
}

function weightsByKey(layer: Layer): Record<string, tf.Tensor> {
  return Object.fromEntries(layer.weights.map((w) => [weightKey(w), w.read()]));
}

function className(layer: Layer): string {
  return layer.getClassName();
}

function takeName(ctx: Context, preferred: string): string {
  let name = preferred;
  for (let k = 1; ctx.names.has(name); k++) name = `${preferred}_${k}`;
  ctx.names.add(name);
  return name;
}

/**
 * A fresh layer of `layer`'s class from `config` (through the class's own `fromConfig`, so custom
 * registered layers such as `SMTF>ClassGate` are rebuilt like built-in ones). Weight constraints
 * are dropped: they act during training only, and `setWeights` would apply them to the copied
 * values.
 */
function instantiate(ctx: Context, layer: Layer, config: tf.serialization.ConfigDict, name: string): Layer {
  const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<Layer>;
  let created: Layer;
  try {
    const cfg = structuredClone(config);
    for (const key of Object.keys(cfg)) {
      if (key.endsWith('Constraint') && cfg[key] !== null && typeof cfg[key] === 'object') cfg[key] = null;
    }
    cfg.name = takeName(ctx, name);
    created = cls.fromConfig(cls, cfg);
  } catch (e) {
    throw new Error(
      `optimizeForInference: cannot rebuild layer '${layer.name}' (${className(layer)}) from its getConfig(): ` +
        `${(e as Error).message}. A custom layer's constructor (or static fromConfig) must accept its own getConfig().`,
    );
  }
  created.setFastWeightInitDuringBuild(true);
  return created;
}

/**
 * Sets the weights of the built `layer` to `values` (in `layer.weights` order). The values must be
 * tensors owned by this call (fresh copies): the layer's variables keep them, the list is freed at
 * the end of {@link optimizeForInference}.
 */
function assignWeights(ctx: Context, layer: Layer, values: tf.Tensor[]): void {
  ctx.temporaries.push(...values);
  layer.setWeights(values);
}

/** Exact copies of `layer`'s weights with their own storage (`clone` would share the buffer). */
function copyWeights(layer: Layer): tf.Tensor[] {
  return tf.tidy(() => layer.getWeights().map((v) => tf.mul(v, tf.scalar(1, v.dtype))));
}

/** Shape that broadcasts a per-output-channel vector over a foldable layer's kernel. */
function channelScaleShape(cls: string, kernelShape: number[]): number[] {
  const shape = kernelShape.map(() => 1);
  const rank = kernelShape.length;
  if (cls === 'DepthwiseConv2D') {
    // [kh, kw, cin, multiplier]: output channel c·multiplier + m.
    shape[rank - 2] = kernelShape[rank - 2]!;
    shape[rank - 1] = kernelShape[rank - 1]!;
  } else {
    const axis = rank + FOLDABLE[cls]!.axis;
    shape[axis] = kernelShape[axis]!;
  }
  return shape;
}

/**
 * New weights of `conv` with `bn` folded in: kernel·s and (bias − mean)·s + β over the output
 * channels, s = γ / √(var + ε) (γ = 1 without `scale`, β = 0 without `center`, bias = 0 when the
 * layer had none); other weights (SeparableConv2D's depthwise kernel) copied.
 */
function foldedWeights(conv: Layer, bn: Layer): Record<string, tf.Tensor> {
  const cls = className(conv);
  const kernelKey = FOLDABLE[cls]!.kernel;
  const cfg = bn.getConfig();
  const b = weightsByKey(bn);
  const w = weightsByKey(conv);
  const out: Record<string, tf.Tensor> = {};
  const copies = copyWeights(conv);
  conv.weights.forEach((v, i) => (out[weightKey(v)] = copies[i]!));
  const folded = tf.tidy(() => {
    const mean = b.moving_mean!;
    const gamma = cfg.scale === false ? tf.onesLike(mean) : b.gamma!;
    const beta = cfg.center === false ? tf.zerosLike(mean) : b.beta!;
    const s = tf.mul(gamma, tf.rsqrt(tf.add(b.moving_variance!, tf.scalar(Number(cfg.epsilon)))));
    const kernel = w[kernelKey]!;
    return {
      [kernelKey]: tf.mul(kernel, tf.reshape(s, channelScaleShape(cls, kernel.shape))),
      bias: tf.add(tf.mul(tf.sub(w.bias ?? tf.zerosLike(mean), mean), s), beta),
    };
  });
  tf.dispose([out[kernelKey], out.bias]);
  return { ...out, ...folded };
}
/** The activation an Activation / ReLU layer applies, or null when it cannot move into a conv. */
function activationOf(layer: Layer): string | null {
  const cfg = layer.getConfig();
  if (className(layer) === 'Activation') return typeof cfg.activation === 'string' ? cfg.activation : null;
  if (className(layer) === 'ReLU') {
    if (cfg.maxValue == null) return 'relu';
    if (cfg.maxValue === 6) return 'relu6';
  }
  return null;
}

/** Identity of the layer call that produced `t`. */
function nodeKey(t: Sym): string {
  return `${t.sourceLayer.id}:${t.nodeIndex}`;
}

/**
 * The fusable chain that starts at `t` (a layer call), or undefined. `soleUse(x)` is the only
 * layer call that reads `x`, undefined when `x` has several uses or is an output.
 */
function chainAt(ctx: Context, t: Sym, soleUse: (x: Sym) => Sym | undefined): Chain | undefined {
  const layer = t.sourceLayer;
  const cls = className(layer);
  const cfg = layer.getConfig();
  if (!(cls in FOLDABLE) || cfg.activation !== 'linear' || t.inputs.length !== 1) return undefined;
  const chain: Chain = { producer: t };
  let end = t;
  const bn = soleUse(end);
  if (ctx.options.foldBatchNorm && bn !== undefined && className(bn.sourceLayer) === 'BatchNormalization') {
    const rank = t.shape.length;
    const axis = Number(bn.sourceLayer.getConfig().axis);
    const channels = cfg.dataFormat === 'channelsFirst' ? 1 : rank - 1;
    if ((axis < 0 ? axis + rank : axis) === channels) {
      chain.bn = bn;
      end = bn;
    }
  }
  const act = soleUse(end);
  const activation = act === undefined ? null : activationOf(act.sourceLayer);
  if (ctx.options.fuseActivations && act !== undefined && activation !== null) chain.act = { tensor: act, activation };
  return chain.bn !== undefined || chain.act !== undefined ? chain : undefined;
}

/**
 * Rebuilds the graph from `inputs` to `outputs` on `newInputs` and returns the new outputs. Nested
 * models are inlined (`nested`), so their BatchNormalizations fold too.
 */
function rebuildGraph(ctx: Context, inputs: Sym[], outputs: Sym[], newInputs: Sym[], nested = false): Sym[] {
  const inputIds = new Set(inputs.map((t) => t.id));
  const canonical = (t: Sym): Sym => {
    let c = t;
    while (
      ctx.options.removeDropout &&
      !inputIds.has(c.id) &&
      c.inputs.length === 1 &&
      INFERENCE_IDENTITY.has(className(c.sourceLayer))
    ) {
      c = c.inputs[0]!;
    }
    return c;
  };

  // The layer calls that compute the outputs (one tensor each), and the uses of every tensor.
  const calls: Sym[] = [];
  const uses = new Map<number, Sym[]>();
  const outputIds = new Set(outputs.map((t) => canonical(t).id));
  const seen = new Set<string>();
  const stack = outputs.map(canonical);
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (inputIds.has(t.id) || seen.has(nodeKey(t))) continue;
    seen.add(nodeKey(t));
    calls.push(t);
    for (const u of t.inputs.map(canonical)) {
      uses.set(u.id, [...(uses.get(u.id) ?? []), t]);
      stack.push(u);
    }
  }
  const soleUse = (x: Sym): Sym | undefined => {
    const users = uses.get(x.id) ?? [];
    return outputIds.has(x.id) || users.length !== 1 || users[0]!.inputs.length !== 1 ? undefined : users[0];
  };
  // Fused chains by the id of the tensor they stand for (their last one).
  const chains = new Map<number, Chain>();
  for (const t of calls) {
    const chain = chainAt(ctx, t, soleUse);
    if (chain !== undefined) chains.set((chain.act?.tensor ?? chain.bn ?? t).id, chain);
  }

  const replayed = new Map<number, Sym>(inputs.map((t, i) => [t.id, newInputs[i]!]));
  const results = new Map<string, Sym | Sym[]>();
  const replay = (raw: Sym): Sym => {
    const t = canonical(raw);
    const done = replayed.get(t.id);
    if (done !== undefined) return done;
    if (t.inputs.length === 0) {
      throw new Error(`optimizeForInference: layer '${t.sourceLayer.name}' is not computed from the model's inputs`);
    }
    let result: Sym;
    const chain = chains.get(t.id);
    if (chain !== undefined) {
      const outputName = !nested && outputIds.has(t.id) ? t.sourceLayer.name : undefined;
      result = applyChain(ctx, chain, outputName, replay(chain.producer.inputs[0]!));
    } else {
      let out = results.get(nodeKey(t));
      if (out === undefined) {
        const ins = t.inputs.map(replay);
        const layer = t.sourceLayer;
        if (layer instanceof tf.LayersModel) {
          out = rebuildGraph(ctx, layer.inputs, layer.outputs, ins, true);
        } else {
          let copy = ctx.copies.get(layer);
          const fresh = copy === undefined;
          copy ??= instantiate(ctx, layer, layer.getConfig(), layer.name);
          ctx.copies.set(layer, copy);
          out = copy.apply(ins.length === 1 ? ins[0]! : ins, t.callArgs) as Sym | Sym[];
          if (fresh) assignWeights(ctx, copy, copyWeights(layer));
        }
        results.set(nodeKey(t), out);
      }
      result = Array.isArray(out) ? out[t.outputTensorIndex ?? 0]! : out;
    }
    replayed.set(t.id, result);
    return result;
  };
  return outputs.map(replay);
}

/**
 * Applies the fused replacement of `chain` to `input`: the producer's class with the folded
 * weights and the fused activation. It keeps the producer's name, or `outputName` when the chain
 * ends in a model output (so the output keeps its name).
 */
function applyChain(ctx: Context, chain: Chain, outputName: string | undefined, input: Sym): Sym {
  const conv = chain.producer.sourceLayer;
  const bn = chain.bn?.sourceLayer;
  const key = [conv.id, bn?.id ?? '-', chain.act?.tensor.sourceLayer.id ?? '-'].join(':');
  let layer = ctx.fused.get(key);
  const fresh = layer === undefined;
  if (layer === undefined) {
    const config = conv.getConfig();
    if (chain.act !== undefined) config.activation = chain.act.activation;
    if (bn !== undefined) config.useBias = true;
    layer = instantiate(ctx, conv, config, outputName ?? conv.name);
    ctx.fused.set(key, layer);
  }
  const out = layer.apply(input, chain.producer.callArgs) as Sym;
  if (fresh) {
    if (bn === undefined) {
      assignWeights(ctx, layer, copyWeights(conv));
    } else {
      const folded = foldedWeights(conv, bn);
      assignWeights(ctx, layer, layer.weights.map((w) => folded[weightKey(w)]!));
    }
  }
  return out;
}

/**
 * A new `tf.LayersModel` that computes what `model.predict` computes, with fewer and fused ops:
 *
 * - every BatchNormalization over the channels of a Conv1D/2D/3D, DepthwiseConv2D,
 *   SeparableConv2D, Conv2DTranspose or Dense layer's output (that layer with a linear activation,
 *   its output with no other use and not a model output) is folded into that layer's kernel and
 *   bias with its moving statistics: kernel·γ/√(var+ε), (bias − mean)·γ/√(var+ε) + β; the layer
 *   gains a bias if it had none;
 * - an Activation layer (any activation) or ReLU layer (no max value, or 6) that is the only use
 *   of such a layer's (folded) output becomes that layer's `activation`. A Conv2D with relu, elu
 *   or linear then runs as one fused tfjs op; other activations still save a layer call;
 * - Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout and AlphaDropout are removed (the
 *   identity in `predict`).
 *
 * Every other layer, custom registered ones (`SMTF>...`) included, is rebuilt from its
 * `getConfig()` through its own class; nested models are inlined. The result has new layers and
 * its own copy of every weight: disposing or training one model never affects the other. Inputs,
 * output names and order, the model name and the user-defined metadata are kept, and it saves
 * and loads like any model.
 *
 * For inference only: the BatchNormalization statistics are baked in, so fine-tune the original,
 * not the result. Its outputs equal the original's `predict` up to float32 rounding (the folded
 * arithmetic is reordered; the library's tests hold it to 1e-4 of the output range). Synchronous;
 * the caller disposes the result.
 */
export function optimizeForInference(model: tf.LayersModel, options: OptimizeForInferenceOptions = {}): tf.LayersModel {
  if (!(model instanceof tf.LayersModel)) {
    throw new Error('optimizeForInference: model must be a tf.LayersModel (a functional or Sequential model)');
  }
  if (options === null || typeof options !== 'object') {
    throw new Error('optimizeForInference: options must be an object');
  }
  const known = ['foldBatchNorm', 'fuseActivations', 'removeDropout'];
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      throw new Error(`optimizeForInference: unknown option '${key}' (known: ${known.join(', ')})`);
    }
    if (value !== undefined && typeof value !== 'boolean') {
      throw new Error(`optimizeForInference: option ${key} must be true or false, got ${JSON.stringify(value)}`);
    }
  }
  const ctx: Context = {
    options: { foldBatchNorm: true, fuseActivations: true, removeDropout: true, ...options },
    copies: new Map(),
    fused: new Map(),
    names: new Set(),
    temporaries: [],
  };
  try {
    const inputs = model.inputs.map((t) =>
      tf.input({ batchShape: t.shape, dtype: t.dtype, name: takeName(ctx, t.sourceLayer.name) }),
    );
    const outputs = rebuildGraph(ctx, model.inputs, model.outputs, inputs).map((t, i) => {
      // An output whose layer was removed (Dropout) gets an identity layer with its name.
      const name = model.outputs[i]!.sourceLayer.name;
      if (t.sourceLayer.name === name) return t;
      return tf.layers.activation({ activation: 'linear', name: takeName(ctx, name) }).apply(t) as Sym;
    });
    const result = tf.model({ inputs, outputs, name: model.name });
    const metadata = model.getUserDefinedMetadata();
    if (metadata !== undefined) result.setUserDefinedMetadata(structuredClone(metadata));
    return result;
  } finally {
    tf.dispose(ctx.temporaries);
  }
}
