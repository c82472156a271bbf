import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseArgs } from '../src/cli/args.js';
import { demoExitCode } from '../src/cli/demo.js';

const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

async function run(argv: string[]): Promise<string> {
  const lines: string[] = [];
  await main(argv, (s) => lines.push(s));
  return lines.join('\n');
}

describe('CLI', () => {
  it('parses flags', () => {
    expect(parseArgs(['unet', '--input', '572,572,1', '--classes', '2', '--no-batch-norm', '--upsampling=nearest', '--x'])).toEqual({
      positional: ['unet'],
      options: { input: [572, 572, 1], classes: 2, batchNorm: false, upsampling: 'nearest', x: true },
    });
  });

  it('demo exits 0 from validation Dice 0.8 on, 2 below it', () => {
    expect([0.8, 0.95, 1].map(demoExitCode)).toEqual([0, 0, 0]);
    expect([0.7999, 0.5, 0, NaN].map(demoExitCode)).toEqual([2, 2, 2, 2]);
  });

  it('summary prints the table and totals', async () => {
    const out = await run(['summary', 'unet', '--input', '92,92,1', '--filters', '4,8,16', '--classes', '2', '--no-batch-norm']);
    expect(out).toMatch(/head\s+Conv2D\s+\[null,52,52,2\]\s+10/);
    expect(out).toContain('Non-trainable params: 0');
  });

  it('lists models and reports bad input clearly', async () => {
    expect(await run(['models'])).toMatch(/^unet\s/m);
    await expect(run(['summary', 'nope'])).rejects.toThrow(/unknown model 'nope'/);
    await expect(run(['frobnicate'])).rejects.toThrow(/unknown command 'frobnicate'/);
  });

  it('the built executable prints the full-size classic UNet summary', () => {
    const out = execFileSync(process.execPath, [bin, 'summary', 'unet', '--input', '572,572,1', '--classes', '2', '--no-batch-norm'], {
      encoding: 'utf8',
    });
    expect(out).toContain('[null,388,388,2]');
    expect(out).toContain('Total params:         31,030,658');
    expect(out).not.toContain('Hi, looks like');
  });

  it('the executable exits 1 with a one-line error', () => {
    let stderr = '';
    try {
      execFileSync(process.execPath, [bin, 'summary', 'unet', '--input', '570,570,1'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      const err = e as { status: number; stderr: string };
      expect(err.status).toBe(1);
      stderr = err.stderr;
    }
    expect(stderr).toMatch(/^error: .*Nearest valid sizes: 556 or 572/);
  });
});

describe('CLI train / predict / demo end to end (tiny)', () => {
  it('trains on folders, predicts a folder and a larger image, and runs the demo', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { syntheticCells, encodePng, decodeImage } = await import('../src/node.js');
    const dir = mkdtempSync(join(tmpdir(), 'smtf-cli-'));
    try {
      mkdirSync(join(dir, 'images'));
      mkdirSync(join(dir, 'masks'));
      const u8 = (a: ArrayLike<number>, scale: number) => Uint8Array.from(a as number[], (v) => Math.round(Math.min(1, Math.max(0, v * scale)) * 255));
      syntheticCells({ count: 8, size: 16, seed: 5 }).forEach((s, i) => {
        writeFileSync(join(dir, 'images', `cell${i}.png`), encodePng({ data: u8(s.image, 1), height: 16, width: 16, channels: 1, maxValue: 255 }));
        writeFileSync(join(dir, 'masks', `cell${i}.png`), encodePng({ data: u8(s.mask, 1), height: 16, width: 16, channels: 1, maxValue: 255 }));
      });
      const big = syntheticCells({ count: 1, size: [24, 40], seed: 9 })[0]!;
      mkdirSync(join(dir, 'big'));
      writeFileSync(join(dir, 'big', 'wide.png'), encodePng({ data: u8(big.image, 1), height: 24, width: 40, channels: 1, maxValue: 255 }));

      const out = join(dir, 'run');
      const log = await run([
        'train', '--model', 'unet-padded', '--images', join(dir, 'images'), '--masks', join(dir, 'masks'), '--out', out,
        '--epochs', '2', '--batch-size', '4', '--filters', '4,8', '--validation-split', '0.25', '--backend', 'cpu', '--augment',
      ]);
      expect(log).toMatch(/unet-padded: [\d,]+ parameters; 6 training \/ 2 validation pairs of 16x16x1/);
      expect(log).toMatch(/epoch 2\/2 loss/);
      for (const f of ['model.json', 'weights.bin', 'training.json', 'history.json', 'training-curve.svg']) {
        expect(existsSync(join(out, f)), f).toBe(true);
      }
      const record = JSON.parse(readFileSync(join(out, 'training.json'), 'utf8'));
      expect(record).toMatchObject({ model: 'unet-padded', numClasses: 1, channels: 1, size: [16, 16], normalize: 'unit', epochs: 2 });

      const pred = join(dir, 'pred');
      const tf = await import('@tensorflow/tfjs');
      const tensorsBefore = tf.memory().numTensors;
      await run(['predict', '--model', out, '--input', join(dir, 'images'), '--out', pred, '--backend', 'cpu']);
      expect(tf.memory().numTensors).toBe(tensorsBefore); // whole-image path: model and every tensor freed
      const mask = decodeImage(readFileSync(join(pred, 'cell0_mask.png')));
      expect([mask.height, mask.width, mask.channels]).toEqual([16, 16, 1]);
      expect(Array.from(mask.data).every((v) => v === 0 || v === 255)).toBe(true);
      const overlay = decodeImage(readFileSync(join(pred, 'cell0_overlay.png')));
      expect([overlay.height, overlay.width, overlay.channels]).toEqual([16, 16, 3]);
      // a larger image than the model's 16x16 input goes through overlap-tile prediction
      await run(['predict', '--model', join(out, 'model.json'), '--input', join(dir, 'big', 'wide.png'), '--out', pred, '--overwrite']);
      const wide = decodeImage(readFileSync(join(pred, 'wide_mask.png')));
      expect([wide.height, wide.width]).toEqual([24, 40]);
      await expect(run(['predict', '--model', out, '--input', join(dir, 'nope'), '--out', pred])).rejects.toThrow(/nope does not exist/);
      await expect(run(['train', '--model', 'unet', '--images', 'x'])).rejects.toThrow(/missing --masks/);

      const demoOut = join(dir, 'demo');
      const lines: string[] = [];
      const code = await main(
        ['demo', '--epochs', '1', '--count', '10', '--size', '16', '--filters', '4,8', '--batch-size', '4', '--out', demoOut, '--backend', 'cpu'],
        (s) => lines.push(s),
      );
      // One epoch on 8 tiny images stays far below the 0.8 Dice the demo asks for: exit code 2 and
      // the warning (the threshold itself is pinned in cliExitCode.test.ts).
      const dice = Number(/validation Dice (\d\.\d+)/.exec(lines.join('\n'))![1]);
      expect(dice).toBeLessThan(0.8);
      expect(lines).toContain(`warning: validation Dice ${dice.toFixed(4)} is below 0.8 — train longer (--epochs)`);
      expect(code).toBe(2);
      for (const f of ['overlay-0.png', 'overlay-1.png', 'training-curve.svg', 'model/model.json']) expect(existsSync(join(demoOut, f)), f).toBe(true);
      const pic = decodeImage(readFileSync(join(demoOut, 'overlay-0.png')));
      expect([pic.height, pic.width, pic.channels]).toEqual([64, 3 * 64 + 8, 3]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
