import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSmpCheckpoint, writeSafetensors, type SmpCheckpoint } from '../src/node.js';
import { startServer, type TestServer } from './httpServer.js';

// What SMP's save_pretrained writes: the constructor arguments plus _model_class, and the state dict.
const config = {
  encoder_name: 'resnet34', encoder_depth: 5, encoder_weights: null, decoder_channels: [256, 128, 64, 32, 16],
  in_channels: 3, classes: 2, activation: null, _model_class: 'Unet',
};
const weights = writeSafetensors({
  'encoder.conv1.weight': { data: Float32Array.from({ length: 2 * 3 * 3 * 3 }, (_, i) => i / 10), shape: [2, 3, 3, 3] },
  'encoder.bn1.weight': { data: [1, 2] },
  'encoder.bn1.num_batches_tracked': { data: [42], shape: [], dtype: 'I64' },
});

function expectCheckpoint(c: SmpCheckpoint): void {
  expect(c.config).toEqual(config);
  expect([...c.tensors.keys()]).toEqual(['encoder.bn1.num_batches_tracked', 'encoder.bn1.weight', 'encoder.conv1.weight']);
  expect(c.tensors.get('encoder.conv1.weight')!.shape).toEqual([2, 3, 3, 3]);
  expect(c.tensors.get('encoder.conv1.weight')!.data[53]).toBeCloseTo(5.3, 6);
  expect(c.tensors.get('encoder.bn1.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: new Int32Array([42]) });
  expect(c.metadata).toBeNull();
}

let root: string;
let dir: string;
let server: TestServer;
const base = '/acme/unet/resolve/main';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-smp-'));
  dir = join(root, 'saved');
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(join(dir, 'model.safetensors'), weights);
  server = await startServer({
    [`${base}/config.json`]: { body: JSON.stringify(config) },
    [`${base}/model.safetensors`]: { body: weights },
    '/broken/config.json': { body: '{"encoder_name": "resnet34",' },
    '/broken/model.safetensors': { body: weights },
    '/noweights/config.json': { body: '{}' },
  });
});
afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('readSmpCheckpoint from a directory (Node)', () => {
  it('reads config.json and model.safetensors from a path and a file:// URL', async () => {
    const c = await readSmpCheckpoint(dir);
    expectCheckpoint(c);
    expect(c.from).toEqual({ config: join(dir, 'config.json'), weights: join(dir, 'model.safetensors') });
    expectCheckpoint(await readSmpCheckpoint(pathToFileURL(dir).href));
    expectCheckpoint(await readSmpCheckpoint(pathToFileURL(dir)));
  });

  it('names the missing file and where it looked', async () => {
    const partial = join(root, 'partial');
    await mkdir(partial, { recursive: true });
    await expect(readSmpCheckpoint(partial)).rejects.toThrow(
      `SMP checkpoint: config.json not found in ${partial} (looked for ${join(partial, 'config.json')}); a directory written by save_pretrained holds config.json and model.safetensors.`,
    );
    await writeFile(join(partial, 'config.json'), '{}');
    await expect(readSmpCheckpoint(partial)).rejects.toThrow(`SMP checkpoint: model.safetensors not found in ${partial} (looked for ${join(partial, 'model.safetensors')})`);
    await expect(readSmpCheckpoint(join(root, 'nope'))).rejects.toThrow(`SMP checkpoint: directory not found: ${join(root, 'nope')}`);
    await expect(readSmpCheckpoint(join(dir, 'config.json'))).rejects.toThrow(/config\.json is a file; pass the directory that save_pretrained wrote/);
    await expect(readSmpCheckpoint('')).rejects.toThrow(/the source is an empty string/);
  });

  it('invalid config JSON and a corrupt weights file are errors naming the file', async () => {
    const bad = join(root, 'bad');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'config.json'), '{"classes": 2,}');
    await writeFile(join(bad, 'model.safetensors'), weights);
    await expect(readSmpCheckpoint(bad)).rejects.toThrow(new RegExp(`^SMP checkpoint: config\\.json \\(${join(bad, 'config.json')}\\) is not valid JSON: `));
    await writeFile(join(bad, 'config.json'), '[1, 2]');
    await expect(readSmpCheckpoint(bad)).rejects.toThrow(/config\.json \(.*\) must hold a JSON object of model arguments, got an array/);
    await writeFile(join(bad, 'config.json'), '{}');
    await writeFile(join(bad, 'model.safetensors'), weights.subarray(0, weights.length - 3));
    await expect(readSmpCheckpoint(bad)).rejects.toThrow(
      `SMP checkpoint: model.safetensors (${join(bad, 'model.safetensors')}): safetensors: tensor "encoder.conv1.weight": "data_offsets" [16, 232] run past the end of the data section (229 bytes)`,
    );
  });
});

