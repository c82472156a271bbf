// segmentation_models.pytorch checkpoints in and out: loadSmpModel against the committed SMP
// checkpoints (randomised BN statistics), the strict key / shape rules, the state-dict layout
// against SMP's keys for every model fixture, and byte-identical export.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel, loadSmpModel, loadStateDict, pythonJsonDumps, modelInfo, modelStateDict, parseSmpConfig, readSafetensors, readSafetensorsHeader, readSmpCheckpoint, saveSmpModel,
  smpCheckpointToModel, smpModelFiles, stateDictMapping, smpStateDictLayout, smpUnusedPrefixes, writeSafetensors, type SafetensorsTensor,
} from '../src/node.js';
import { registerLocalFileAccess } from '../src/io/localFiles.js';
import { nodeFileAccess } from '../src/io/nodeFiles.js';
import { withZeroInitialization } from '../src/layers/initialization.js';
import { keysFile, manifest, nhwc, readSafetensorsFile, SMP_FIXTURES, materializeCheckpoint, type CheckpointEntry } from './smpFixtures.js';
import { deterministicStateDict } from './smpWeights.js';

const CHECKPOINTS = manifest().checkpoints;
const dirs = new Map<string, string>();
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-smp-model-'));
  for (const c of CHECKPOINTS) dirs.set(c.name, materializeCheckpoint(c.name));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  for (const d of dirs.values()) await rm(d, { recursive: true, force: true });
});

function checkpoint(name: string): CheckpointEntry {
  return CHECKPOINTS.find((c) => c.name === name)!;
}

/** max |model(input) − expected| / max|expected|, NHWC model vs the NCHW fixture. */
function relativeError(model: tf.LayersModel, c: CheckpointEntry): number {
  const io = readSafetensorsFile(join(SMP_FIXTURES, c.dir, 'io.safetensors'));
  return tf.tidy(() => {
    const x = nhwc(io.get('input')!);
    const y = (model.predict(x) as tf.Tensor).transpose([0, 3, 1, 2]);
    const expected = tf.tensor(io.get('output')!.data as Float32Array, io.get('output')!.shape);
    expect(y.shape).toEqual(c.output_shape);
    return y.sub(expected).abs().max().dataSync()[0]! / c.max_abs[0]!;
  });
}

function gunzippedWeights(c: CheckpointEntry): Buffer {
  return gunzipSync(readFileSync(join(SMP_FIXTURES, c.dir, 'model.safetensors.gz')));
}

