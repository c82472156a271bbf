import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CenterCrop2D, createModel, fileSystem, listModels, registerFileHandler } from '../src/node.js';
import { maxAbsDiff, randomImage } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smtf-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectSamePredictions(model: tf.LayersModel, loaded: tf.LayersModel, xShape: number[]) {
  const x = randomImage(xShape, 3);
  const a = model.predict(x) as tf.Tensor;
  const b = loaded.predict(x) as tf.Tensor;
  expect(b.shape).toEqual(a.shape);
  expect(maxAbsDiff(a, b)).toBe(0);
  tf.dispose([x, a, b]);
}

/** Tiny options per registered model: the classic UNet needs a valid input size. */
function tinyOptions(name: string): { opts: object; xShape: number[] } {
  if (name === 'unet') return { opts: { filters: [4, 8, 16], inputShape: [44, 44, 1] }, xShape: [1, 44, 44, 1] };
  return { opts: { filters: [4, 8, 16], inputShape: [32, 32, 1], numClasses: 2 }, xShape: [1, 32, 32, 1] };
}

describe('file:// handler registration', () => {
  it('importing the Node entry registers exactly one file:// save and load handler', () => {
    expect(tf.io.getSaveHandlers('file://some/dir')).toHaveLength(1);
    expect(tf.io.getLoadHandlers('file://some/dir/model.json')).toHaveLength(1);
    // Already registered: calling again registers nothing more.
    expect(registerFileHandler()).toEqual({ save: false, load: false });
    expect(tf.io.getSaveHandlers('file://some/dir')).toHaveLength(1);
    // Other schemes are not claimed.
    expect(tf.io.getSaveHandlers('memory://x')).toHaveLength(0);
  });
});

describe('file:// save and load', () => {
  it('round-trips a sequential model through model.save / tf.loadLayersModel with identical predictions', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.batchNormalization(),
        tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }),
      ],
    });
    const target = join(dir, 'seq');
    const result = await model.save(`file://${target}`);
    expect(result.modelArtifactsInfo.modelTopologyType).toBe('JSON');
    expect((await readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    // Weight bytes = 4 * number of float32 weights.
    const nWeights = model.getWeights().reduce((a, w) => a + w.size, 0);
    expect((await readFile(join(target, 'weights.bin'))).byteLength).toBe(4 * nWeights);
    const loaded = await tf.loadLayersModel(`file://${target}/model.json`);
    await expectSamePredictions(model, loaded, [2, 8, 8, 2]);
    // A directory path loads its model.json too.
    const again = await tf.loadLayersModel(`file://${target}`);
    await expectSamePredictions(model, again, [1, 8, 8, 2]);
    for (const m of [model, loaded, again]) m.dispose();
  });

  it('round-trips a functional model with a custom layer (CenterCrop2D) and a training config', async () => {
    const input = tf.input({ shape: [10, 10, 1] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'valid' }).apply(input) as tf.SymbolicTensor;
    const conv2 = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'valid' }).apply(conv) as tf.SymbolicTensor;
    // Custom layer: crop the input (10x10) to the 6x6 of conv2, then concatenate.
    const cropped = new CenterCrop2D().apply([input, conv2]) as tf.SymbolicTensor;
    const out = tf.layers.concatenate().apply([cropped, conv2]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    const target = join(dir, 'functional.json');
    await model.save(`file://${target}`);
    expect((await readdir(dir)).filter((f) => f.startsWith('functional'))).toEqual(['functional.json', 'functional.weights.bin']);
    const loaded = await tf.loadLayersModel(`file://${target}`);
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    await expectSamePredictions(model, loaded, [1, 10, 10, 1]);
    model.dispose();
    loaded.dispose();
  });

  it.each(listModels())('round-trips every registered model type: %s', async (name) => {
    const { opts, xShape } = tinyOptions(name);
    const model = createModel(name, opts);
    const target = join(dir, `model-${name.replace(/[^a-z0-9]/gi, '_')}`);
    await model.save(`file://${target}`);
    const loaded = await tf.loadLayersModel(`file://${target}/model.json`);
    expect(loaded.name).toBe(model.name);
    await expectSamePredictions(model, loaded, xShape);
    model.dispose();
    loaded.dispose();
  });

  it('also works through the explicit fileSystem() handler', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    const target = join(dir, 'explicit');
    await model.save(fileSystem(target));
    const loaded = await tf.loadLayersModel(fileSystem(join(target, 'model.json')));
    const x = tf.tensor2d([[1, 2, 3]]);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});

