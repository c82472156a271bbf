/**
 * createModel(name, { encoder, ... }): options, errors, sizes, parameter counts, metadata, pruning,
 * save/load and freezing of the models on an ImageNet encoder. Numerical equivalence with
 * segmentation_models.pytorch is in smpModels.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  buildEncoderModel,
  buildUNet,
  createModel,
  getEncoderSpec,
  listEncoders,
  modelInfo,
  paramCounts,
  pruneUNetPlusPlus,
  stateDictMapping,
} from '../src/node.js';
import { encoderUNet3PlusDecoderCounts } from './countFormulas.js';
import { countsFile } from './smpFixtures.js';
import { deterministicInput, loadFormulaWeights } from './smpWeights.js';
import { expectSamePredictions, fileRoundTrip } from './helpers.js';

afterEach(() => {
  tf.disposeVariables();
});

const ENCODERS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'vgg16', 'vgg16_bn'];


function input(shape: number[], name = 'x'): tf.Tensor4D {
  return tf.tensor4d(deterministicInput(name, shape), shape as [number, number, number, number]);
}

// ---------------------------------------------------------------------------------------------
// Parameter counts
// ---------------------------------------------------------------------------------------------

/** Counts of every encoder × decoder at depth 5, 1 class, 3 input channels (logged for the docs). */
const table: Record<string, Record<string, string>> = {};
afterAll(() => {
  console.log('parameter counts (trainable / BN statistics) at depth 5, 1 class, 3 channels:', table);
});