describe('loadSmpModel: the committed SMP checkpoints', () => {
  it('there are Unet and UnetPlusPlus checkpoints on resnet18 and mobilenet_v2', () => {
    expect(CHECKPOINTS.map((c) => c.name).sort()).toEqual(
      ['unet-mobilenet_v2-d3', 'unet-resnet18-d3', 'unetplusplus-mobilenet_v2-d3', 'unetplusplus-resnet18-d3'],
    );
  });

  it.each(CHECKPOINTS.map((c) => c.name))('%s: SMP\'s output within 1e-3 × max|output|, dead weights skipped by rule, exact export', async (name) => {
    const c = checkpoint(name);
    const before = tf.memory().numTensors;
    const ckpt = await readSmpCheckpoint(dirs.get(name)!);
    const io = readSafetensorsFile(join(SMP_FIXTURES, c.dir, 'io.safetensors'));
    const [, , h, w] = io.get('input')!.shape as number[];
    const { model, loaded, unused, numBatchesTracked, config } = smpCheckpointToModel(ckpt, { inputShape: [h!, w!] });
    try {
      expect(relativeError(model, c)).toBeLessThanOrEqual(1e-3);
      // Every key of the file is accounted for: loaded, skipped as dead by rule, or a step counter.
      expect(loaded.length).toBe(c.used_keys - numBatchesTracked.filter((k) => !c.dead_prefixes.some((p) => k.startsWith(p))).length);
      expect(loaded.length + unused.length + numBatchesTracked.length).toBe(c.keys);
      expect(new Set(unused)).toEqual(new Set([...ckpt.tensors.keys()].filter((k) => c.dead_prefixes.some((p) => k.startsWith(p)) && !k.endsWith('.num_batches_tracked'))));
      expect(smpUnusedPrefixes(config)).toEqual(c.dead_prefixes);
      const info = modelInfo(model)!;
      const activation = c.config.activation ?? null;
      expect((info.options as { finalActivation: string }).finalActivation).toBe(activation === null ? 'linear' : activation);
      // Export of the same weights: the very bytes SMP's save_pretrained wrote.
      const files = smpModelFiles(model);
      expect(files.config).toBe(readFileSync(join(dirs.get(name)!, 'config.json'), 'utf8'));
      expect(Buffer.compare(Buffer.from(files.weights), gunzippedWeights(c))).toBe(0);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads a directory path, a file:// URL and in-memory files alike', async () => {
    const c = checkpoint('unet-mobilenet_v2-d3');
    const dir = dirs.get(c.name)!;
    const fromUrl = await loadSmpModel(pathToFileURL(dir).href);
    const inMemory = await loadSmpModel({ config: await readFile(join(dir, 'config.json'), 'utf8'), weights: await readFile(join(dir, 'model.safetensors')) });
    try {
      expect(relativeError(fromUrl, c)).toBeLessThanOrEqual(1e-3);
      expect(relativeError(inMemory, c)).toBeLessThanOrEqual(1e-3);
      // Unet takes any input size by default.
      expect(fromUrl.inputs[0]!.shape).toEqual([null, null, null, 1]);
    } finally {
      fromUrl.dispose();
      inMemory.dispose();
    }
  });
});

describe('loadSmpModel: memory', () => {
  it('reads a local checkpoint tensor by tensor: header, then exactly the used weights\' ranges; every weight is the file\'s', async () => {
    const c = checkpoint('unet-resnet18-d3');
    const dir = dirs.get(c.name)!;
    const weightsPath = join(dir, 'model.safetensors');
    const bytes = await readFile(weightsPath);
    const header = readSafetensorsHeader(bytes);
    const reads: Array<[number, number]> = [];
    const wholeReads: string[] = [];
    const previous = registerLocalFileAccess({
      ...nodeFileAccess,
      readFile: (path) => {
        wholeReads.push(path);
        return nodeFileAccess.readFile(path);
      },
      openFile: async (path) => {
        const inner = await nodeFileAccess.openFile(path);
        return { byteLength: inner.byteLength, close: () => inner.close(), read: (o, n) => (reads.push([o, n]), inner.read(o, n)) };
      },
    });
    const before = tf.memory().numTensors;
    let model: tf.LayersModel;
    try {
      model = await loadSmpModel(dir);
    } finally {
      registerLocalFileAccess(previous);
    }
    try {
      expect(wholeReads).toEqual([join(dir, 'config.json')]);
      const used = new Set(smpStateDictLayout(parseSmpConfig(c.config as unknown as Record<string, unknown>)).filter((e) => e.role === 'weight').map((e) => e.key));
      const base = 8 + header.headerLength;
      // Dead weights and step counters are never even read.
      expect(reads).toEqual([
        [0, 8], [8, header.headerLength],
        ...header.entries.filter((e) => used.has(e.name)).map((e): [number, number] => [base + e.dataOffsets[0], e.dataOffsets[1] - e.dataOffsets[0]]),
      ]);
      const file = readSafetensors(bytes).tensors;
      const loaded = modelStateDict(model!);
      expect(new Set(Object.keys(loaded))).toEqual(used);
      for (const key of used) expect(loaded[key]!.data, key).toEqual(file.get(key)!.data);
      expect(relativeError(model!, c)).toBeLessThanOrEqual(1e-3);
    } finally {
      model!.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads a Blob / File weights source slice by slice', async () => {
    const c = checkpoint('unetplusplus-mobilenet_v2-d3');
    const dir = dirs.get(c.name)!;
    const model = await loadSmpModel({ config: await readFile(join(dir, 'config.json'), 'utf8'), weights: new Blob([await readFile(join(dir, 'model.safetensors'))]) });
    try {
      expect(relativeError(model, c)).toBeLessThanOrEqual(1e-3);
    } finally {
      model.dispose();
    }
  });

  it('builds the model with zero kernels (every one is then loaded), and only while importing', () => {
    const options = { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3], decoderChannels: [8, 8, 4] } as const;
    const kernels = (m: tf.LayersModel) => m.weights.filter((w) => /kernel/.test(w.originalName));
    const zero = withZeroInitialization(() => createModel('unet', options));
    const random = createModel('unet', options);
    try {
      expect(kernels(zero).length).toBe(kernels(random).length);
      expect(kernels(zero).length).toBeGreaterThan(10);
      for (const w of kernels(zero)) expect(tf.tidy(() => w.read().abs().max().dataSync()[0]), w.originalName).toBe(0);
      for (const w of kernels(random)) expect(tf.tidy(() => w.read().abs().max().dataSync()[0]), w.originalName).toBeGreaterThan(0);
      // BatchNorm keeps its own initialisers (gamma and variance 1).
      const gamma = zero.weights.find((w) => w.originalName.endsWith('gamma'))!;
      expect(Array.from(gamma.read().dataSync()).every((v) => v === 1)).toBe(true);
      expect(() => withZeroInitialization(() => { throw new Error('boom'); })).toThrow('boom');
      const after = createModel('unet', options);
      expect(tf.tidy(() => kernels(after)[0]!.read().abs().max().dataSync()[0])).toBeGreaterThan(0);
      after.dispose();
    } finally {
      zero.dispose();
      random.dispose();
    }
  });
});

describe('loadSmpModel: strict loading', () => {
  const name = 'unet-mobilenet_v2-d3';
  let config: Record<string, unknown>;
  let tensors: Map<string, SafetensorsTensor>;
  beforeAll(async () => {
    const ckpt = await readSmpCheckpoint(dirs.get(name)!);
    config = ckpt.config;
    tensors = ckpt.tensors;
  });

  function withTensors(edit: (t: Map<string, SafetensorsTensor>) => void): { config: Record<string, unknown>; weights: Uint8Array } {
    const copy = new Map(tensors);
    edit(copy);
    const inputs = new Map([...copy].map(([k, t]) => [k, { data: t.data, shape: t.shape, dtype: t.dtype === 'I64' ? ('I64' as const) : ('F32' as const) }]));
    return { config, weights: writeSafetensors(inputs) };
  }

  it('an unexpected key, a missing key and a shape mismatch are errors naming the key; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    await expect(loadSmpModel(withTensors((t) => t.set('decoder.extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) }))))
      .rejects.toThrow(/1 unexpected key\(s\): decoder\.extra\.weight\b.*Nothing was loaded/);
    await expect(loadSmpModel(withTensors((t) => t.delete('decoder.blocks.1.conv2.1.running_var'))))
      .rejects.toThrow(/1 missing key\(s\): decoder\.blocks\.1\.conv2\.1\.running_var\b/);
    await expect(loadSmpModel(withTensors((t) => t.set('segmentation_head.0.bias', { dtype: 'F32', shape: [3], data: new Float32Array(3) }))))
      .rejects.toThrow("shape mismatch for 'segmentation_head.0.bias': the file has [3], SMP's model has [2]");
    // Dead weights are skipped by rule, not by loosening the check: a wrong shape is still an error.
    await expect(loadSmpModel(withTensors((t) => t.set('encoder.features.18.1.weight', { dtype: 'F32', shape: [7], data: new Float32Array(7) }))))
      .rejects.toThrow("shape mismatch for 'encoder.features.18.1.weight': the file has [7], SMP's model has [1280]");
    // num_batches_tracked is the only key that may be absent.
    const noCounters = await loadSmpModel(withTensors((t) => {
      for (const k of [...t.keys()]) if (k.endsWith('.num_batches_tracked')) t.delete(k);
    }));
    noCounters.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a weight that fails to decode while loading is an error naming it, and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const key = 'decoder.blocks.2.conv1.0.weight';
    const t = tensors.get(key)!;
    const big = new Float64Array(t.data.length);
    big[3] = 1e300;
    const weights = writeSafetensors(new Map([...tensors].map(([k, v]) => [k, k === key ? { data: big, shape: v.shape } : { data: v.data, shape: v.shape, dtype: v.dtype === 'I64' ? ('I64' as const) : ('F32' as const) }])));
    await expect(loadSmpModel({ config, weights })).rejects.toThrow(`tensor "${key}" (F64): value 1e+300 at index 3 is beyond the float32 range`);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('another architecture or encoder is an error listing what is supported', async () => {
    const { weights } = withTensors(() => {});
    await expect(loadSmpModel({ config: { ...config, _model_class: 'FPN' }, weights }))
      .rejects.toThrow('architecture "FPN" is not supported; supported: Unet, UnetPlusPlus.');
    await expect(loadSmpModel({ config: { ...config, encoder_name: 'efficientnet-b0' }, weights }))
      .rejects.toThrow('encoder_name "efficientnet-b0" is not supported; supported: resnet18, resnet34, resnet50, mobilenet_v2, vgg16, vgg16_bn.');
    await expect(loadSmpModel({ config: { ...config, decoder_attention_type: 'scse' }, weights }))
      .rejects.toThrow('decoder_attention_type "scse" is not supported; only null (no attention).');
  });
});

