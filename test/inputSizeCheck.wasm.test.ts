// Its own file (its own process): on the code before the run-time check, the classic UNet fed
// 100x75 aborted the wasm module, which poisons it for the rest of the process.
import { beforeAll, describe, expect } from 'vitest';
import { initBackend } from '../src/index.js';
import { describeRuntimeSizeChecks } from './inputSizeCases.js';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

describe('every model checks its input size at run time (wasm)', () => {
  describeRuntimeSizeChecks('wasm');
});
