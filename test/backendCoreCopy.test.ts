// An app whose @tensorflow/tfjs-backend-wasm is bound to another copy of tfjs-core: the wasm
// package then registers its backend where our tfjs cannot see it. Simulated here by removing the
// registered 'wasm' factory after the package has loaded (a second import does not re-register).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { initBackend } from '../src/index.js';

describe('wasm package bound to another tfjs-core', () => {
  it('an explicit wasm choice says so and how to fix it; auto falls back to cpu', async () => {
    tf.removeBackend('wasm');
    await expect(initBackend('wasm')).rejects.toThrow(/another copy of @tensorflow\/tfjs-core.*npm dedupe/);
    expect(await initBackend('auto')).toBe('cpu');
  });
});