describe('smpStateDictLayout: SMP\'s state dict for every model fixture', () => {
  const keys = keysFile();
  const fixtures = manifest().fixtures.filter((f) => f.kind === 'model');
  it.each(fixtures.map((f) => f.name))('%s: every key, shape, and whether SMP uses it', (name) => {
    const f = fixtures.find((e) => e.name === name)!;
    const layout = smpStateDictLayout(parseSmpConfig(f.config as unknown as Record<string, unknown>));
    // SMP's keys: the encoder's (first conv patched to in_channels; used from its depth on), then the decoder's and the head's.
    const encoder = keys.encoders[f.config.encoder_name]!;
    const expected: [string, number[], boolean][] = [
      ...encoder.keys.map(([k, s, from]): [string, number[], boolean] => [
        k, k === `${encoder.first_conv}.weight` ? [s[0]!, f.config.in_channels, ...s.slice(2)] : s, from !== null && from <= f.config.encoder_depth,
      ]),
      ...keys.models[name]!,
    ];
    // (keys.json lists the decoder's keys without num_batches_tracked; the checkpoint tests count those.)
    const noCounter = (k: string) => !k.endsWith('.num_batches_tracked');
    expect(new Map(layout.filter((e) => noCounter(e.key)).map((e) => [e.key, e.shape])))
      .toEqual(new Map(expected.filter(([k]) => noCounter(k)).map(([k, s]) => [k, s])));
    const usedByUs = new Set(layout.filter((e) => e.role === 'weight').map((e) => e.key));
    const usedBySmp = new Set(expected.filter(([k, , used]) => used && !k.endsWith('.num_batches_tracked')).map(([k]) => k));
    expect(usedByUs).toEqual(usedBySmp);
  });
});

