import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { createModel, decodeImage, encodePng, initBackend, optimizeForInference, predictTiled } from '../src/node.js';
import { roundTrip } from './helpers.js';

type Sym = tf.SymbolicTensor;

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'smtf-optimize-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Number of layers of each class. */
function classCounts(model: tf.LayersModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of model.layers) counts[l.getClassName()] = (counts[l.getClassName()] ?? 0) + 1;
  return counts;
}

/**
 * Gives every bias, BatchNormalization parameter and moving statistic random values (fresh models
 * have zeros / ones there, which would hide a wrong fold). Seeded.
 */
function randomizeStatistics(model: tf.LayersModel, seed = 7): void {
  let s = seed;
  for (const layer of model.layers) {
    const values = layer.weights.map((w) => {
      const key = w.originalName.split('/').pop()!;
      const v = w.read();
      s += 1;
      if (key === 'moving_variance') return tf.randomUniform(v.shape, 0.3, 2.5, 'float32', s);
      if (key === 'gamma') return tf.randomUniform(v.shape, 0.5, 1.5, 'float32', s);
      if (key === 'beta' || key === 'moving_mean' || key === 'bias') return tf.randomNormal(v.shape, 0, 0.5, 'float32', s);
      return v.clone();
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** Largest |a − b| and largest |a| over all outputs (as numbers). */
function errors(a: tf.Tensor | tf.Tensor[], b: tf.Tensor | tf.Tensor[]): { abs: number; scale: number }[] {
  const as = Array.isArray(a) ? a : [a];
  const bs = Array.isArray(b) ? b : [b];
  expect(bs.length).toBe(as.length);
  return as.map((t, i) => {
    expect(bs[i]!.shape).toEqual(t.shape);
    return tf.tidy(() => ({
      abs: tf.max(tf.abs(tf.sub(t, bs[i]!))).dataSync()[0]!,
      scale: tf.max(tf.abs(t)).dataSync()[0]!,
    }));
  });
}

/** Outputs of `optimized` within 1e-4 of `model`'s, relative to max|y| and absolute. */
function expectSamePredictions(model: tf.LayersModel, optimized: tf.LayersModel, x: tf.Tensor): void {
  const a = model.predict(x);
  const b = optimized.predict(x);
  for (const { abs, scale } of errors(a, b)) {
    expect(scale).toBeGreaterThan(0);
    expect(abs).toBeLessThanOrEqual(1e-4 * scale);
    expect(abs).toBeLessThanOrEqual(1e-4);
  }
  tf.dispose([a, b]);
}

/** {@link expectSamePredictions} on a seeded random input in [0, 1), then disposes both models. */
function expectSameThenDispose(model: tf.LayersModel, optimized: tf.LayersModel, shape: number[], seed: number): void {
  const x = tf.randomUniform(shape, 0, 1, 'float32', seed);
  expectSamePredictions(model, optimized, x);
  tf.dispose(x);
  optimized.dispose();
  model.dispose();
}

const bn = (name: string, extra: Partial<{ scale: boolean; center: boolean; epsilon: number }> = {}) =>
  tf.layers.batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.9, name, ...extra });
const apply = (layer: tf.layers.Layer, x: Sym | Sym[]) => layer.apply(x) as Sym;

/** ResNet stem and blocks: ZeroPadding2D + valid stride-2 conv, BN, ReLU, residual Add after BN. */
function resnetLike(): tf.LayersModel {
  const input = tf.input({ shape: [20, 20, 3], name: 'input' });
  let x = apply(tf.layers.zeroPadding2d({ padding: 3, name: 'pad0' }), input);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 7, strides: 2, useBias: false, name: 'conv1' }), x);
  x = apply(bn('bn1'), x);
  x = apply(tf.layers.activation({ activation: 'relu', name: 'relu1' }), x);
  x = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'pad1' }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool' }), x);
  // Basic block with identity shortcut.
  let y = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'b1_conv1' }), x);
  y = apply(tf.layers.activation({ activation: 'relu', name: 'b1_relu1' }), apply(bn('b1_bn1'), y));
  y = apply(bn('b1_bn2'), apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'b1_conv2' }), y));
  x = apply(tf.layers.activation({ activation: 'relu', name: 'b1_out' }), apply(tf.layers.add({ name: 'b1_add' }), [y, x]));
  // Downsampling block with a 1×1 conv + BN shortcut.
  y = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'b2_pad' }), x);
  y = apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, useBias: false, name: 'b2_conv1' }), y);
  y = apply(tf.layers.activation({ activation: 'relu', name: 'b2_relu1' }), apply(bn('b2_bn1'), y));
  y = apply(bn('b2_bn2'), apply(tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', useBias: false, name: 'b2_conv2' }), y));
  const s = apply(bn('b2_down_bn'), apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, strides: 2, useBias: false, name: 'b2_down' }), x));
  x = apply(tf.layers.activation({ activation: 'relu', name: 'b2_out' }), apply(tf.layers.add({ name: 'b2_add' }), [y, s]));
  return tf.model({ inputs: input, outputs: x, name: 'resnet_like' });
}

