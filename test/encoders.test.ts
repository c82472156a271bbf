/**
 * The ImageNet encoders against segmentation_models.pytorch (SMP): counts, keys, shapes and
 * feature values on the committed reference data (scripts/smp_reference.py → test/fixtures/smp).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { encoderPreprocessing, getEncoderSpec, listEncoders } from '../src/encoders/index.js';
import { stateDictMapping } from '../src/io/stateDict.js';
import { paramCounts } from '../src/summary.js';
import { countsFile, fixture, manifest, nhwc, readFixtureTensors, usedEncoderKeys } from './smpFixtures.js';
import { deterministicInput, loadFormulaWeights } from './smpWeights.js';
import { expectSamePredictions, fileRoundTrip } from './helpers.js';

const ENCODERS = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'vgg16', 'vgg16_bn'];

/** An encoder-only model: input → every pyramid feature. */
function encoderModel(name: string, depth: number, shape: [number | null, number | null, number]): tf.LayersModel {
  const input = tf.input({ shape });
  const pyramid = getEncoderSpec(name).build(input, { depth });
  return tf.model({ inputs: input, outputs: pyramid.features });
}


const worst: Record<string, number> = {};
afterAll(() => {
  // The worst relative error seen per encoder (max|tf − torch| / max|torch|, over all features).
  console.log('worst relative feature error per encoder fixture:', worst);
});

describe('encoder registry', () => {
  it('lists the six encoders in SMP spelling', () => {
    expect(listEncoders()).toEqual(ENCODERS);
  });

  it('finds encoders case-insensitively and with - for _', () => {
    expect(getEncoderSpec('ResNet34').name).toBe('resnet34');
    expect(getEncoderSpec('MOBILENET-V2').name).toBe('mobilenet_v2');
    expect(getEncoderSpec(' vgg16-bn ').name).toBe('vgg16_bn');
  });

  it('an unknown name lists the known ones', () => {
    expect(() => getEncoderSpec('resnet101')).toThrow(
      "Unknown encoder 'resnet101'. Known encoders: resnet18, resnet34, resnet50, mobilenet_v2, vgg16, vgg16_bn.",
    );
  });

  it('preprocessing, pretrained repos and channels are SMP’s', () => {
    const m = manifest();
    for (const name of ENCODERS) {
      const spec = getEncoderSpec(name);
      const p = encoderPreprocessing(name);
      const ref = m.preprocessing[name]!;
      expect(p).toEqual({ inputSpace: ref.input_space, inputRange: ref.input_range, mean: ref.mean, std: ref.std });
      expect(spec.weights.imagenet).toEqual({ repoId: m.pretrained[name]!.repo_id, revision: m.pretrained[name]!.revision });
      const counts = countsFile().encoders.find((e) => e.encoder === name && e.encoder_depth === 5 && e.in_channels === 3)!;
      expect(spec.outChannels).toEqual(counts.out_channels);
      expect([spec.minDepth, spec.maxDepth]).toEqual([3, 5]);
    }
    // A copy: changing it does not change the registry.
    const p = encoderPreprocessing('resnet34');
    p.mean[0] = 0;
    expect(encoderPreprocessing('resnet34').mean[0]).toBe(0.485);
  });

  it('bad depth or input shape is a clear error', () => {
    const spec = getEncoderSpec('resnet18');
    expect(() => spec.build(tf.input({ shape: [32, 32, 3] }), { depth: 6 })).toThrow(
      "Encoder 'resnet18': depth must be an integer from 3 to 5",
    );
    expect(() => spec.build(tf.input({ shape: [32, 32, 3] }), { depth: 2.5 })).toThrow('got 2.5');
    expect(() => spec.build(tf.input({ shape: [32, 32] }), { depth: 3 })).toThrow(
      'the input must be [batch, height, width, channels] with a known channel count ≥ 1, got shape [null, 32, 32]',
    );
  });
});

/** Trainable / non-trainable counts and the mapped keys (with PyTorch shapes) equal what SMP's forward uses. */
function expectSmpCountsAndKeys(model: tf.LayersModel, name: string, depth: number, c: number): void {
  const ref = countsFile().encoders.find((e) => e.encoder === name && e.encoder_depth === depth && e.in_channels === c)!;
  const counts = paramCounts(model);
  expect(counts.trainable).toBe(ref.used_params);
  expect(counts.nonTrainable).toBe(ref.used_bn_buffers);
  const mapped = new Map(stateDictMapping(model).map((m) => [m.key, m.shape]));
  expect(mapped.size).toBe(ref.used_mapped_keys);
  expect(new Map([...mapped].sort())).toEqual(new Map([...usedEncoderKeys(name, depth, c)].sort()));
  expect(mapped.get(`${getEncoderSpec(name).firstConv}.weight`)![1]).toBe(c);
  // Every layer with weights is named by its SMP module path under `encoder.`.
  for (const layer of model.layers) if (layer.weights.length > 0) expect(layer.name.startsWith('encoder.')).toBe(true);
}

