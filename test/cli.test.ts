import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { parseArgs } from '../src/cli/args.js';

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
