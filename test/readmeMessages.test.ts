// Error messages quoted in the README are the ones the code throws, word for word: each case runs
// the call the README describes and looks for its exact message in a code block of README.md.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createModel } from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const codeLines = new Set(
  [...readme.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.split('\n')),
);

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the call to throw');
}

describe('README quotes real error messages', () => {
  it("classic UNet with a 570 input (createModel('unet', { inputShape: [570, 570, 1] }))", () => {
    const message = messageOf(() => createModel('unet', { inputShape: [570, 570, 1] }));
    expect(message).toContain('level 1 feeds an odd size 279');
    expect(codeLines.has(message)).toBe(true);
  });
});