describe('readSmpCheckpoint from an http(s) base URL', () => {
  it('reads a Hub-style resolve/<revision>/ URL, with or without the trailing slash', async () => {
    const c = await readSmpCheckpoint(`${server.url}${base}/`);
    expectCheckpoint(c);
    expect(c.from).toEqual({ config: `${server.url}${base}/config.json`, weights: `${server.url}${base}/model.safetensors` });
    expectCheckpoint(await readSmpCheckpoint(new URL(`${server.url}${base}`)));
  });

  it('HTTP errors and invalid JSON name the file and URL', async () => {
    await expect(readSmpCheckpoint(`${server.url}/missing/`)).rejects.toThrow(
      `SMP checkpoint: cannot read config.json: Cannot download ${server.url}/missing/config.json: HTTP 404 Not Found.`,
    );
    await expect(readSmpCheckpoint(`${server.url}/noweights`)).rejects.toThrow(
      `SMP checkpoint: cannot read model.safetensors: Cannot download ${server.url}/noweights/model.safetensors: HTTP 404 Not Found.`,
    );
    await expect(readSmpCheckpoint(`${server.url}/broken/`)).rejects.toThrow(
      new RegExp(`SMP checkpoint: config\\.json \\(${server.url}/broken/config\\.json\\) is not valid JSON`),
    );
  });
});

describe('readSmpCheckpoint from memory (browser drag-and-drop)', () => {
  it('takes text, bytes, Blobs, Files or an object for the config, and bytes, Files or a path for the weights', async () => {
    const text = JSON.stringify(config);
    expectCheckpoint(await readSmpCheckpoint({ config: text, weights }));
    expectCheckpoint(await readSmpCheckpoint({ config: new TextEncoder().encode(text), weights: weights.buffer as ArrayBuffer }));
    const c = await readSmpCheckpoint({
      config: new File([text], 'config.json'),
      weights: new File([weights], 'model.safetensors'),
    });
    expectCheckpoint(c);
    expect(c.from).toEqual({ config: 'file "config.json"', weights: 'file "model.safetensors"' });
    expectCheckpoint(await readSmpCheckpoint({ config: { ...config }, weights: new Blob([weights]) }));
    expectCheckpoint(await readSmpCheckpoint({ config, weights: join(dir, 'model.safetensors') }));
  });

  it('rejects malformed in-memory input clearly', async () => {
    await expect(readSmpCheckpoint({ config: 'not json', weights })).rejects.toThrow(/config\.json \(given config\) is not valid JSON/);
    await expect(readSmpCheckpoint({ config: new File(['{'], 'c.json'), weights })).rejects.toThrow(/config\.json \(file "c\.json"\) is not valid JSON/);
    await expect(readSmpCheckpoint({ config: new Uint8Array([0xff, 0xfe]), weights })).rejects.toThrow(/is not UTF-8 text/);
    await expect(readSmpCheckpoint({ config: 3 as unknown as string, weights })).rejects.toThrow(/config must be JSON text, bytes, a Blob \/ File or an object, got number/);
    await expect(readSmpCheckpoint({ config } as never)).rejects.toThrow(/expected a directory, a URL or \{ config, weights \}/);
    await expect(readSmpCheckpoint({ config, weights: new File([new Uint8Array(4)], 'w.safetensors') }))
      .rejects.toThrow('SMP checkpoint: model.safetensors (file "w.safetensors"): safetensors: the file is 4 bytes');
  });
});