describe('parameter counts at depth 5 (1 class, 3 input channels)', () => {
  it('the published SMP counts, exactly', () => {
    const published: [string, string, number][] = [
      ['unet', 'resnet34', 24_436_369],
      ['unet++', 'resnet34', 26_078_609],
      ['unet', 'mobilenet_v2', 6_628_945],
    ];
    for (const [name, encoder, params] of published) {
      const model = createModel(name, { encoder, inputShape: [64, 64, 3], numClasses: 1 });
      expect(paramCounts(model).trainable, `${name} ${encoder}`).toBe(params);
      model.dispose();
    }
  });

  // counts.json: derived independently by the PyTorch reference (scripts/smp_reference.py), which
  // builds SMP's Unet / UnetPlusPlus module trees: `params` = SMP's parameters(), `used_params` =
  // those the forward pass uses (autograd: the gradient is not None). They differ only for
  // UnetPlusPlus on VGG, whose center block SMP builds but never applies (not built here).
  it.each(ENCODERS)('%s: Unet and UnetPlusPlus = SMP (counts.json); UNet 3+ = its formula', (encoder) => {
    const row = (model: string) =>
      countsFile().models.find((r) => r.model === model && r.encoder === encoder && r.encoder_depth === 5 && r.in_channels === 3 && r.classes === 1)!;
    const enc = countsFile().encoders.find((r) => r.encoder === encoder && r.encoder_depth === 5 && r.in_channels === 3)!;
    table[encoder] = {};
    for (const [name, smp] of [['unet', 'Unet'], ['unet++', 'UnetPlusPlus']] as const) {
      const ref = row(smp);
      expect(ref.decoder_channels).toEqual([256, 128, 64, 32, 16]);
      const model = createModel(name, { encoder, inputShape: [64, 64, 3] });
      const counts = paramCounts(model);
      expect(counts.trainable, `${name} ${encoder}`).toBe(ref.used_params);
      expect(counts.nonTrainable, `${name} ${encoder}`).toBe(ref.used_bn_buffers);
      expect(stateDictMapping(model)).toHaveLength(ref.used_mapped_keys);
      if (name === 'unet++' && encoder.startsWith('vgg')) {
        // SMP's count includes the unused center block: 2 × (512·512·9 + 2·512) parameters.
        expect(ref.params - ref.used_params).toBe(4_720_640);
      } else {
        expect(ref.params).toBe(ref.used_params);
      }
      table[encoder]![name] = `${counts.trainable} / ${counts.nonTrainable}`;
      model.dispose();
    }
    const model = createModel('unet3+', { encoder, inputShape: [64, 64, 3] });
    const decoder = encoderUNet3PlusDecoderCounts(getEncoderSpec(encoder).outChannels, 64, 1);
    const counts = paramCounts(model);
    expect(counts).toEqual({
      trainable: enc.used_params + decoder.trainable,
      nonTrainable: enc.used_bn_buffers + decoder.nonTrainable,
      total: enc.used_params + enc.used_bn_buffers + decoder.trainable + decoder.nonTrainable,
    });
    table[encoder]!['unet3+'] = `${counts.trainable} / ${counts.nonTrainable}`;
    model.dispose();
  });

  it('UNet 3+ with deep supervision and the CGM, depth 3, 1 input channel: the formula', () => {
    const model = createModel('unet3+', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 1], numClasses: 2, cgm: true, catChannels: 8 });
    const enc = countsFile().encoders.find((r) => r.encoder === 'resnet18' && r.encoder_depth === 3 && r.in_channels === 1)!;
    const decoder = encoderUNet3PlusDecoderCounts([1, 64, 64, 128], 8, 2, { cgm: true });
    expect(paramCounts(model).trainable).toBe(enc.used_params + decoder.trainable);
    expect(paramCounts(model).nonTrainable).toBe(enc.used_bn_buffers + decoder.nonTrainable);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Options, sizes and errors
// ---------------------------------------------------------------------------------------------

describe('options', () => {
  const tiny = { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3] as [number, number, number] };

  it('defaults: depth 5, [256, 256, 3], 1 class, sigmoid, SMP decoder channels; recorded in the metadata', () => {
    const model = createModel('unet', { encoder: 'ResNet18' });
    const info = modelInfo(model)!;
    expect(info).toMatchObject({ architecture: 'unet', encoder: 'resnet18', encoderDepth: 5 });
    expect(info.options).toEqual({
      encoder: 'resnet18',
      encoderDepth: 5,
      inputShape: [256, 256, 3],
      numClasses: 1,
      finalActivation: 'sigmoid',
      name: 'unet_resnet18',
      decoderChannels: [256, 128, 64, 32, 16],
      decoderBatchNorm: true,
      decoderInterpolation: 'nearest',
      decoderCenterBlock: false,
    });
    expect(info.preprocessing).toEqual({ inputSpace: 'RGB', inputRange: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(model.outputs[0]!.shape).toEqual([null, 256, 256, 1]);
    expect(model.getLayer('segmentation_head.0').getConfig().activation).toBe('sigmoid');
    model.dispose();
  });

  it('decoderChannels default to the last encoderDepth entries of SMP’s list; softmax for several classes', () => {
    const d3 = createModel('unet++', { ...tiny, numClasses: 3 });
    expect(modelInfo(d3)!.options).toMatchObject({ decoderChannels: [64, 32, 16], finalActivation: 'softmax', deepSupervision: false });
    expect(d3.getLayer('decoder.blocks.x_0_2.conv2.0').getConfig().filters).toBe(16);
    const d4 = createModel('unet', { ...tiny, encoderDepth: 4 });
    expect(modelInfo(d4)!.options.decoderChannels).toEqual([128, 64, 32, 16]);
    d3.dispose();
    d4.dispose();
  });

  it('BatchNorm: PyTorch epsilon 1e-5 and momentum 0.1 (Keras 0.9) in encoder, decoder and UNet 3+ units', () => {
    for (const name of ['unet', 'unet++', 'unet3+']) {
      const model = createModel(name, tiny);
      const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      expect(bns.length).toBeGreaterThan(10);
      for (const bn of bns) expect([bn.getConfig().epsilon, bn.getConfig().momentum], bn.name).toEqual([1e-5, 0.9]);
      model.dispose();
    }
  });

  it('the VGG center block as SMP: Unet has decoder.center, Unet++ none; decoderCenterBlock overrides it for Unet', () => {
    const o = { encoder: 'vgg16', encoderDepth: 3, inputShape: [32, 32, 3] as [number, number, number] };
    const has = (m: tf.LayersModel) => m.layers.some((l) => l.name.startsWith('decoder.center.'));
    const unet = createModel('unet', o);
    const unetPP = createModel('unet++', o);
    const plain = createModel('unet', { ...o, decoderCenterBlock: false });
    const resnet = createModel('unet', { ...tiny, decoderCenterBlock: true });
    expect([has(unet), has(unetPP), has(plain), has(resnet)]).toEqual([true, false, false, true]);
    expect(modelInfo(unet)!.options.decoderCenterBlock).toBe(true);
    [unet, unetPP, plain, resnet].forEach((m) => m.dispose());
  });

  it('unet and unet-padded build the same model (an encoder UNet is always padded)', () => {
    const a = createModel('unet', { ...tiny, name: 'same' });
    const b = createModel('unet-padded', { ...tiny, name: 'same' });
    const { architecture: _a, ...infoA } = modelInfo(a)!;
    const { architecture: _b, ...infoB } = modelInfo(b)!;
    expect(infoB).toEqual(infoA);
    expect(modelInfo(b)!.architecture).toBe('unet-padded');
    expect(stateDictMapping(b)).toEqual(stateDictMapping(a));
    expect(b.outputs[0]!.shape).toEqual([null, 32, 32, 1]);
    a.dispose();
    b.dispose();
  });

  it('any input channel count: the first conv is built for it', () => {
    for (const [encoder, c] of [['resnet18', 1], ['mobilenet_v2', 4], ['vgg16_bn', 2]] as const) {
      const model = createModel('unet', { encoder, encoderDepth: 3, inputShape: [32, 32, c] });
      const first = stateDictMapping(model).find((m) => m.layer === getEncoderSpec(encoder).firstConv && m.key.endsWith('.weight'))!;
      expect(first.shape[1]).toBe(c);
      model.dispose();
    }
  });

  it('options of the plain models are errors naming the encoder alternative', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['unet', { filters: [8, 16] }, /unet: option 'filters' does not apply to a model on an ImageNet encoder: .*decoderChannels .*encoderDepth/],
      ['unet++', { upsampling: 'bilinear' }, /option 'upsampling' does not apply .*use decoderInterpolation/],
      ['unet3+', { batchNorm: false }, /option 'batchNorm' does not apply .*use decoderBatchNorm/],
      ['unet', { activation: 'elu' }, /option 'activation' does not apply/],
      ['unet', { batchNormMomentum: 0.99 }, /option 'batchNormMomentum' does not apply .*momentum 0.1/],
      ['unet', { dropout: 0.1 }, /option 'dropout' does not apply .*no dropout/],
      ['unet', { kernelInitializer: 'heNormal' }, /option 'kernelInitializer' does not apply .*loadStateDict/],
      ['unet++', { decoderCenterBlock: true }, /option 'decoderCenterBlock' does not apply .*never applies it/],
      ['unet3+', { decoderChannels: [16, 8, 4] }, /option 'decoderChannels' does not apply .*catChannels/],
      ['unet3+', { decoderInterpolation: 'nearest' }, /option 'decoderInterpolation' does not apply .*bilinearly/],
      ['unet', { deepSupervision: true }, /option 'deepSupervision' does not apply .*unet\+\+ \/ unet3\+/],
      ['unet', { cgm: true }, /option 'cgm' does not apply .*UNet 3\+ option/],
      ['unet', { foo: 1 }, /unet with an encoder: unknown option 'foo'. Known options: decoderBatchNorm, decoderCenterBlock, decoderChannels/],
    ];
    for (const [name, extra, message] of cases) expect(() => createModel(name, { ...tiny, ...extra }), JSON.stringify(extra)).toThrow(message);
  });

  it('unknown encoders, depths and bad values are clear errors', () => {
    expect(() => createModel('unet', { encoder: 'resnet101' })).toThrow(
      `unet: Unknown encoder 'resnet101'. Known encoders: ${listEncoders().join(', ')}.`,
    );
    expect(() => createModel('unet', { encoder: 42 })).toThrow(/Known encoders: resnet18/);
    expect(() => createModel('unet', { ...tiny, encoderDepth: 6 })).toThrow(/encoderDepth must be an integer from 3 to 5 .* got 6/);
    expect(() => createModel('unet', { ...tiny, encoderDepth: 2 })).toThrow(/from 3 to 5/);
    expect(() => createModel('unet', { ...tiny, decoderChannels: [8, 4] })).toThrow(/decoderChannels must list 3 positive integers/);
    expect(() => createModel('unet', { ...tiny, decoderInterpolation: 'cubic' })).toThrow(/decoderInterpolation must be 'nearest' or 'bilinear', got 'cubic'\./);
    expect(() => createModel('unet', { ...tiny, inputShape: [32, 32, 0] })).toThrow(/inputShape must be \[height, width, channels\]/);
    expect(() => createModel('unet++', { ...tiny, deepSupervision: 'yes' })).toThrow(/deepSupervision must be true or false/);
    expect(() => createModel('unet3+', { ...tiny, cgm: true, finalActivation: 'linear' })).toThrow(/cgm gates probabilities/);
    expect(() => buildUNet({ encoder: 'resnet18' } as never)).toThrow(
      "unet: this builder makes the plain model; for a model on an ImageNet encoder use createModel('unet', { encoder, ... })",
    );
    expect(() => buildEncoderModel('segnet' as never, tiny)).toThrow(/architecture must be 'unet', 'unet-padded', 'unet\+\+' or 'unet3\+', got 'segnet'\./);
    const plain = createModel('unet-padded', { encoder: undefined, inputShape: [16, 16, 1], filters: [4, 8] });
    expect(modelInfo(plain)!.encoder).toBe('plain');
    plain.dispose();
  });

  it('sizes as SMP: Unet any H × W, Unet++ and UNet 3+ divisible by 2^depth (naming the nearest sizes)', () => {
    const odd = createModel('unet', { encoder: 'resnet18', encoderDepth: 3, inputShape: [29, 35, 3] });
    expect(odd.outputs[0]!.shape).toEqual([null, 29, 35, 1]);
    const any = createModel('unet', { encoder: 'mobilenet_v2', encoderDepth: 3, inputShape: [null, null, 3] });
    const y = any.predict(tf.zeros([1, 21, 13, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 21, 13, 1]);
    expect(() => createModel('unet++', { encoder: 'resnet18', inputShape: [100, 96, 3] })).toThrow(
      'unet++: input height 100 is not divisible by the encoder\'s output stride 2^5 = 32 (encoderDepth 5; every decoder stage upsamples by exactly 2); nearest valid sizes: 96 or 128',
    );
    expect(() => createModel('unet3+', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 20, 3] })).toThrow(
      /input width 20 is not divisible by the encoder's output stride 2\^3 = 8 .*nearest valid sizes: 16 or 24/,
    );
    expect(() => createModel('unet', { encoder: 'vgg16', inputShape: [16, 48, 3] })).toThrow(
      'unet: input 16x48 is too small for encoder vgg16 at encoderDepth 5: feature f5 would be 0x1. Use height and width of at least 32',
    );
    tf.dispose(y);
    [odd, any].forEach((m) => m.dispose());
  });
});