describe('saveSmpModel', () => {
  it('export → import reproduces the predictions exactly (UnetPlusPlus on VGG: centre block written as SMP keeps it)', async () => {
    const before = tf.memory().numTensors;
    const model = createModel('unet++', {
      encoder: 'vgg16_bn', encoderDepth: 3, inputShape: [16, 16, 2], numClasses: 2, decoderChannels: [8, 8, 4], finalActivation: 'sigmoid',
    });
    loadStateDict(model, deterministicStateDict(stateDictMapping(model)));
    const dir = join(root, 'vgg');
    await saveSmpModel(model, dir);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ _model_class: 'UnetPlusPlus', encoder_name: 'vgg16_bn', encoder_weights: null, in_channels: 2, activation: 'sigmoid' });
    const file = readSafetensors(await readFile(join(dir, 'model.safetensors')));
    expect(file.metadata).toBeNull();
    expect(file.tensors.get('decoder.center.0.0.weight')!.shape).toEqual([512, 512, 3, 3]);
    expect(file.tensors.get('encoder.features.0.weight')!.shape).toEqual([64, 2, 3, 3]);
    expect(file.tensors.get('decoder.blocks.x_0_0.conv1.1.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: new Int32Array([0]) });
    const back = await loadSmpModel(dir);
    expect(back.inputs[0]!.shape).toEqual([null, null, null, 2]);
    const odd = tf.zeros([1, 12, 16, 2]);
    expect(() => back.predict(odd)).toThrow(/12/);
    odd.dispose();
    const x = tf.randomUniform([2, 16, 16, 2], 0, 1, 'float32', 7);
    const [a, b] = [model.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const sdA = modelStateDict(model);
    const sdB = modelStateDict(back);
    expect(Object.keys(sdB).sort()).toEqual(Object.keys(sdA).sort());
    for (const k of Object.keys(sdA)) expect(Buffer.compare(Buffer.from(sdB[k]!.data.buffer), Buffer.from(sdA[k]!.data.buffer)), k).toBe(0);
    tf.dispose([x, a, b]);
    model.dispose();
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('never overwrites without overwrite: true; atomic files', async () => {
    const model = createModel('unet', { encoder: 'resnet18', encoderDepth: 3, inputShape: [null, null, 3], decoderChannels: [8, 8, 4] });
    const dir = join(root, 'overwrite');
    await saveSmpModel(model, dir);
    const first = await readFile(join(dir, 'model.safetensors'));
    await expect(saveSmpModel(model, dir)).rejects.toThrow(
      `saveSmpModel: ${join(dir, 'config.json')} and ${join(dir, 'model.safetensors')} already exist; pass { overwrite: true } to replace them, or choose another directory.`,
    );
    await rm(join(dir, 'config.json'));
    await expect(saveSmpModel(model, dir)).rejects.toThrow(`${join(dir, 'model.safetensors')} already exists; pass { overwrite: true } to replace it`);
    await writeFile(join(dir, 'config.json'), 'mine');
    await saveSmpModel(model, dir, { overwrite: true, encoderWeights: 'imagenet' });
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toMatchObject({ encoder_weights: 'imagenet', encoder_name: 'resnet18' });
    expect(Buffer.compare(await readFile(join(dir, 'model.safetensors')), first)).toBe(0);
    await expect(saveSmpModel(model, join(dir, 'config.json'))).rejects.toThrow(/is a file; pass a directory/);
    model.dispose();
  });

  it('models SMP cannot represent are errors that say why', () => {
    const plain = createModel('unet', { inputShape: [92, 92, 1], filters: [4, 8] });
    expect(() => smpModelFiles(plain)).toThrow(/cannot represent this model: it is the plain unet of the papers; .*encoder: 'resnet34'/);
    plain.dispose();
    const u3 = createModel('unet3+', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3] });
    expect(() => smpModelFiles(u3)).toThrow(/SMP has no unet3\+; Unet \('unet'\) and UnetPlusPlus \('unet\+\+'\) can be exported/);
    u3.dispose();
  });
});

describe('pythonJsonDumps', () => {
  it('writes what CPython\'s json.dumps(value, sort_keys=True, indent=2) writes', () => {
    // Expected text printed by CPython 3 for the same value.
    expect(pythonJsonDumps({ b: [1e-5, 0.1, 1.25e-7, 123456789.125, 2, 'é\u{1F600}\n'], a: {}, c: [] })).toBe(
      '{\n  "a": {},\n  "b": [\n    1e-05,\n    0.1,\n    1.25e-07,\n    123456789.125,\n    2,\n    "\\u00e9\\ud83d\\ude00\\n"\n  ],\n  "c": []\n}',
    );
    expect(() => pythonJsonDumps({ a: [1, new Date(0)] })).toThrow('pythonJsonDumps: $.a[1] is an object that is not plain JSON');
  });
});