describe('file:// load errors name the file', () => {
  let good: string;
  beforeAll(async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    good = join(dir, 'good');
    await model.save(`file://${good}`);
    model.dispose();
  });

  it('missing model.json', async () => {
    const path = join(dir, 'nope', 'model.json');
    await expect(tf.loadLayersModel(`file://${path}`)).rejects.toThrow(`model JSON file not found: ${path}`);
  });

  it('malformed model.json', async () => {
    const bad = join(dir, 'bad-json');
    await rm(bad, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(bad));
    await writeFile(join(bad, 'model.json'), '{ "modelTopology": ');
    await expect(tf.loadLayersModel(`file://${bad}/model.json`)).rejects.toThrow(`malformed JSON in ${join(bad, 'model.json')}`);
    await writeFile(join(bad, 'model.json'), '{"format": "layers-model"}');
    await expect(tf.loadLayersModel(`file://${bad}/model.json`)).rejects.toThrow(/has no "modelTopology"/);
    const json = JSON.parse(await readFile(join(good, 'model.json'), 'utf8'));
    json.weightsManifest = { paths: 'weights.bin' };
    await writeFile(join(bad, 'model.json'), JSON.stringify(json));
    await expect(tf.loadLayersModel(`file://${bad}/model.json`)).rejects.toThrow(/malformed "weightsManifest"/);
  });

  it('missing weights file', async () => {
    const dirNoWeights = join(dir, 'no-weights');
    await import('node:fs/promises').then((fs) => fs.mkdir(dirNoWeights, { recursive: true }));
    await writeFile(join(dirNoWeights, 'model.json'), await readFile(join(good, 'model.json')));
    await expect(tf.loadLayersModel(`file://${dirNoWeights}/model.json`)).rejects.toThrow(
      `weights file (listed in ${join(dirNoWeights, 'model.json')}) not found: ${join(dirNoWeights, 'weights.bin')}`,
    );
  });

  it('truncated weights file', async () => {
    const trunc = join(dir, 'truncated');
    await import('node:fs/promises').then((fs) => fs.mkdir(trunc, { recursive: true }));
    await writeFile(join(trunc, 'model.json'), await readFile(join(good, 'model.json')));
    const bytes = await readFile(join(good, 'weights.bin'));
    await writeFile(join(trunc, 'weights.bin'), bytes.subarray(0, bytes.byteLength - 4));
    await expect(tf.loadLayersModel(`file://${trunc}/model.json`)).rejects.toThrow(
      new RegExp(`${join(trunc, 'weights.bin').replace(/[/.]/g, '\\$&')} hold 28 bytes but .* describes 32`),
    );
  });
});

describe('file:// saves are atomic', () => {
  async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    return artifacts!;
  }
  const dense = (units: number) => tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units })] });
  const staging = async (parent: string) => (await readdir(parent)).filter((f) => f.includes('.saving-'));

  it('a save that fails half-way leaves the previous model loadable and other files untouched', async () => {
    const target = join(dir, 'atomic-fail');
    const a = dense(2);
    await a.save(`file://${target}`);
    await writeFile(join(target, 'notes.txt'), 'mine');
    // Another model whose metadata cannot be serialised: the save fails after the weights exist.
    const b = dense(5);
    const broken = { ...(await artifactsOf(b)), userDefinedMetadata: { n: 10n as unknown as number } };
    await expect(fileSystem(target).save!(broken)).rejects.toThrow(/BigInt/);
    const loaded = await tf.loadLayersModel(`file://${target}`);
    await expectSamePredictions(a, loaded, [2, 3]);
    expect(await readFile(join(target, 'notes.txt'), 'utf8')).toBe('mine');
    expect(await staging(dir)).toEqual([]);
    for (const m of [a, b, loaded]) m.dispose();
  });

  it('replacing a model swaps model.json and weights, keeps other files and leaves no staging folder', async () => {
    const target = join(dir, 'atomic-replace');
    const a = dense(2);
    await a.save(`file://${target}`);
    await writeFile(join(target, 'training.json'), '{}');
    const b = dense(4);
    await b.save(`file://${target}`);
    expect((await readdir(target)).sort()).toEqual(['model.json', 'training.json', 'weights.bin']);
    const loaded = await tf.loadLayersModel(`file://${target}`);
    await expectSamePredictions(b, loaded, [2, 3]);
    expect(await staging(dir)).toEqual([]);
    for (const m of [a, b, loaded]) m.dispose();
  });

  it('a new folder (with missing parents) appears with both files in one step', async () => {
    const target = join(dir, 'atomic-new', 'deeper', 'model');
    const a = dense(3);
    await a.save(`file://${target}`);
    expect((await readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
    expect(await staging(join(dir, 'atomic-new', 'deeper'))).toEqual([]);
    a.dispose();
  });
});