// ---------------------------------------------------------------------------------------------
// Metadata, deep supervision, pruning, UNet 3+ outputs
// ---------------------------------------------------------------------------------------------

describe('metadata and outputs', () => {
  it('the recorded options rebuild the identical model (topology, weight names and shapes)', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['unet', { encoder: 'vgg16_bn', encoderDepth: 3, inputShape: [24, 40, 1], numClasses: 2, decoderInterpolation: 'bilinear' }],
      ['unet++', { encoder: 'mobilenet_v2', encoderDepth: 4, inputShape: [32, 32, 4], deepSupervision: true, decoderBatchNorm: false }],
      ['unet3+', { encoder: 'resnet50', encoderDepth: 3, inputShape: [16, 16, 3], cgm: true, catChannels: 8 }],
    ];
    for (const [name, options] of cases) {
      const model = createModel(name, options);
      const info = modelInfo(model)!;
      const again = createModel(info.architecture, info.options);
      expect(JSON.stringify(again.toJSON(null, false))).toBe(JSON.stringify(model.toJSON(null, false)));
      expect(stateDictMapping(again)).toEqual(stateDictMapping(model));
      expect(again.weights.map((w) => w.shape)).toEqual(model.weights.map((w) => w.shape));
      expect(modelInfo(again)).toEqual(info);
      again.dispose();
      model.dispose();
    }
  });

  it('unet++ deep supervision: heads on the stride-2 nodes, final first; pruning gives each level’s output', () => {
    const model = createModel('unet++', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3], deepSupervision: true });
    loadFormulaWeights(model);
    const info = modelInfo(model)!;
    expect(info.outputs).toEqual([
      { name: 'segmentation_head.0', role: 'segmentation' },
      { name: 'deep_supervision.2.activation', role: 'deep-supervision' },
      { name: 'deep_supervision.1.activation', role: 'deep-supervision' },
    ]);
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 32, 32, 1], [null, 32, 32, 1], [null, 32, 32, 1]]);
    const x = input([1, 32, 32, 3]);
    const all = model.predict(x) as tf.Tensor[];
    for (const level of [1, 2, 3]) {
      const pruned = pruneUNetPlusPlus(model, level);
      expect(modelInfo(pruned)!.prunedLevel).toBe(level);
      if (level < 3) expect(pruned.layers.length).toBeLessThan(model.layers.length);
      const y = pruned.predict(x) as tf.Tensor;
      expect(Array.from(y.dataSync())).toEqual(Array.from(all[3 - level]!.dataSync()));
      tf.dispose(y);
    }
    tf.dispose([x, ...all]);
    model.dispose();
  });

  it('unet3+ on an encoder: d1 … d_D at full resolution, cls last; stage d at stride 2^d', () => {
    const model = createModel('unet3+', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3], cgm: true, numClasses: 2, catChannels: 8 });
    expect(model.outputNames).toEqual(['d1', 'd2', 'd3', 'cls']);
    expect(modelInfo(model)!.outputs.map((o) => o.role)).toEqual(['segmentation', 'deep-supervision', 'deep-supervision', 'classification']);
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 32, 32, 2], [null, 32, 32, 2], [null, 32, 32, 2], [null, 2]]);
    expect((model.getLayer('dec1_fuse_conv1').output as tf.SymbolicTensor).shape).toEqual([null, 16, 16, 24]);
    expect((model.getLayer('dec2_fuse_conv1').output as tf.SymbolicTensor).shape).toEqual([null, 8, 8, 24]);
    // Stage 1 fuses f1 (as is), f2's stage 2 and f3 (upsampled); stage 2 pools f1 by 2.
    expect(model.layers.some((l) => l.name === 'dec2_enc1_pool')).toBe(true);
    expect(model.layers.some((l) => l.name.startsWith('dec1_enc0') || l.name.startsWith('dec0'))).toBe(false);
    expect((model.getLayer('d1_up').output as tf.SymbolicTensor).shape).toEqual([null, 32, 32, 2]);
    model.dispose();
  });
});

// ---------------------------------------------------------------------------------------------
// Save / load (training and freezing: encoderModelsTraining.test.ts)
// ---------------------------------------------------------------------------------------------

describe('save / load through file://', () => {
  it.each([
    ['unet', 'resnet18', {}],
    ['unet++', 'mobilenet_v2', { deepSupervision: true, inputShape: [16, 16, 4] }],
    ['unet3+', 'vgg16_bn', { cgm: true, catChannels: 8 }],
  ] as const)('%s on %s: topology, metadata, weights and predictions survive', async (name, encoder, extra) => {
    const model = createModel(name, { encoder, encoderDepth: 3, inputShape: [16, 16, 3], ...extra });
    loadFormulaWeights(model);
    const loaded = await fileRoundTrip(model);
    expect(modelInfo(loaded)).toEqual(modelInfo(model));
    expect(stateDictMapping(loaded)).toEqual(stateDictMapping(model));
    const x = input([1, 16, 16, model.inputs[0]!.shape[3]!]);
    expectSamePredictions(model, loaded, x);
    tf.dispose(x);
    loaded.dispose();
    model.dispose();
  });
});
