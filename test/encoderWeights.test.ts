// Pretrained encoder weights (SMP's Hub files) from a local file and from a local HTTP server:
// exact keys and shapes, SMP's first-conv adaptation for 1 and 4 channels, progress, the cache,
// the checksum, the offline error. No network: the "Hub" is 127.0.0.1.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adaptFirstConvWeight, createModel, createModelAsync, getEncoderSpec, loadEncoderWeights, modelStateDict, pretrainedFileCachePath,
  writeSafetensors, type DownloadProgress, type SafetensorsInput,
} from '../src/node.js';
import { manifest, readSafetensorsFile, SMP_FIXTURES } from './smpFixtures.js';
import { deterministicStateDict } from './smpWeights.js';
import { refusedUrl, startServer, type TestServer } from './httpServer.js';

const ENCODER = 'mobilenet_v2';
const spec = getEncoderSpec(ENCODER);
const { repoId, revision } = spec.weights.imagenet!;
const hubPath = `/${repoId}/resolve/${revision}/model.safetensors`;
const firstConv = readSafetensorsFile(join(SMP_FIXTURES, manifest().first_conv.file));

/** A weight file as SMP publishes it: the backbone's keys without `encoder.`, the classifier SMP drops, formula values. */
function publishedFile(): { bytes: Uint8Array; values: Map<string, Float32Array> } {
  const entries = spec.smpModules(3).flatMap((m) => m.entries).filter((e) => !e.key.endsWith('.num_batches_tracked'));
  const sd = deterministicStateDict(entries);
  sd[`${spec.firstConv}.weight`] = { shape: [32, 3, 3, 3], data: firstConv.get('source')!.data as Float32Array };
  const tensors = new Map<string, SafetensorsInput>();
  const values = new Map<string, Float32Array>();
  for (const [k, t] of Object.entries(sd)) {
    tensors.set(k.slice('encoder.'.length), { data: t.data, shape: t.shape });
    values.set(k, t.data);
  }
  tensors.set('classifier.1.weight', { data: new Float32Array(1000 * 1280), shape: [1000, 1280] });
  tensors.set('classifier.1.bias', { data: new Float32Array(1000), shape: [1000] });
  return { bytes: writeSafetensors(tensors), values };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const same = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

let root: string;
let file: { bytes: Uint8Array; values: Map<string, Float32Array> };
let path: string;
let server: TestServer;
const quiet = { progress: false };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-encoder-weights-'));
  file = publishedFile();
  path = join(root, 'mobilenet_v2.safetensors');
  await writeFile(path, file.bytes);
  server = await startServer({
    [hubPath]: { body: file.bytes, chunks: 8, headers: { 'X-Linked-Etag': `"${sha256(file.bytes)}"` } },
    [`/corrupt${hubPath}`]: { body: file.bytes, headers: { 'X-Linked-Etag': `"${'0'.repeat(64)}"` } },
  });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

/** Checks that every encoder weight is the file's (first conv as given), the decoder untouched. */
function expectEncoderLoaded(model: tf.LayersModel, decoderBefore: Map<string, Float32Array>, firstConvExpected: Float32Array): void {
  const sd = modelStateDict(model);
  let encoderKeys = 0;
  for (const [k, t] of Object.entries(sd)) {
    if (k === `${spec.firstConv}.weight`) expect(same(t.data, firstConvExpected), k).toBe(true);
    else if (k.startsWith('encoder.')) expect(same(t.data, file.values.get(k)!), k).toBe(true);
    else expect(same(t.data, decoderBefore.get(k)!), k).toBe(true);
    if (k.startsWith('encoder.')) encoderKeys++;
  }
  // depth 3: features.0 … features.6 (stem conv + BN, 6 inverted residuals).
  expect(encoderKeys).toBe(spec.smpModules(3).filter((m) => m.depth <= 3).flatMap((m) => m.entries).filter((e) => !e.key.endsWith('.num_batches_tracked')).length);
}

function decoderWeights(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(Object.entries(modelStateDict(model)).filter(([k]) => !k.startsWith('encoder.')).map(([k, t]) => [k, t.data]));
}

describe('adaptFirstConvWeight (SMP patch_first_conv)', () => {
  it.each(['in1', 'in2', 'in4', 'in5'])('%s: exactly SMP\'s values', (name) => {
    const src = firstConv.get('source')!;
    const want = firstConv.get(name)!;
    const got = adaptFirstConvWeight(src.data as Float32Array, src.shape, want.shape[1]!);
    expect(got.shape).toEqual(want.shape);
    expect(same(got.data, want.data as Float32Array)).toBe(true);
  });
});

describe('encoder weights from a local file', () => {
  it.each([1, 3, 4])('%i input channel(s): the file\'s weights, first conv adapted as SMP does; classifier and deeper modules skipped', async (channels) => {
    const before = tf.memory().numTensors;
    const model = createModel('unet', { encoder: ENCODER, encoderDepth: 3, inputShape: [32, 32, channels], decoderChannels: [8, 8, 4] });
    const decoder = decoderWeights(model);
    const result = await loadEncoderWeights(model, path, quiet);
    expect(result.source).toBe(path);
    expect(result.firstConv).toEqual(channels === 3 ? null : { key: 'encoder.features.0.0.weight', inChannels: channels });
    expect(result.skipped).toContain('classifier.1.weight');
    expect(result.skipped).toContain('features.18.0.weight');
    expect(result.skipped.some((k) => k.startsWith('features.6.'))).toBe(false);
    const expected = channels === 3 ? firstConv.get('source')! : firstConv.get(`in${channels}`)!;
    expectEncoderLoaded(model, decoder, expected.data as Float32Array);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('createModelAsync takes encoderWeights (a path, bytes); createModel says to use it', async () => {
    const options = { encoder: ENCODER, encoderDepth: 3, inputShape: [32, 32, 4], decoderChannels: [8, 8, 4] };
    const model = await createModelAsync('unet++', { ...options, encoderWeights: file.bytes, encoderWeightsOptions: quiet });
    expect(same(modelStateDict(model)['encoder.features.3.conv.1.0.weight']!.data, file.values.get('encoder.features.3.conv.1.0.weight')!)).toBe(true);
    model.dispose();
    expect(() => createModel('unet', { ...options, encoderWeights: 'imagenet' })).toThrow(
      "createModel('unet'): encoderWeights may need a download, so createModel (synchronous) does not take it: use `await createModelAsync('unet', { ...options, encoderWeights })`.",
    );
    await expect(createModelAsync('unet', { inputShape: [32, 32, 1], encoderWeights: path })).rejects.toThrow(
      "createModelAsync('unet'): encoderWeights needs an ImageNet encoder: add encoder (e.g. encoder: 'resnet34')",
    );
  });

  it('a file that is not the encoder\'s is rejected naming the keys; the model is untouched', async () => {
    const model = createModel('unet', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 3], decoderChannels: [8, 8, 4] });
    const before = modelStateDict(model)['encoder.conv1.weight']!.data;
    await expect(loadEncoderWeights(model, path, quiet)).rejects.toThrow(
      /^encoderWeights for resnet18: .*it is not a resnet18 encoder weight file as segmentation_models\.pytorch publishes it .*: 262 unexpected key\(s\): classifier\.1\.bias, classifier\.1\.weight, features\.0\.0\.weight, .*; 100 missing key\(s\): conv1\.weight, bn1\.weight/,
    );
    expect(same(modelStateDict(model)['encoder.conv1.weight']!.data, before)).toBe(true);
    await expect(loadEncoderWeights(model, 'imagenet21k', quiet)).rejects.toThrow(
      "encoderWeights 'imagenet21k' is neither a published weight tag of resnet18 (imagenet) nor a path or URL (a file in the current folder: './name').",
    );
    model.dispose();
    const plain = createModel('unet', { inputShape: [92, 92, 1], filters: [4, 8] });
    await expect(loadEncoderWeights(plain, path)).rejects.toThrow(/the model is on the plain encoder; encoder weights load into models built with createModel\(name, \{ encoder \}\)/);
    plain.dispose();
  });
});

describe("encoderWeights: 'imagenet' from a local Hub on 127.0.0.1", () => {
  it('downloads with progress, verifies X-Linked-Etag, caches; the second call is a cache hit', async () => {
    const cacheDir = join(root, 'cache');
    const progress: DownloadProgress[] = [];
    const options = { encoder: ENCODER, encoderDepth: 3, inputShape: [32, 32, 1], decoderChannels: [8, 8, 4] };
    const hub = { hubUrl: server.url, cacheDir, progress: false, onProgress: (p: DownloadProgress) => progress.push(p) };
    const requestsBefore = server.requests.length;
    const model = await createModelAsync('unet', { ...options, encoderWeights: 'imagenet', encoderWeightsOptions: hub });
    expectEncoderLoaded(model, decoderWeights(model), firstConv.get('in1')!.data as Float32Array);
    expect(server.requests.slice(requestsBefore).map((r) => r.path)).toEqual([hubPath]);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual({ url: `${server.url}${hubPath}`, loaded: file.bytes.length, total: file.bytes.length });
    const cached = pretrainedFileCachePath({ repoId, revision, filename: 'model.safetensors' }, { cacheDir, hubUrl: server.url })!;
    expect(cached).toBe(join(cacheDir, 'hub', 'smp-hub--mobilenet_v2.imagenet', revision, 'model.safetensors'));
    model.dispose();

    const again = await createModelAsync('unet', { ...options, encoderWeights: 'imagenet', encoderWeightsOptions: hub });
    expect(server.requests.length).toBe(requestsBefore + 1);
    again.dispose();
  });

  it('a checksum mismatch is rejected and nothing is cached; offline, the error says where to put the file', async () => {
    const cacheDir = join(root, 'cache-corrupt');
    const model = createModel('unet', { encoder: ENCODER, encoderDepth: 3, inputShape: [32, 32, 3], decoderChannels: [8, 8, 4] });
    await expect(loadEncoderWeights(model, 'imagenet', { hubUrl: `${server.url}/corrupt`, cacheDir, progress: false })).rejects.toThrow(
      `encoderWeights 'imagenet' of mobilenet_v2 (${repoId} at ${revision}): Checksum mismatch for ${server.url}/corrupt${hubPath}: expected SHA-256 ${'0'.repeat(64)} (X-Linked-Etag sent by the server), got ${sha256(file.bytes)}.`,
    );
    const offlineCache = join(root, 'cache-offline');
    const where = pretrainedFileCachePath({ repoId, revision, filename: 'model.safetensors' }, { cacheDir: offlineCache })!;
    // A port on 127.0.0.1 that was just free (not a fixed one): the connection is refused at once.
    const offline = await refusedUrl();
    await expect(loadEncoderWeights(model, 'imagenet', { hubUrl: offline, cacheDir: offlineCache, progress: false })).rejects.toThrow(
      `Without network access, download the file on another machine and put it at ${where}`,
    );
    // Put there, it is used.
    await mkdir(dirname(where), { recursive: true });
    await writeFile(where, file.bytes);
    const result = await loadEncoderWeights(model, 'imagenet', { hubUrl: offline, cacheDir: offlineCache, progress: false });
    expect(result.source).toBe(`${repoId}@${revision}/model.safetensors`);
    model.dispose();
  });
});
