// Error messages quoted in README.md and docs/ are the ones the code throws, word for word: each
// case runs the call the text describes and looks for its exact message as a line of a code block.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createModel, createSegmentationDataset, initBackend, syntheticCells, train } from '../src/index.js';

function codeLines(doc: string): Set<string> {
  const text = readFileSync(new URL(`../${doc}`, import.meta.url), 'utf8');
  return new Set([...text.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.split('\n')));
}

async function messageOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the call to throw');
}

describe('quoted error messages', () => {
  it("docs/models.md: classic UNet with a 570 input (createModel('unet', { inputShape: [570, 570, 1] }))", async () => {
    const message = await messageOf(() => createModel('unet', { inputShape: [570, 570, 1] }));
    expect(message).toContain('level 1 feeds an odd size 279');
    expect(codeLines('docs/models.md').has(message)).toBe(true);
  });

  it('docs/memory.md: the UNet++ of the training example at batch 8 on wasm', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    const data = createSegmentationDataset(syntheticCells({ count: 8, size: 256, seed: 1 }), { validationSplit: 0 });
    const model = createModel('unet++', { inputShape: [256, 256, 1], filters: [16, 32, 64, 128, 256], deepSupervision: true });
    const message = await messageOf(() => train(model, data, { epochs: 1, verbose: 0 }));
    model.dispose();
    expect(message).toContain('The largest batch that fits is 7');
    expect(codeLines('docs/memory.md').has(message)).toBe(true);
  });
});
