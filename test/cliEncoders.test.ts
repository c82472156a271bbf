/** The CLI with ImageNet encoders: summary, models / encoders, train and predict (tiny, on wasm). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import {
  classMap,
  createModel,
  decodeImage,
  encodePng,
  formatCount,
  listEncoders,
  normalizeChannels,
  optimizeForInference,
  paramCounts,
  predictTiled,
  rawToFloat,
  syntheticCells,
} from '../src/node.js';

async function run(argv: string[]): Promise<string> {
  const lines: string[] = [];
  await main(argv, (s) => lines.push(s));
  return lines.join('\n');
}

describe('CLI with --encoder', () => {
  it('summary builds the model on the encoder and prints its description and preprocessing', async () => {
    const out = await run(['summary', 'unet++', '--encoder', 'ResNet18', '--encoder-depth', '3', '--input', '32,32,1', '--decoder-channels', '16,8,4', '--deep-supervision']);
    const model = createModel('unet++', { encoder: 'resnet18', encoderDepth: 3, inputShape: [32, 32, 1], decoderChannels: [16, 8, 4], deepSupervision: true });
    expect(out).toContain(`Trainable params:     ${formatCount(paramCounts(model).trainable)}`);
    expect(out).toMatch(/encoder\.conv1\s+Conv2D\s+\[null,16,16,64\]\s+3,136/);
    expect(out).toContain(
      'Model: unet++ on encoder resnet18 (depth 3); outputs: segmentation_head.0 (segmentation), deep_supervision.2.activation (deep-supervision), deep_supervision.1.activation (deep-supervision)',
    );
    expect(out).toContain('Preprocessing: (x - mean) / std on inputs in [0, 1], mean [0.449], std [0.226] (resnet18)');
    model.dispose();
    expect(await run(['summary', 'unet', '--encoder', 'resnet34'])).toContain('Trainable params:     24,436,369');
    await expect(run(['summary', 'unet', '--encoder', 'resnet18', '--filters', '8,16'])).rejects.toThrow(/option 'filters' does not apply .*decoderChannels/);
    await expect(run(['summary', 'unet', '--encoder', 'resnet99'])).rejects.toThrow(/Unknown encoder 'resnet99'. Known encoders: resnet18/);
  });

  it('models lists the encoders too; encoders lists them alone', async () => {
    const models = await run(['models']);
    expect(models).toMatch(/^unet3\+\s/m);
    expect(models).toContain('Encoders (--encoder NAME with unet, unet-padded, unet++, unet3+):');
    const encoders = await run(['encoders']);
    expect(encoders.split('\n').map((l) => l.split(/\s+/)[0])).toEqual(listEncoders());
    for (const name of listEncoders()) expect(models).toMatch(new RegExp(`^${name}\\s`, 'm'));
  });

  it('train records the preprocessing; predict applies it from the model (whole image and overlap-tile), --no-preprocess does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smtf-cli-encoder-'));
    try {
      mkdirSync(join(dir, 'images'));
      mkdirSync(join(dir, 'masks'));
      const u8 = (a: ArrayLike<number>) => Uint8Array.from(a as number[], (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
      syntheticCells({ count: 6, size: 16, seed: 5 }).forEach((s, i) => {
        writeFileSync(join(dir, 'images', `cell${i}.png`), encodePng({ data: u8(s.image), height: 16, width: 16, channels: 1, maxValue: 255 }));
        writeFileSync(join(dir, 'masks', `cell${i}.png`), encodePng({ data: u8(s.mask), height: 16, width: 16, channels: 1, maxValue: 255 }));
      });
      const big = syntheticCells({ count: 1, size: [24, 40], seed: 9 })[0]!;
      mkdirSync(join(dir, 'big'));
      writeFileSync(join(dir, 'big', 'wide.png'), encodePng({ data: u8(big.image), height: 24, width: 40, channels: 1, maxValue: 255 }));

      const out = join(dir, 'run');
      const log = await run([
        'train', '--model', 'unet', '--encoder', 'resnet18', '--encoder-depth', '3', '--decoder-channels', '16,8,4',
        '--images', join(dir, 'images'), '--masks', join(dir, 'masks'), '--out', out,
        '--epochs', '1', '--batch-size', '4', '--validation-split', '0.34', '--backend', 'wasm',
      ]);
      expect(log).toContain('backend: wasm');
      expect(log).toContain('model: unet on encoder resnet18 (depth 3)');
      expect(log).toContain('preprocessing: (x - mean) / std on inputs in [0, 1], mean [0.449], std [0.226] (resnet18)');
      const record = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
      expect(record).toMatchObject({
        model: 'unet',
        modelOptions: { encoder: 'resnet18', encoderDepth: 3, decoderChannels: [16, 8, 4], inputShape: [16, 16, 1], numClasses: 1 },
        channels: 1,
        normalize: 'unit',
      });
      expect(record.preprocessing.encoder).toBe('resnet18');
      expect(record.preprocessing.mean[0]).toBeCloseTo(0.449, 12);
      expect(record.preprocessing.std[0]).toBeCloseTo(0.226, 12);

      // What predict must compute: the optimised model on the normalised image.
      const loaded = await tf.loadLayersModel(`file://${join(out, 'model.json')}`);
      const model = optimizeForInference(loaded);
      const { mean, std } = record.preprocessing as { mean: number[]; std: number[] };
      const expectedMask = async (file: string, preprocess: boolean): Promise<number[]> => {
        const raw = decodeImage(readFileSync(file));
        const data = rawToFloat(raw, 1);
        const image = tf.tensor3d(data, [raw.height, raw.width, 1]);
        const x = preprocess ? normalizeChannels(image, { mean, std }) : image.clone();
        image.dispose();
        const pred =
          raw.height === 16 && raw.width === 16
            ? tf.tidy(() => model.predict(x.expandDims(0)) as tf.Tensor)
            : await predictTiled(model, x, { optimize: false, preprocess: false });
        const { classes } = classMap(pred);
        tf.dispose([x, pred]);
        return Array.from(classes, (c) => c * 255);
      };
      const maskOf = (folder: string, stem: string) => Array.from(decodeImage(readFileSync(join(folder, `${stem}_mask.png`))).data);

      for (const preprocess of [true, false]) {
        const pred = join(dir, preprocess ? 'pred' : 'pred-raw');
        const flags = preprocess ? [] : ['--no-preprocess'];
        const plog = await run(['predict', '--model', out, '--input', join(dir, 'images'), '--out', pred, ...flags]);
        expect(plog.includes('preprocessing: (x - mean) / std')).toBe(preprocess);
        // a second prediction into the same folder: allowed with --overwrite only
        await run(['predict', '--model', out, '--input', join(dir, 'big', 'wide.png'), '--out', pred, '--overwrite', ...flags]);
        expect(maskOf(pred, 'cell0')).toEqual(await expectedMask(join(dir, 'images', 'cell0.png'), preprocess));
        expect(maskOf(pred, 'wide')).toEqual(await expectedMask(join(dir, 'big', 'wide.png'), preprocess));
        expect(existsSync(join(pred, 'wide_overlay.png'))).toBe(true);
      }
      loaded.dispose();
      model.dispose();
      await expect(run(['predict', '--model', out, '--input', join(dir, 'big'), '--out', dir, '--preprocess', 'no'])).rejects.toThrow(
        'predict: --preprocess takes no value; --no-preprocess turns it off',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
