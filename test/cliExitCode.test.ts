/**
 * The demo's exit code, pinned at the threshold: 0 when the best validation Dice reaches 0.8, 2
 * below it (runDemo replaced by a stub reporting a chosen Dice; the real demo runs in cli.test.ts).
 */
import { describe, expect, it, vi } from 'vitest';

const dice = vi.hoisted(() => ({ value: 0 }));
vi.mock('../src/cli/demo.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../src/cli/demo.js')>()),
  runDemo: async () => ({ backend: 'cpu', result: {}, dice: dice.value, iou: 0, seconds: 0, files: [] }),
}));

const { main } = await import('../src/cli/main.js');

describe('demo exit code', () => {
  it.each([
    [1, 0],
    [0.8, 0],
    [0.7999, 2],
    [0, 2],
  ])('best validation Dice %d gives exit code %d', async (value, code) => {
    dice.value = value;
    expect(await main(['demo', '--epochs', '1', '--out', 'unused'], () => {})).toBe(code);
  });
});