/** MobileNetV2: conv → BN → ReLU6 layer, depthwise → BN → relu6, linear bottleneck, residual. */
function mobilenetLike(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: 'input' });
  let x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'stem' }), input);
  x = apply(tf.layers.reLU({ maxValue: 6, name: 'stem_relu6' }), apply(bn('stem_bn'), x));
  // Inverted residual: expand 1×1 → depthwise 3×3 → project 1×1 (no activation) + input.
  let y = apply(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, name: 'ir_expand' }), x);
  y = apply(tf.layers.reLU({ maxValue: 6, name: 'ir_expand_relu6' }), apply(bn('ir_expand_bn'), y));
  y = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'ir_dw' }), y);
  y = apply(tf.layers.activation({ activation: 'relu6', name: 'ir_dw_relu6' }), apply(bn('ir_dw_bn'), y));
  y = apply(bn('ir_project_bn'), apply(tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, name: 'ir_project' }), y));
  x = apply(tf.layers.add({ name: 'ir_add' }), [x, y]);
  // Depth multiplier 2 and a bias: the depthwise fold must map channel c·2 + m.
  x = apply(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'dw2' }), x);
  x = apply(tf.layers.reLU({ maxValue: 6, name: 'dw2_relu6' }), apply(bn('dw2_bn'), x));
  x = apply(tf.layers.dropout({ rate: 0.2, name: 'drop' }), x);
  x = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'sigmoid', name: 'head' }), x);
  return tf.model({ inputs: input, outputs: x, name: 'mobilenet_like' });
}

/** VGG-style convs with bias + BN (including scale/center off) and a BN decoder. */
function vggDecoderLike(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 2], name: 'input' });
  let x = apply(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'c1' }), input);
  const f1 = apply(tf.layers.activation({ activation: 'relu', name: 'c1_relu' }), apply(bn('c1_bn'), x));
  x = apply(tf.layers.maxPooling2d({ poolSize: 2, name: 'p1' }), f1);
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c2' }), x);
  x = apply(tf.layers.activation({ activation: 'elu', name: 'c2_elu' }), apply(bn('c2_bn', { scale: false }), x));
  x = apply(tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c3' }), x);
  x = apply(tf.layers.activation({ activation: 'sigmoid', name: 'c3_sig' }), apply(bn('c3_bn', { center: false }), x));
  x = apply(tf.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'sep' }), x);
  x = apply(tf.layers.activation({ activation: 'relu', name: 'sep_relu' }), apply(bn('sep_bn', { scale: false, center: false }), x));
  // Decoder: transpose conv → BN → relu, and resize → conv → BN → relu over the skip.
  let u = apply(tf.layers.conv2dTranspose({ filters: 6, kernelSize: 2, strides: 2, name: 'up_t' }), x);
  u = apply(tf.layers.activation({ activation: 'relu', name: 'up_t_relu' }), apply(bn('up_t_bn'), u));
  let v = apply(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear', name: 'up_b' }), x);
  v = apply(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'up_b_conv' }), v);
  v = apply(tf.layers.activation({ activation: 'relu', name: 'up_b_relu' }), apply(bn('up_b_bn'), v));
  x = apply(tf.layers.concatenate({ name: 'cat' }), [f1, u, v]);
  x = apply(tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'logits' }), x);
  x = apply(tf.layers.activation({ activation: 'softmax', name: 'probs' }), x);
  return tf.model({ inputs: input, outputs: x, name: 'vgg_decoder_like' });
}