/** Loads the formula weights, runs the fixture's input and compares every feature; returns the worst relative error. */
function expectFixtureFeatures(model: tf.LayersModel, fixtureName: string): void {
  const f = fixture(fixtureName);
  loadFormulaWeights(model);
  const tensors = readFixtureTensors(f);
  const x = nhwc(tensors.get('input')!);
  const out = model.predict(x) as tf.Tensor[];
  expect(out).toHaveLength(f.config.encoder_depth + 1);
  let worstRel = 0;
  out.forEach((y, i) => {
    const expected = nhwc(tensors.get(`features.${i}`)!);
    expect(y.shape).toEqual(expected.shape);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]!);
    const rel = diff / f.max_abs[i]!;
    worstRel = Math.max(worstRel, rel);
    expect(rel, `${fixtureName} feature ${i}: max abs diff ${diff}, max|feature| ${f.max_abs[i]}`).toBeLessThanOrEqual(1e-3);
    expected.dispose();
  });
  worst[fixtureName] = Number(worstRel.toPrecision(3));
  tf.dispose([x, ...out]);
}

describe.each(ENCODERS)('%s', (name) => {
  const fixtures = manifest().fixtures.filter((f) => f.kind === 'encoder' && f.config.encoder_name === name);
  const fixtureFor = (depth: number, c: number) =>
    fixtures.find((f) => f.config.encoder_depth === depth && f.config.in_channels === c)?.name;

  it.each([5, 3])('depth %i: SMP counts and keys; features match PyTorch within 1e-3 × max|feature|', (depth) => {
    const model = encoderModel(name, depth, [null, null, 3]);
    expectSmpCountsAndKeys(model, name, depth, 3);
    expectFixtureFeatures(model, fixtureFor(depth, 3)!);
    model.dispose();
  });

  it('depth 4: SMP counts and keys, pyramid channels, strides and shapes', () => {
    const model = encoderModel(name, 4, [64, 64, 3]);
    expectSmpCountsAndKeys(model, name, 4, 3);
    const spec = getEncoderSpec(name);
    const shapes = model.outputs.map((o) => o.shape);
    const strides = [1, 2, 4, 8, 16];
    expect(shapes).toEqual(strides.map((s, i) => [null, 64 / s, 64 / s, spec.outChannels[i]]));
    model.dispose();
  });

  it.each([1, 4])('in_channels %i: the first conv is built for them (depth 3; SMP counts and keys)', (c) => {
    const fixtureName = fixtures.find((f) => f.config.in_channels === c)?.name;
    const depth = fixtureName === undefined ? 3 : fixture(fixtureName).config.encoder_depth;
    const model = encoderModel(name, depth, [null, null, c]);
    expectSmpCountsAndKeys(model, name, depth, c);
    if (fixtureName !== undefined) {
      expectFixtureFeatures(model, fixtureName);
    } else {
      const out = model.predict(tf.ones([1, 24, 24, c])) as tf.Tensor[];
      const channels = getEncoderSpec(name).outChannels.slice(0, depth + 1);
      expect(out.map((t) => t.shape)).toEqual(
        channels.map((ch, i) => [1, 24 / 2 ** i, 24 / 2 ** i, i === 0 && !name.startsWith('vgg') ? c : ch]),
      );
      tf.dispose(out);
    }
    model.dispose();
  });
});

describe('save / load', () => {
  it.each([
    ['resnet18', 3],
    ['mobilenet_v2', 4],
  ] as const)('%s (depth %i): an encoder-only model round-trips through file:// with names, keys and outputs intact', async (name, depth) => {
    const model = encoderModel(name, depth, [null, null, 3]);
    loadFormulaWeights(model);
    const loaded = await fileRoundTrip(model);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(stateDictMapping(loaded)).toEqual(stateDictMapping(model));
    const x = tf.tensor4d(deterministicInput('roundtrip', [1, 29, 35, 3]), [1, 29, 35, 3]);
    expectSamePredictions(model, loaded, x);
    tf.dispose(x);
    loaded.dispose();
    model.dispose();
  });
});
