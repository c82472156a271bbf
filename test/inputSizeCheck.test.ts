import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  InputSizeCheck,
  checkInputSize,
  checkModelInputSize,
  createModel,
  createSegmentationDataset,
  initBackend,
  modelInfo,
  optimizeForInference,
  predictTiled,
  pruneUNetPlusPlus,
  type InputShape,
  syntheticCells,
  train,
} from '../src/index.js';
import { maxAbsDiff, randomImage, roundTrip } from './helpers.js';
import { TFJS_ERROR_TEXT, buildTimeMessage, describeRuntimeSizeChecks, errorOf } from './inputSizeCases.js';

const TINY = { filters: [4, 8, 16] };

beforeAll(async () => {
  expect(await initBackend('cpu')).toBe('cpu');
});

describe('every model checks its input size at run time (cpu)', () => {
  describeRuntimeSizeChecks('cpu');
});

/** The model's layers of class InputSizeCheck. */
function checks(model: tf.LayersModel): InputSizeCheck[] {
  return model.layers.filter((l): l is InputSizeCheck => l instanceof InputSizeCheck);
}

describe('InputSizeCheck', () => {
  it('sits right after the input of variable-size models only, and states its rule in its config', () => {
    const rules: [string, Record<string, unknown>, object][] = [
      ['unet', TINY, { model: 'unet', rule: 'unet-valid', depth: 2 }],
      ['unet-padded', TINY, { model: 'unet-padded', rule: 'divisible', depth: 2 }],
      ['unet++', { filters: [4, 8, 16, 32] }, { model: 'unet++', rule: 'divisible', depth: 3 }],
      ['unet3+', TINY, { model: 'unet3+', rule: 'divisible', depth: 2 }],
    ];
    for (const [name, options, rule] of rules) {
      const free = createModel(name, { ...options, inputShape: [null, null, 1] });
      const [check] = checks(free);
      expect(checks(free)).toHaveLength(1);
      expect(check!.getConfig()).toMatchObject({ ...rule, name: 'input_size_check' });
      expect(check!.inboundNodes[0]!.inboundLayers[0]!.name).toBe('input');
      expect(free.layers[1]).toBe(check);
      // Variable height only, fixed width: still checked.
      const half = createModel(name, { ...options, inputShape: [null, 48, 1] });
      expect(checks(half)).toHaveLength(1);
      const fixed = createModel(name, { ...options, inputShape: [48, 48, 1] });
      expect(checks(fixed)).toHaveLength(0);
      // No weights: the parameter counts of the variable-size model are the fixed-size model's.
      expect(free.countParams()).toBe(fixed.countParams());
      expect(free.layers.length).toBe(fixed.layers.length + 1);
      // The encoder features are the same layers (the check is an ancestor, without weights).
      expect(modelInfo(free)!.encoderFeatures).toEqual(modelInfo(fixed)!.encoderFeatures);
      [free, half, fixed].forEach((m) => m.dispose());
    }
  });

  it('rejects a bad config, and checks concrete shapes symbolically too', () => {
    expect(() => new InputSizeCheck({ model: 'x', rule: 'odd' as never, depth: 2 })).toThrow(
      "InputSizeCheck: rule must be 'unet-valid', 'divisible', 'output-stride' or 'any', got 'odd'.",
    );
    expect(() => new InputSizeCheck({ model: 'x', rule: 'divisible', depth: -1 })).toThrow('depth must be an integer >= 0');
    expect(() => new InputSizeCheck({ model: '', rule: 'any', depth: 0 })).toThrow('model must be a non-empty string');
    const layer = new InputSizeCheck({ model: 'unet++', rule: 'divisible', depth: 3 });
    expect(layer.computeOutputShape([null, null, null, 2])).toEqual([null, null, null, 2]);
    expect(layer.computeOutputShape([1, 16, 24, 2])).toEqual([1, 16, 24, 2]);
    expect(() => layer.computeOutputShape([1, 20, 24, 2])).toThrow(
      'unet++: input height 20 is not divisible by 2^3 = 8 (3 poolings for 4 filter levels); nearest valid sizes: 16 or 24',
    );
    expect(() => layer.apply(tf.input({ shape: [16, 12, 2] }))).toThrow('unet++: input width 12 is not divisible by 2^3 = 8');
    expect(() => layer.computeOutputShape([null, 16, 16])).toThrow('InputSizeCheck expects NHWC images (rank 4');
    // 'any' takes every size.
    const any = new InputSizeCheck({ model: 'unet', rule: 'any', depth: 5 });
    const x = tf.ones([1, 7, 3, 1]);
    const y = any.apply(x) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, y]);
  });

  it('checkInputSize gives the build-time message of each rule, one axis at a time', () => {
    expect(() => checkInputSize({ model: 'unet', rule: 'unet-valid', depth: 4 }, 572, 190)).toThrow(
      buildTimeMessage('unet', {}, 572, 190),
    );
    expect(buildTimeMessage('unet', {}, 572, 190)).toMatch(/^unet: input width — classic UNet \(depth 4\) cannot take input size 190: .*Nearest valid sizes: 188 or 204/);
    expect(() => checkInputSize({ model: 'unet', rule: 'unet-valid', depth: 4 }, null, 572)).not.toThrow();
    expect(() => checkInputSize({ model: 'unet-padded', rule: 'divisible', depth: 2 }, 16, 18)).toThrow(
      buildTimeMessage('unet-padded', TINY, 16, 18),
    );
    expect(() => checkInputSize({ model: 'm', rule: 'any', depth: 5 }, 1, 3)).not.toThrow();
  });

  it('survives save/load, optimizeForInference and pruneUNetPlusPlus', async () => {
    const model = createModel('unet++', { ...TINY, inputShape: [null, null, 1], deepSupervision: true });
    const bad = tf.zeros([1, 18, 16, 1]);
    const message = buildTimeMessage('unet++', TINY, 18, 16);
    const x = randomImage([1, 16, 24, 1], 2);
    const expected = model.predict(x) as tf.Tensor[];

    const loaded = await roundTrip(model);
    expect(checks(loaded).map((l) => l.getConfig())).toEqual(checks(model).map((l) => l.getConfig()));
    expect(errorOf(() => loaded.predict(bad)).message).toBe(message);
    const got = loaded.predict(x) as tf.Tensor[];
    expect(maxAbsDiff(got, expected)).toBe(0);

    const fast = optimizeForInference(model);
    expect(checks(fast)).toHaveLength(1);
    expect(errorOf(() => fast.predict(bad)).message).toBe(message);
    const fastOut = fast.predict(x) as tf.Tensor[];
    expect(maxAbsDiff(fastOut, expected)).toBeLessThan(1e-4);

    const pruned = pruneUNetPlusPlus(model, 1);
    expect(checks(pruned)).toEqual(checks(model));
    expect(errorOf(() => pruned.predict(bad)).message).toBe(message);

    tf.dispose([bad, x, ...expected, ...got, ...fastOut]);
    [loaded, fast, model].forEach((m) => m.dispose());
  });

  it('a variable-size model saved without it (before the check existed) still loads and predicts', async () => {
    const model = createModel('unet-padded', { ...TINY, inputShape: [null, null, 1] });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    // The saved topology as it was: the encoder's first convolution reads the input directly.
    const topology = artifacts!.modelTopology as { config: { layers: { class_name: string; name: string; inbound_nodes: unknown }[] } };
    const layers = topology.config.layers;
    expect(layers.filter((l) => l.class_name === 'SMTF>InputSizeCheck')).toHaveLength(1);
    topology.config.layers = layers.filter((l) => l.class_name !== 'SMTF>InputSizeCheck');
    for (const l of topology.config.layers) {
      l.inbound_nodes = JSON.parse(JSON.stringify(l.inbound_nodes).replaceAll('"input_size_check"', '"input"'));
    }
    const old = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect(checks(old)).toHaveLength(0);
    const x = randomImage([1, 16, 24, 1], 4);
    const [a, b] = [old.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    [old, model].forEach((m) => m.dispose());
  });

  it('encoder models built on variable sizes: Unet++ and UNet 3+ check the output stride at run time, Unet takes any size', () => {
    const small = { encoder: 'resnet18', encoderDepth: 3, inputShape: [null, null, 3] as InputShape };
    const decoder = (arch: string) => (arch === 'unet3+' ? { catChannels: 4 } : { decoderChannels: [8, 8, 8] });
    const bad = tf.zeros([1, 36, 40, 3]);
    for (const arch of ['unet++', 'unet3+']) {
      const model = createModel(arch, { ...small, ...decoder(arch) });
      expect(checks(model)[0]!.getConfig()).toMatchObject({ model: arch, rule: 'output-stride', depth: 3 });
      const ok = tf.zeros([1, 32, 40, 3]);
      const out = model.predict(ok) as tf.Tensor;
      expect(out.shape).toEqual([1, 32, 40, 1]);
      // The same message as building the model on that size.
      const built = errorOf(() => createModel(arch, { ...small, ...decoder(arch), inputShape: [36, 40, 3] })).message;
      expect(built).toBe(
        `${arch}: input height 36 is not divisible by the encoder's output stride 2^3 = 8 (encoderDepth 3; every decoder stage upsamples by exactly 2); nearest valid sizes: 32 or 40. 'unet' on an encoder takes any size`,
      );
      expect(errorOf(() => model.predict(bad)).message).toBe(built);
      tf.dispose([ok, out]);
      model.dispose();
    }
    const unet = createModel('unet', { ...small, ...decoder('unet') });
    expect(checks(unet)[0]!.getConfig()).toMatchObject({ rule: 'any' });
    const anyOut = unet.predict(bad) as tf.Tensor;
    expect(anyOut.shape).toEqual([1, 36, 40, 1]);
    tf.dispose([bad, anyOut]);
    unet.dispose();
  });
});