/** BatchNormalizations that must stay: not after a conv, conv with two uses, conv already activated. */
function unfoldable(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'input' });
  const a = apply(bn('bn_on_input'), input);
  const c = apply(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'shared_out' }), a);
  const b = apply(tf.layers.activation({ activation: 'relu', name: 'after_kept_bn' }), apply(bn('bn_two_uses'), c));
  const sum = apply(tf.layers.add({ name: 'add' }), [b, c]);
  const pooled = apply(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }), sum);
  const p = apply(bn('bn_after_pool'), pooled);
  const r = apply(tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'activated' }), p);
  const q = apply(bn('bn_after_activated'), r);
  // A conv whose output is a model output keeps its BN too.
  const o = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'out_conv' }), q);
  const o2 = apply(bn('bn_of_output'), o);
  return tf.model({ inputs: input, outputs: [o2, o], name: 'unfoldable' });
}

describe('optimizeForInference on encoder-style patterns', () => {
  const cases: [string, () => tf.LayersModel, number[], Record<string, number>][] = [
    [
      'ResNet stem + basic blocks (padding, valid stride-2 convs, residual Add after BN)',
      resnetLike,
      [2, 20, 20, 3],
      { InputLayer: 1, ZeroPadding2D: 3, Conv2D: 6, MaxPooling2D: 1, Add: 2, Activation: 2 },
    ],
    [
      'MobileNetV2 (conv/depthwise → BN → ReLU6, linear bottleneck, depth multiplier 2, dropout)',
      mobilenetLike,
      [2, 16, 16, 3],
      { InputLayer: 1, Conv2D: 4, DepthwiseConv2D: 2, Add: 1 },
    ],
    [
      'VGG convs with bias + BN (scale / center off), separable conv, BN decoder',
      vggDecoderLike,
      [2, 16, 16, 2],
      {
        InputLayer: 1, Conv2D: 5, MaxPooling2D: 1, SeparableConv2D: 1, Conv2DTranspose: 1, UpSampling2D: 1,
        Concatenate: 1,
      },
    ],
  ];
  it.each(cases)('%s: folds every BN, fuses every activation after one, same outputs', (_, build, shape, expected) => {
    const model = build();
    randomizeStatistics(model);
    const optimized = optimizeForInference(model);
    expect(classCounts(optimized)).toEqual(expected);
    expect(optimized.outputNames).toEqual(model.outputNames);
    expectSameThenDispose(model, optimized, shape, 3);
  });

  it('folds the BN statistics exactly: kernel·γ/√(var+ε) and (bias − mean)·γ/√(var+ε) + β', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'c' });
    const norm = bn('n');
    const model = tf.model({ inputs: input, outputs: apply(norm, apply(conv, input)) });
    conv.setWeights([tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]), tf.tensor1d([0.5, -1])]);
    // gamma, beta, mean, variance; epsilon 1e-5.
    norm.setWeights([tf.tensor1d([2, 3]), tf.tensor1d([1, -2]), tf.tensor1d([0.5, 1]), tf.tensor1d([3, 8])]);
    const optimized = optimizeForInference(model);
    // One Conv2D left; it ends in the model output, so it takes the output's name.
    expect(classCounts(optimized)).toEqual({ InputLayer: 1, Conv2D: 1 });
    expect(optimized.outputNames).toEqual(['n']);
    const [kernel, bias] = optimized.getLayer('n').getWeights();
    const s = [2 / Math.sqrt(3 + 1e-5), 3 / Math.sqrt(8 + 1e-5)];
    const k = Array.from(kernel!.dataSync());
    [1 * s[0]!, 2 * s[1]!, 3 * s[0]!, 4 * s[1]!].forEach((v, i) => expect(k[i]).toBeCloseTo(v, 5));
    const b = Array.from(bias!.dataSync());
    expect(b[0]).toBeCloseTo((0.5 - 0.5) * s[0]! + 1, 5);
    expect(b[1]).toBeCloseTo((-1 - 1) * s[1]! - 2, 5);
    optimized.dispose();
    model.dispose();
  });

  it('keeps BNs that cannot fold: on the input, after a pool, after an activated conv, conv with two uses or a model output', () => {
    const model = unfoldable();
    randomizeStatistics(model);
    const optimized = optimizeForInference(model);
    const kept = optimized.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name);
    expect(kept.sort()).toEqual(['bn_after_activated', 'bn_after_pool', 'bn_of_output', 'bn_on_input', 'bn_two_uses']);
    // The relu after a kept BN stays a layer; 'shared_out' keeps no activation.
    expect(optimized.getLayer('after_kept_bn').getClassName()).toBe('Activation');
    expect(optimized.getLayer('shared_out').getConfig().activation).toBe('linear');
    expect(optimized.outputNames).toEqual(['bn_of_output', 'out_conv']);
    expectSameThenDispose(model, optimized, [2, 8, 8, 3], 4);
  });

  it('folds through Dropout, keeps a Dropout output name, inlines nested models and shared layers', () => {
    const inner = tf.sequential({
      name: 'inner',
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 4], filters: 4, kernelSize: 3, padding: 'same', name: 'inner_conv' }),
        tf.layers.batchNormalization({ name: 'inner_bn' }),
        tf.layers.activation({ activation: 'relu', name: 'inner_relu' }),
      ],
    });
    const a = tf.input({ shape: [8, 8, 4], name: 'a' });
    const b = tf.input({ shape: [8, 8, 4], name: 'b' });
    const shared = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'shared' });
    const ya = apply(tf.layers.dropout({ rate: 0.5, name: 'da' }), apply(shared, a));
    const yb = apply(bn('bn_b'), apply(tf.layers.dropout({ rate: 0.5, name: 'db' }), apply(shared, b)));
    const z = apply(inner, apply(tf.layers.add({ name: 'add' }), [ya, yb]));
    const out = apply(tf.layers.dropout({ rate: 0.5, name: 'final_dropout' }), z);
    const model = tf.model({ inputs: [a, b], outputs: [out, ya], name: 'nested' });
    randomizeStatistics(model);
    randomizeStatistics(inner, 11);
    const optimized = optimizeForInference(model);
    expect(optimized.inputNames).toEqual(['a', 'b']);
    expect(optimized.outputNames).toEqual(['final_dropout', 'da']);
    const counts = classCounts(optimized);
    // shared (plain) and shared_1 (BN bn_b folded), inner_conv (BN + relu); identity layers for the outputs.
    expect(counts).toEqual({ InputLayer: 2, Conv2D: 3, Add: 1, Activation: 2 });
    expect(optimized.getLayer('inner_conv').getConfig().activation).toBe('relu');
    const xs = [tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 5), tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 6)];
    const before = model.predict(xs) as tf.Tensor[];
    const after = optimized.predict(xs) as tf.Tensor[];
    for (const { abs, scale } of errors(before, after)) expect(abs).toBeLessThanOrEqual(1e-4 * scale);
    tf.dispose([xs, before, after]);
    optimized.dispose();
    model.dispose();
  });

  it('optimises a Sequential model, Dense → BN → softmax included', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, useBias: false, name: 'c' }),
        tf.layers.batchNormalization({ name: 'c_bn' }),
        tf.layers.reLU({ name: 'c_relu' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 5, name: 'd' }),
        tf.layers.batchNormalization({ name: 'd_bn' }),
        tf.layers.activation({ activation: 'softmax', name: 'probs' }),
      ],
    });
    randomizeStatistics(model);
    const optimized = optimizeForInference(model);
    expect(optimized.layers.map((l) => `${l.getClassName()}:${l.name}`).slice(1)).toEqual(['Conv2D:c', 'Flatten:flat', 'Dense:probs']);
    expect(optimized.getLayer('probs').getConfig().activation).toBe('softmax');
    expectSameThenDispose(model, optimized, [3, 8, 8, 2], 9);
  });

  it('options turn each transformation off', () => {
    const model = mobilenetLike();
    randomizeStatistics(model);
    const x = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 8);
    const noFold = optimizeForInference(model, { foldBatchNorm: false });
    expect(classCounts(noFold).BatchNormalization).toBe(5);
    expect(classCounts(noFold).Dropout).toBeUndefined();
    const noFuse = optimizeForInference(model, { fuseActivations: false });
    expect(classCounts(noFuse).BatchNormalization).toBeUndefined();
    expect((classCounts(noFuse).ReLU ?? 0) + (classCounts(noFuse).Activation ?? 0)).toBe(4);
    const keepDropout = optimizeForInference(model, { removeDropout: false });
    expect(classCounts(keepDropout).Dropout).toBe(1);
    for (const m of [noFold, noFuse, keepDropout]) {
      expectSamePredictions(model, m, x);
      m.dispose();
    }
    tf.dispose(x);
    model.dispose();
  });
});

