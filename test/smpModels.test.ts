/**
 * createModel('unet' | 'unet++', { encoder, ... }) against segmentation_models.pytorch's Unet and
 * UnetPlusPlus: every model fixture of test/fixtures/smp (all six encoders, odd sizes, depths 3
 * and 4, 1 and 4 input channels, no decoder BatchNorm, bilinear, sigmoid / softmax heads) is built
 * from its SMP config, loaded with the deterministic weights through loadStateDict and compared
 * with the PyTorch output (scripts/smp_reference.py).
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel, initBackend, loadStateDict, modelInfo, stateDictMapping, type StateDict, type TorchTensor } from '../src/index.js';
import { keysFile, manifest, nhwc, readFixtureTensors, usedEncoderKeys, type FixtureEntry, type SmpConfig } from './smpFixtures.js';
import { deterministicValue, weightKind } from './smpWeights.js';

/**
 * An SMP config (`config.json` / the manifest's) as createModel's name and options. `inputShape`
 * is NHWC [H, W, C] from the fixture's NCHW input.
 */
export function smpConfigToModel(config: SmpConfig, inputShape: [number, number, number]): { name: string; options: Record<string, unknown> } {
  const name = { Unet: 'unet', UnetPlusPlus: 'unet++' }[config._model_class ?? 'Unet'];
  const activation = config.activation ?? null;
  const finalActivation = activation === null ? 'linear' : activation === 'softmax2d' ? 'softmax' : activation;
  return {
    name,
    options: {
      encoder: config.encoder_name,
      encoderDepth: config.encoder_depth,
      inputShape,
      numClasses: config.classes ?? 1,
      finalActivation,
      ...(config.decoder_channels === undefined ? {} : { decoderChannels: config.decoder_channels }),
      decoderBatchNorm: config.decoder_use_norm !== false,
      decoderInterpolation: config.decoder_interpolation ?? 'nearest',
    },
  };
}

// Grouped by encoder, so that the encoder's formula weights are computed once per encoder.
const FIXTURES = manifest()
  .fixtures.filter((f) => f.kind === 'model')
  .sort((a, b) => a.config.encoder_name.localeCompare(b.config.encoder_name));

/** The formula weights of the current encoder's keys (they depend only on key and shape). */
let cachedEncoder = '';
const encoderWeights = new Map<string, TorchTensor>();

/** The formula state dict for `mapping`, reusing the encoder's entries across fixtures of the same encoder. */
function formulaWeights(encoder: string, mapping: readonly { key: string; shape: number[] }[]): StateDict {
  if (encoder !== cachedEncoder) {
    encoderWeights.clear();
    cachedEncoder = encoder;
  }
  const keys = new Set(mapping.map((m) => m.key));
  const out: StateDict = {};
  for (const { key, shape } of mapping) {
    const id = `${key}[${shape.join(',')}]`;
    const t = encoderWeights.get(id) ?? { shape: [...shape], data: deterministicValue(key, shape, weightKind(key, shape, keys)) };
    if (key.startsWith('encoder.')) encoderWeights.set(id, t);
    out[key] = t;
  }
  return out;
}

/** Worst relative error max|tf − torch| / max|torch| per fixture, and per decoder/encoder family. */
const worst: Record<string, number> = {};
const worstByFamily: Record<string, number> = {};
afterAll(() => {
  console.log('worst relative output error per fixture:', worst);
  console.log('worst relative output error per family:', worstByFamily);
});

/** The keys (PyTorch shapes) SMP's forward pass uses: the encoder's at the fixture's depth and channels, and the used decoder/head keys. */
function usedKeys(f: FixtureEntry): Map<string, number[]> {
  const keys = usedEncoderKeys(f.config.encoder_name, f.config.encoder_depth, f.config.in_channels);
  for (const [key, shape, used] of keysFile().models[f.name]!) {
    if (used && !key.endsWith('.num_batches_tracked')) keys.set(key, shape);
  }
  return keys;
}

describe('SMP Unet / UnetPlusPlus fixtures through createModel', () => {
  // wasm (XNNPACK): the VGG fixtures' 512-channel convolutions take tens of seconds on the cpu backend.
  beforeAll(async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });

  it('covers both decoders with every encoder', () => {
    const pairs = new Set(FIXTURES.map((f) => `${f.config._model_class}/${f.config.encoder_name}`));
    expect(pairs.size).toBe(12);
    expect(FIXTURES.length).toBe(31);
  });

  it.each(FIXTURES.map((f) => f.name))('%s: the keys SMP uses, and its output within 1e-3 × max|output|', (fixtureName) => {
    const f = FIXTURES.find((e) => e.name === fixtureName)!;
    const [, c, h, w] = f.input_shape as [number, number, number, number];
    const { name, options } = smpConfigToModel(f.config, [h, w, c]);
    const model = createModel(name, options);
    try {
      expect(modelInfo(model)!.encoder).toBe(f.config.encoder_name);
      const mapping = stateDictMapping(model);
      const mapped = new Map(mapping.map((m) => [m.key, m.shape]));
      expect(new Map([...mapped].sort())).toEqual(new Map([...usedKeys(f)].sort()));
      loadStateDict(model, formulaWeights(f.config.encoder_name, mapping));

      const tensors = readFixtureTensors(f);
      const x = nhwc(tensors.get('input')!);
      const expected = nhwc(tensors.get('output')!);
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual(expected.shape);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]!);
      const rel = diff / f.max_abs[0]!;
      worst[fixtureName] = Number(rel.toPrecision(2));
      const family = `${f.config._model_class}/${f.config.encoder_name}`;
      worstByFamily[family] = Math.max(worstByFamily[family] ?? 0, worst[fixtureName]);
      expect(rel, `max abs diff ${diff}, max|output| ${f.max_abs[0]}`).toBeLessThanOrEqual(1e-3);
      tf.dispose([x, expected, y]);
    } finally {
      model.dispose();
    }
  });
});
