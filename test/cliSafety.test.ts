// The CLI never loses data (non-empty output folders, inputs, failed runs), checks its flags before
// it loads anything, words errors in flags, and predicts at the scale the model was trained at.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, version } from '../src/cli/main.js';
import {
  createModel, decodeImage, encodeJpeg, encodePng, optimizeForInference, rawToFloat, readImage, resizeBilinear, syntheticCells,
} from '../src/node.js';

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'smtf-cli-safety-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  await main(argv, (s) => lines.push(s));
  return lines;
}

const u8 = (a: ArrayLike<number>) => Uint8Array.from(a as number[], (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
/** `count` synthetic image/mask pairs as PNG in `folder`/images and `folder`/masks. */
function writeCells(folder: string, count: number, size: number | [number, number], seed: number, maskName = (s: string) => s, prefix = 'cell'): void {
  mkdirSync(join(folder, 'images'), { recursive: true });
  mkdirSync(join(folder, 'masks'), { recursive: true });
  syntheticCells({ count, size, seed }).forEach((s, i) => {
    const img = { height: s.height, width: s.width, channels: 1 as const, maxValue: 255 };
    writeFileSync(join(folder, 'images', `${prefix}${i}.png`), encodePng({ ...img, data: u8(s.image) }));
    writeFileSync(join(folder, 'masks', `${maskName(`${prefix}${i}`)}.png`), encodePng({ ...img, data: u8(s.mask) }));
  });
}

const data = join(dir, 'data');
beforeAll(() => writeCells(data, 4, 32, 3));
const trainArgs = (out: string, ...extra: string[]) => [
  'train', '--model', 'unet-padded', '--images', join(data, 'images'), '--masks', join(data, 'masks'), '--out', out,
  '--filters', '4,8', '--backend', 'cpu', ...extra,
];

describe('CLI: --version and --help', () => {
  it('--version prints the package version (also from the executable)', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(version()).toBe(pkg.version);
    expect(await run(['--version'])).toEqual([pkg.version]);
    expect(execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
  });

  it.each(['summary', 'train', 'predict', 'demo', 'models'])('%s --help prints that command\'s help before anything starts', async (command) => {
    // Nonexistent paths and a bogus backend: --help wins before any of them is looked at.
    const lines = await run([command, '--images', '/nonexistent', '--backend', 'bogus', '--help']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Usage: segmentation-models-tfjs ${command}\\b`));
    expect(await run([command, '-h'])).toEqual(lines);
    expect(await run(['help', command])).toEqual(lines);
  });

  it('train help lists the new flags', async () => {
    const [help] = await run(['train', '--help']);
    for (const f of ['--overwrite', '--micro-batch', '--fit', '--normalize', '--mean', '--std']) expect(help).toContain(f);
    const [predictHelp] = await run(['predict', '--help']);
    for (const f of ['--tile-size', '--overwrite']) expect(predictHelp).toContain(f);
  });
});

describe('CLI: flags are checked before anything is loaded', () => {
  it.each([
    [['--lr', '-1'], /^--lr expects a number > 0, got -1$/],
    [['--lr', '0'], /^--lr expects a number > 0, got 0$/],
    [['--epochs', '0'], /^--epochs expects an integer >= 1, got 0$/],
    [['--epochs', '2.5'], /^--epochs expects an integer >= 1, got 2\.5$/],
    [['--batch-size', 'many'], /^--batch-size expects an integer >= 1, got many$/],
    [['--validation-split', '1'], /^--validation-split expects a number >= 0 < 1, got 1$/],
    [['--seed', '-3'], /^--seed expects an integer >= 0, got -3$/],
    [['--size', '0'], /^--size expects a positive integer S or H,W/],
    [['--micro-batch', '9'], /^--micro-batch \(9\) must not exceed --batch-size \(8\)$/],
    [['--fit', 'stretch'], /^--fit expects resize or crop, got stretch$/],
    [['--normalize', 'zscore'], /^--normalize expects unit or standardize/],
    [['--lr', '--epochs', '2'], /^--lr expects a number > 0, got no value$/],
  ])('train %j', async (flags, message) => {
    const out = join(dir, 'never-created');
    const args = ['train', '--model', 'unet-padded', '--images', '/nonexistent', '--masks', '/nonexistent', '--out', out, ...flags];
    await expect(run(args)).rejects.toThrow(message);
    expect(existsSync(out)).toBe(false);
  });
});

describe('CLI: errors name flags, not library options', () => {
  it.each([
    ['masks named with a suffix', (d: string) => writeCells(d, 2, 16, 1, (s) => `${s}_mask`), [], /pass --mask-suffix if mask names carry one/],
    ['images of two sizes', (d: string) => { writeCells(d, 2, 16, 1); writeCells(d, 1, 24, 2, (n) => n, 'big'); }, [], /pass --size \(with --fit resize or --fit crop\)/],
    ['a crop larger than the images', (d: string) => writeCells(d, 2, 16, 1), ['--size', '32', '--fit', 'crop'], /use --fit resize or a smaller size/],
    ['--mean/--std for another channel count', (d: string) => writeCells(d, 2, 16, 1), ['--mean', '0.5,0.5', '--std', '1,1'], /--mean and --std need 1 values/],
  ] as const)('train: %s', async (_, make, flags, message) => {
    const d = mkdtempSync(join(dir, 'case-'));
    make(d);
    const out = join(d, 'out');
    const err = await run(['train', '--model', 'unet-padded', '--images', join(d, 'images'), '--masks', join(d, 'masks'), '--out', out, '--backend', 'cpu', ...flags])
      .then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toMatch(/maskSuffix|tileSize|normalize\.|fit: '|fit '|\bsize \(with fit/);
    expect(existsSync(out)).toBe(false); // the failed run leaves no folder behind
  });
});

describe('CLI train: output folders', () => {
  it('refuses a non-empty --out without --overwrite and leaves it untouched', async () => {
    const out = join(dir, 'precious');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'keep me');
    await expect(run(trainArgs(out, '--epochs', '1'))).rejects.toThrow(
      `train: the output folder ${out} is not empty (notes.txt); choose a new folder, or pass --overwrite to replace the files this command writes there.`,
    );
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });

  it('refuses an --out inside the images folder', async () => {
    await expect(run(trainArgs(join(data, 'images', 'run'), '--epochs', '1'))).rejects.toThrow(/is inside the input folder .*images; the run would mix its outputs with its inputs/);
    expect(existsSync(join(data, 'images', 'run'))).toBe(false);
  });

  it.each([
    [['--epochs', '1', '--dropout', '2'], /dropout/],
    [['--epochs', '0'], /epochs/],
  ])('a failed run (%j) leaves no folder behind', async (flags, message) => {
    const out = join(dir, 'fails', 'deeper');
    await expect(run(trainArgs(out, ...flags))).rejects.toThrow(message);
    expect(existsSync(join(dir, 'fails'))).toBe(false);
  });
});

describe('CLI train at one scale, predict at the same scale', () => {
  const runDir = join(dir, 'run');
  let trainLog: string[] = [];
  beforeAll(async () => {
    // A previous run's folder: --overwrite replaces train's own files and keeps the rest.
    mkdirSync(runDir);
    writeFileSync(join(runDir, 'history.json'), '"old"');
    writeFileSync(join(runDir, 'notes.txt'), 'mine');
    trainLog = await run(trainArgs(runDir, '--size', '16', '--epochs', '2', '--batch-size', '4', '--validation-split', '0', '--overwrite'));
  }, 120_000);

  it('--overwrite replaces the previous run and keeps unrelated files; the record says how images were scaled', () => {
    expect(readFileSync(join(runDir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(JSON.parse(readFileSync(join(runDir, 'history.json'), 'utf8'))).toHaveLength(2);
    const record = JSON.parse(readFileSync(join(runDir, 'training.json'), 'utf8'));
    expect(record).toMatchObject({ size: [16, 16], sourceSize: [32, 32], fit: 'resize', batchSize: 4, microBatch: 4, epochs: 2 });
    expect(readdirSync(dir).filter((f) => f.includes('.saving-'))).toEqual([]);
    // Not a terminal: a progress line per batch group, then the epoch line.
    expect(trainLog).toContain(trainLog.find((l) => /^epoch 2\/2 batch 1\/1 loss \d\.\d{4}$/.test(l)));
  });

  it('predicts at the training scale (images resized by 16/32, masks back at full size)', async () => {
    const input = join(dir, 'predict-in');
    mkdirSync(input);
    const [a] = syntheticCells({ count: 1, size: 32, seed: 11 });
    const [b] = syntheticCells({ count: 1, size: [48, 64], seed: 12 });
    writeFileSync(join(input, 'a.png'), encodePng({ data: u8(a!.image), height: 32, width: 32, channels: 1, maxValue: 255 }));
    writeFileSync(join(input, 'b.png'), encodePng({ data: u8(b!.image), height: 48, width: 64, channels: 1, maxValue: 255 }));
    const out = join(dir, 'predict-out');
    const log = await run(['predict', '--model', runDir, '--input', input, '--out', out, '--backend', 'cpu']);
    expect(log.some((l) => l.includes('a.png: 32x32 (predicted at 16x16, the training scale)'))).toBe(true);
    expect(log.some((l) => l.includes('b.png: 48x64 (predicted at 24x32, the training scale)'))).toBe(true);
    // The same by hand for a.png: resize to 16x16, predict, resize the probabilities back, threshold.
    // With the model predict uses (optimizeForInference: BatchNorm folded), so the probabilities are
    // bit for bit the CLI's: the unoptimised model differs in the last bits, which flips any pixel
    // that lands on 0.5 (2 epochs from a random start leave many pixels near it).
    const loaded = await tf.loadLayersModel(`file://${join(runDir, 'model.json')}`);
    const model = optimizeForInference(loaded);
    loaded.dispose();
    const raw = await readImage(join(input, 'a.png'));
    const small = resizeBilinear(rawToFloat(raw, 1), 32, 32, 1, 16, 16);
    const prob = tf.tidy(() => (model.predict(tf.tensor4d(small, [1, 16, 16, 1])) as tf.Tensor).dataSync() as Float32Array);
    const back = resizeBilinear(prob, 16, 16, 1, 32, 32);
    const mask = decodeImage(readFileSync(join(out, 'a_mask.png')));
    expect([mask.height, mask.width]).toEqual([32, 32]);
    expect(Array.from(mask.data)).toEqual(Array.from(back, (p) => (p > 0.5 ? 255 : 0)));
    expect([decodeImage(readFileSync(join(out, 'b_mask.png'))).height, decodeImage(readFileSync(join(out, 'b_mask.png'))).width]).toEqual([48, 64]);
    model.dispose();
  });

  it('never writes into or over its inputs, and refuses a non-empty --out without --overwrite', async () => {
    const gt = join(dir, 'ground-truth');
    mkdirSync(gt);
    const [s] = syntheticCells({ count: 1, size: 16, seed: 5 });
    writeFileSync(join(gt, 'x.png'), encodePng({ data: u8(s!.image), height: 16, width: 16, channels: 1, maxValue: 255 }));
    const truth = encodePng({ data: u8(s!.mask), height: 16, width: 16, channels: 1, maxValue: 255 });
    writeFileSync(join(gt, 'x_mask.png'), truth);
    const predict = (out: string, ...extra: string[]) => run(['predict', '--model', runDir, '--input', gt, '--out', out, '--backend', 'cpu', ...extra]);
    await expect(predict(gt, '--overwrite')).rejects.toThrow(`predict: writing ${join(gt, 'x_mask.png')} would overwrite the input image`);
    await expect(predict(join(gt, 'pred'))).rejects.toThrow(/is inside the input folder .*ground-truth; the run would mix its outputs with its inputs/);
    expect(Buffer.compare(readFileSync(join(gt, 'x_mask.png')), truth)).toBe(0);
    expect(readdirSync(gt).sort()).toEqual(['x.png', 'x_mask.png']);
    // Two inputs that would write the same files.
    const twins = join(dir, 'twins');
    mkdirSync(twins);
    writeFileSync(join(twins, 'y.png'), encodePng({ data: u8(s!.image), height: 16, width: 16, channels: 1, maxValue: 255 }));
    writeFileSync(join(twins, 'y.jpg'), encodeJpeg({ data: u8(s!.image), height: 16, width: 16, channels: 1, maxValue: 255 }));
    await expect(run(['predict', '--model', runDir, '--input', twins, '--out', join(dir, 'twins-out')])).rejects.toThrow(
      /y\.jpg and .*y\.png would both be written to .*y_mask\.png/,
    );
    expect(existsSync(join(dir, 'twins-out'))).toBe(false);
    // A non-empty output folder needs --overwrite.
    const out = join(dir, 'pred-existing');
    mkdirSync(out);
    writeFileSync(join(out, 'old.txt'), '');
    await expect(predict(out)).rejects.toThrow(/the output folder .*pred-existing is not empty \(old\.txt\)/);
    await predict(out, '--overwrite');
    expect(readdirSync(out).sort()).toEqual(['old.txt', 'x_mask.png', 'x_mask_mask.png', 'x_mask_overlay.png', 'x_overlay.png']);
  });
});

describe('CLI predict: variable-size models', () => {
  it('need --tile-size without a training record, and tile with it', async () => {
    const modelDir = join(dir, 'variable');
    const model = createModel('unet-padded', { inputShape: [null, null, 1], filters: [4, 8] });
    await model.save(`file://${modelDir}`);
    model.dispose();
    const input = join(dir, 'variable-in');
    mkdirSync(input);
    const [s] = syntheticCells({ count: 1, size: [20, 36], seed: 2 });
    writeFileSync(join(input, 'z.png'), encodePng({ data: u8(s!.image), height: 20, width: 36, channels: 1, maxValue: 255 }));
    const out = join(dir, 'variable-out');
    await expect(run(['predict', '--model', modelDir, '--input', input, '--out', out, '--backend', 'cpu'])).rejects.toThrow(
      /the model accepts any input size; pass --tile-size/,
    );
    expect(existsSync(out)).toBe(false);
    await run(['predict', '--model', modelDir, '--input', input, '--out', out, '--tile-size', '16', '--backend', 'cpu']);
    const mask = decodeImage(readFileSync(join(out, 'z_mask.png')));
    expect([mask.height, mask.width]).toEqual([20, 36]);
  });
});