describe('optimizeForInference on the library models', () => {
  const models: [string, object, number[]][] = [
    ['unet', { filters: [4, 8, 16], inputShape: [44, 44, 1], dropout: 0.3 }, [2, 44, 44, 1]],
    ['unet-padded', { filters: [4, 8, 16], inputShape: [32, 32, 3], numClasses: 3 }, [2, 32, 32, 3]],
    ['unet++', { filters: [4, 8, 16], inputShape: [32, 32, 1], deepSupervision: true, upsampling: 'bilinear' }, [2, 32, 32, 1]],
    ['unet3+', { filters: [4, 8, 16], inputShape: [32, 32, 1], cgm: true }, [2, 32, 32, 1]],
  ];
  it.each(models)('%s: no BN or activation layer left in conv blocks, same outputs, names and order', (name, opts, shape) => {
    const model = createModel(name, opts);
    randomizeStatistics(model);
    if (name === 'unet3+') {
      // Open the CGM gate for every image (P(object) > P(empty)), so the gated maps are compared.
      const cls = model.getLayer('cls_conv');
      const [k] = cls.getWeights();
      cls.setWeights([k!, tf.tensor1d([-4, 4])]);
    }
    const optimized = optimizeForInference(model);
    expect(optimized.outputNames).toEqual(model.outputNames);
    expect(optimized.name).toBe(model.name);
    const counts = classCounts(optimized);
    const original = classCounts(model);
    expect(counts.BatchNormalization).toBeUndefined();
    expect(counts.Dropout).toBeUndefined();
    expect(counts.Conv2D).toBe(original.Conv2D);
    // UNet 3+ keeps the activations after its resized side heads and the CGM's sigmoid.
    expect(counts.Activation).toBe(name === 'unet3+' ? 3 : undefined);
    if (name === 'unet') expect(counts['SMTF>CenterCrop2D']).toBe(original['SMTF>CenterCrop2D']);
    if (name === 'unet3+') {
      expect(counts['SMTF>ClassGate']).toBe(3);
      expect(optimized.getLayer('d1_conv').getConfig().activation).toBe('sigmoid');
    }
    expectSameThenDispose(model, optimized, shape, 9);
  });
});