describe('entry checks of predictTiled and train', () => {
  it('predictTiled refuses a tileSize the variable-size model cannot take, before predicting', async () => {
    const cases: [string, number, number][] = [['unet', 46, 46], ['unet-padded', 18, 18], ['unet++', 16, 18], ['unet3+', 18, 16]];
    for (const [name, th, tw] of cases) {
      const model = createModel(name, { ...TINY, inputShape: [null, null, 1] });
      let calls = 0;
      const predict = model.predict.bind(model);
      model.predict = (...args) => ((calls += 1), predict(...args));
      const image = randomImage([30, 30, 1], 1) as tf.Tensor3D;
      const before = tf.memory().numTensors;
      const message = `predictTiled: tileSize ${th}x${tw}: ${buildTimeMessage(name, TINY, th, tw)}`;
      for (const optimize of [false, true]) {
        await expect(predictTiled(model, image, { tileSize: [th, tw], optimize })).rejects.toThrow(message);
      }
      expect(calls).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
      image.dispose();
      model.dispose();
    }
  });

  it('checkModelInputSize names a fixed size the images do not have', () => {
    const model = createModel('unet-padded', { ...TINY, inputShape: [16, 16, 1] });
    expect(() => checkModelInputSize(model, 16, 16, 'ctx')).not.toThrow();
    expect(() => checkModelInputSize(model, 18, 24, 'ctx')).toThrow(
      "ctx: the model 'unet_padded' takes 16x16 images, got 18x24. Resize or crop the images, or build the model with inputShape [null, null, C] for variable sizes",
    );
    // tfjs's own check in predict is clear too: it names both shapes (and nothing is computed).
    const x = tf.zeros([1, 18, 24, 1]);
    expect(errorOf(() => model.predict(x)).message).toMatch(/expected input to have shape \[null,16,16,1\] but got array with shape \[1,18,24,1\]/);
    x.dispose();
    model.dispose();
  });

  it('train refuses images the model cannot take, with the model message, before training', async () => {
    const data = createSegmentationDataset(syntheticCells({ count: 2, size: [18, 24], seed: 1 }), { validationSplit: 0 });
    const free = createModel('unet-padded', { ...TINY, inputShape: [null, null, 1] });
    const weights = free.getWeights().map((w) => w.dataSync().slice());
    await expect(train(free, data, { epochs: 1, batchSize: 2, verbose: 0 })).rejects.toThrow(
      `train: the dataset's images: ${buildTimeMessage('unet-padded', TINY, 18, 24)}`,
    );
    free.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(weights[i]!)));
    const fixed = createModel('unet-padded', { ...TINY, inputShape: [16, 16, 1] });
    const error = await train(fixed, data, { epochs: 1, batchSize: 2, verbose: 0 }).catch((e: Error) => e);
    expect((error as Error).message).toBe(
      "train: the dataset's images: the model 'unet_padded' takes 16x16 images, got 18x24. Resize or crop the images, " +
        'or build the model with inputShape [null, null, C] for variable sizes',
    );
    expect((error as Error).message).not.toMatch(TFJS_ERROR_TEXT);
    [free, fixed].forEach((m) => m.dispose());
  });
});
