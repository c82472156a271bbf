// CLI: import-smp, export-smp, and predict on an SMP checkpoint folder.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { decodeImage, encodePng, loadSmpModel, modelInfo } from '../src/node.js';
import { materializeCheckpoint, SMP_FIXTURES } from './smpFixtures.js';

const NAME = 'unet-mobilenet_v2-d3'; // in_channels 1, classes 2
let root: string;
let smpDir: string;
const log: string[] = [];
const out = (s: string) => log.push(s);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-cli-smp-'));
  smpDir = materializeCheckpoint(NAME);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(smpDir, { recursive: true, force: true });
});

describe('import-smp / export-smp', () => {
  it('imports a checkpoint folder as a TF.js model with its metadata, refuses a non-empty --out, exports the same bytes back', async () => {
    const tfjsDir = join(root, 'tfjs');
    expect(await main(['import-smp', smpDir, '--out', tfjsDir], out)).toBe(0);
    expect(log.at(-1)).toBe(`wrote ${join(tfjsDir, 'model.json')} and ${join(tfjsDir, 'weights.bin')}`);
    const imported = await tf.loadLayersModel(`file://${join(tfjsDir, 'model.json')}`);
    const direct = await loadSmpModel(smpDir);
    const info = modelInfo(imported)!;
    expect(info.encoder).toBe('mobilenet_v2');
    expect(info.smpConfig).toEqual(JSON.parse(readFileSync(join(smpDir, 'config.json'), 'utf8')));
    const x = tf.randomUniform([1, 24, 40, 1], 0, 1, 'float32', 3);
    const [a, b] = [imported.predict(x) as tf.Tensor, direct.predict(x) as tf.Tensor];
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([x, a, b]);
    imported.dispose();
    direct.dispose();

    await expect(main(['import-smp', smpDir, '--out', tfjsDir], out)).rejects.toThrow(
      `import-smp: the output folder ${tfjsDir} is not empty (model.json, weights.bin); choose a new folder, or pass --overwrite`,
    );
    expect(await main(['import-smp', smpDir, '--out', tfjsDir, '--overwrite', '--size', '32,48'], out)).toBe(0);
    const fixed = await tf.loadLayersModel(`file://${join(tfjsDir, 'model.json')}`);
    expect(fixed.inputs[0]!.shape).toEqual([null, 32, 48, 1]);
    fixed.dispose();

    // Back to PyTorch: the very files save_pretrained wrote.
    const back = join(root, 'back');
    expect(await main(['export-smp', tfjsDir, '--out', back], out)).toBe(0);
    expect(readFileSync(join(back, 'config.json'), 'utf8')).toBe(readFileSync(join(smpDir, 'config.json'), 'utf8'));
    expect(Buffer.compare(readFileSync(join(back, 'model.safetensors')), readFileSync(join(smpDir, 'model.safetensors')))).toBe(0);
    await expect(main(['export-smp', tfjsDir, '--out', back], out)).rejects.toThrow(
      `export-smp: the output folder ${back} is not empty (config.json, model.safetensors); choose a new folder, or pass --overwrite`,
    );
    expect(await main(['export-smp', tfjsDir, '--out', back, '--overwrite'], out)).toBe(0);
    await expect(main(['export-smp', tfjsDir, '--out', tfjsDir], out)).rejects.toThrow(/is the input folder/);
  });

  it('names what it needs', async () => {
    await expect(main(['import-smp', '--out', join(root, 'x')], out)).rejects.toThrow(/^import-smp takes one SOURCE, got 0/);
    await expect(main(['import-smp', smpDir], out)).rejects.toThrow(/^missing --out/);
    await expect(main(['export-smp', join(root, 'nothing'), '--out', join(root, 'y')], out)).rejects.toThrow(
      `no model at ${join(root, 'nothing')}: expected a TF.js model folder (model.json + weights.bin, as train and import-smp write) or a segmentation_models.pytorch checkpoint folder (config.json + model.safetensors, as save_pretrained writes).`,
    );
    expect(existsSync(join(root, 'y'))).toBe(false);
    const help: string[] = [];
    await main(['import-smp', '--help'], (s) => help.push(s));
    expect(help.join('\n')).toMatch(/^Usage: segmentation-models-tfjs import-smp SOURCE --out DIR/);
  });
});

describe('predict on an SMP checkpoint folder', () => {
  it('loads config.json + model.safetensors directly and writes masks', async () => {
    const images = join(root, 'images');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(images);
    const data = Uint8Array.from({ length: 40 * 52 }, (_, i) => (i * 37) % 256);
    await writeFile(join(images, 'a.png'), encodePng({ data, height: 40, width: 52, channels: 1, maxValue: 255 }));
    const predicted = join(root, 'predicted');
    expect(await main(['predict', '--model', smpDir, '--input', images, '--out', predicted, '--tile-size', '32'], out)).toBe(0);
    const mask = decodeImage(readFileSync(join(predicted, 'a_mask.png')));
    expect([mask.height, mask.width, mask.channels]).toEqual([40, 52, 1]);
    expect(log.some((l) => l.startsWith('model: ') && l.includes('mobilenet_v2'))).toBe(true);
    expect(existsSync(join(SMP_FIXTURES, 'checkpoints', NAME, 'model.safetensors'))).toBe(false);
  });
});