/** A custom layer registered after the library's: rebuilt through its class, weights copied. */
class ChannelScale extends tf.layers.Layer {
  static className = 'SMTF>TestChannelScale';
  /** Instances constructed so far (shows whether a caller rebuilt the model). */
  static instances = 0;
  readonly offset: number;
  private scale?: tf.LayerVariable;
  constructor(config: { offset?: number; name?: string } = {}) {
    super(config);
    this.offset = config.offset ?? 0;
    ChannelScale.instances++;
  }
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    this.scale = this.addWeight('scale', [shape[shape.length - 1]!], 'float32', tf.initializers.ones());
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.add(tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, this.scale!.read()), this.offset));
  }
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), offset: this.offset };
  }
}
tf.serialization.registerClass(ChannelScale);

describe('optimizeForInference: independence, metadata, save/load, leaks, errors', () => {
  function withCustom(): tf.LayersModel {
    const input = tf.input({ shape: [8, 8, 2], name: 'input' });
    let x = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'c1' }), input);
    x = apply(tf.layers.activation({ activation: 'relu', name: 'r1' }), apply(bn('b1'), x));
    x = apply(new ChannelScale({ offset: 0.25, name: 'custom' }), x);
    x = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'head' }), x);
    const model = tf.model({ inputs: input, outputs: x, name: 'custom_model' });
    randomizeStatistics(model);
    const custom = model.getLayer('custom');
    custom.setWeights([tf.tensor1d([0.5, -2, 3])]);
    return model;
  }

  it('rebuilds a custom registered layer through its class with its config and weights', () => {
    const model = withCustom();
    const optimized = optimizeForInference(model);
    const layer = optimized.getLayer('custom');
    expect(layer).toBeInstanceOf(ChannelScale);
    expect(layer).not.toBe(model.getLayer('custom'));
    expect((layer as ChannelScale).offset).toBe(0.25);
    expect(Array.from(layer.getWeights()[0]!.dataSync())).toEqual([0.5, -2, 3]);
    expectSameThenDispose(model, optimized, [2, 8, 8, 2], 1);
  });

  it('shares nothing mutable: training or disposing either model leaves the other unchanged', async () => {
    const model = withCustom();
    const optimized = optimizeForInference(model);
    const x = tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 2);
    const y = tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 3);
    const snapshot = (m: tf.LayersModel) => Array.from((m.predict(x) as tf.Tensor).dataSync());
    const opt0 = snapshot(optimized);
    const orig0 = snapshot(model);
    expect(new Set(optimized.layers)).not.toContain(model.getLayer('custom'));
    const originalIds = new Set(model.weights.map((w) => w.read().dataId));
    expect(optimized.weights.some((w) => originalIds.has(w.read().dataId))).toBe(false);

    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    expect(snapshot(model)).not.toEqual(orig0);
    expect(snapshot(optimized)).toEqual(opt0);

    const orig1 = snapshot(model);
    optimized.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    await optimized.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    expect(snapshot(optimized)).not.toEqual(opt0);
    expect(snapshot(model)).toEqual(orig1);

    // Disposing the result leaves the original working, and the other way round.
    const again = optimizeForInference(model);
    const again0 = snapshot(again);
    optimized.dispose();
    expect(snapshot(model)).toEqual(orig1);
    model.dispose();
    expect(snapshot(again)).toEqual(again0);
    again.dispose();
    tf.dispose([x, y]);
  });

  it('copies the user-defined metadata (a copy, not the same object)', () => {
    const model = withCustom();
    const metadata = { normalize: 'unit', classes: ['background', 'cell'] };
    model.setUserDefinedMetadata(metadata);
    const optimized = optimizeForInference(model);
    expect(optimized.getUserDefinedMetadata()).toEqual(metadata);
    expect(optimized.getUserDefinedMetadata()).not.toBe(metadata);
    optimized.dispose();
    model.dispose();
  });

  it('saves and loads (file:// and memory) and predicts the same after loading', async () => {
    const model = createModel('unet3+', { filters: [4, 8], inputShape: [16, 16, 1], cgm: true });
    randomizeStatistics(model);
    model.setUserDefinedMetadata({ tag: 'x' });
    const optimized = optimizeForInference(model);
    await optimized.save(`file://${dir}/optimized`);
    const loaded = await tf.loadLayersModel(`file://${dir}/optimized/model.json`);
    const fromMemory = await roundTrip(optimized);
    expect(loaded.outputNames).toEqual(model.outputNames);
    expect(loaded.getUserDefinedMetadata()).toEqual({ tag: 'x' });
    const x = tf.randomUniform([2, 16, 16, 1], 0, 1, 'float32', 4);
    for (const m of [loaded, fromMemory]) {
      const a = optimized.predict(x) as tf.Tensor[];
      const b = m.predict(x) as tf.Tensor[];
      for (const { abs } of errors(a, b)) expect(abs).toBe(0);
      tf.dispose([a, b]);
      m.dispose();
    }
    tf.dispose(x);
    optimized.dispose();
    model.dispose();
  });

  it('leaks nothing: tensors return to the baseline after disposing the result', () => {
    const model = createModel('unet-padded', { filters: [4, 8, 16], inputShape: [16, 16, 1], dropout: 0.1 });
    const before = tf.memory().numTensors;
    const optimized = optimizeForInference(model);
    // One variable per weight of the result, nothing else.
    expect(tf.memory().numTensors).toBe(before + optimized.weights.length);
    optimized.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('rejects what is not a model and bad options with a clear Error', () => {
    const model = withCustom();
    expect(() => optimizeForInference({} as tf.LayersModel)).toThrow(/must be a tf.LayersModel/);
    expect(() => optimizeForInference(model, { fold: true } as never)).toThrow(/unknown option 'fold'/);
    expect(() => optimizeForInference(model, { foldBatchNorm: 'yes' } as never)).toThrow(/foldBatchNorm must be true or false/);
    model.dispose();
  });

  it('names the layer when a custom layer cannot be rebuilt from its config', () => {
    class Broken extends tf.layers.Layer {
      static className = 'SMTF>TestBroken';
      constructor(config: { name?: string; must?: number } = {}) {
        super(config);
        if (config.must !== 1) throw new Error('needs must: 1');
      }
    }
    tf.serialization.registerClass(Broken);
    const input = tf.input({ shape: [4] });
    const model = tf.model({ inputs: input, outputs: apply(new Broken({ must: 1, name: 'broken' }), input) });
    expect(() => optimizeForInference(model)).toThrow(/cannot rebuild layer 'broken' \(SMTF>TestBroken\).*needs must: 1/);
    model.dispose();
  });
});

describe('predictTiled and the CLI predict use optimizeForInference', () => {
  // Seeded kernels, as the statistics: the CLI test below compares the thresholded masks of the
  // folded and the plain model, whose probabilities differ in the last bits (up to 6e-8). With
  // these seeds the CLI's image gets 129 of 640 pixels foreground and no probability within 1.4e-3
  // of 0.5; unseeded, most draws gave an all-background mask, and some a pixel within 1e-7 of 0.5.
  function customModel(size: number | null): tf.LayersModel {
    const input = tf.input({ shape: [size, size, 1], name: 'input' });
    const kernelInitializer = (seed: number) => tf.initializers.glorotUniform({ seed });
    let x = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'c1', kernelInitializer: kernelInitializer(145) }), input);
    x = apply(tf.layers.activation({ activation: 'relu', name: 'r1' }), apply(bn('b1'), x));
    x = apply(new ChannelScale({ offset: 0.1, name: 'custom' }), x);
    x = apply(tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'head', kernelInitializer: kernelInitializer(245) }), x);
    const model = tf.model({ inputs: input, outputs: x });
    randomizeStatistics(model);
    return model;
  }

  it('predictTiled optimises once per call (optimize: false does not), same result, no leak', async () => {
    const model = customModel(null);
    const image = tf.randomUniform([40, 52, 1], 0, 1, 'float32', 5) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const n0 = ChannelScale.instances;
    const plain = await predictTiled(model, image, { tileSize: 16, optimize: false });
    expect(ChannelScale.instances).toBe(n0);
    const fast = await predictTiled(model, image, { tileSize: 16, batchSize: 3 });
    expect(ChannelScale.instances).toBe(n0 + 1);
    expect(tf.memory().numTensors).toBe(before + 2);
    const [{ abs, scale }] = errors(plain, fast);
    expect(abs).toBeLessThanOrEqual(1e-4 * scale!);
    await expect(predictTiled(model, image, { tileSize: 16, optimize: 'yes' as never })).rejects.toThrow(
      /optimize must be true or false/,
    );
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([image, plain, fast]);
    model.dispose();
  });

  it('CLI predict optimises by default and --no-optimize predicts with the saved model; same masks', async () => {
    const model = customModel(16);
    const modelDir = join(dir, 'cli-model');
    await model.save(`file://${modelDir}`);
    model.dispose();
    const images = join(dir, 'cli-images');
    await mkdir(images, { recursive: true });
    const data = Uint8Array.from({ length: 16 * 40 }, (_, i) => (i * 37) % 256);
    await writeFile(join(images, 'a.png'), encodePng({ data, height: 16, width: 40, channels: 1, maxValue: 255 }));
    const masks: number[][] = [];
    for (const flags of [[], ['--no-optimize']]) {
      const out = join(dir, `cli-out${flags.length}`);
      const before = tf.memory().numTensors;
      const n0 = ChannelScale.instances;
      const lines: string[] = [];
      const code = await main(['predict', '--model', modelDir, '--input', images, '--out', out, '--backend', 'cpu', ...flags], (l) => lines.push(l));
      expect(code).toBe(0);
      // Loading builds one instance; optimising builds a second.
      expect(ChannelScale.instances - n0).toBe(flags.length === 0 ? 2 : 1);
      expect(tf.memory().numTensors).toBe(before);
      masks.push(Array.from(decodeImage(await readFile(join(out, 'a_mask.png'))).data));
    }
    // Both classes are present, so the comparison can see a wrong prediction.
    expect(new Set(masks[0])).toEqual(new Set([0, 255]));
    expect(masks[0]).toEqual(masks[1]);
    await expect(
      main(['predict', '--model', modelDir, '--input', images, '--out', dir, '--optimize', 'maybe'], () => {}),
    ).rejects.toThrow(/--optimize takes no value/);
  });
});

describe('optimizeForInference on wasm (fused conv kernels with relu / relu6 / sigmoid)', () => {
  beforeAll(async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  it.each([
    ['MobileNetV2-like', mobilenetLike, [2, 16, 16, 3]],
    ['ResNet-like', resnetLike, [2, 20, 20, 3]],
    ['unet-padded', () => createModel('unet-padded', { filters: [4, 8, 16], inputShape: [32, 32, 1] }), [2, 32, 32, 1]],
  ] as [string, () => tf.LayersModel, number[]][])('%s: same outputs as the original on wasm', (_, build, shape) => {
    const model = build();
    randomizeStatistics(model);
    const optimized = optimizeForInference(model);
    expectSameThenDispose(model, optimized, shape, 12);
  });
});
