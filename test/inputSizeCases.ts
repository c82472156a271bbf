/**
 * Run-time size checks of every model built on a variable input size, shared by the cpu and wasm
 * test files (each file runs in its own process, so a wasm abort cannot reach the other).
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createModel, listModels } from '../src/index.js';

/** Text of tfjs's own errors (and of a crashed wasm module) that must never reach the user. */
export const TFJS_ERROR_TEXT = /concat|Error in|Shapes can not|Aborted|typed array|XNN|memory access|out of bounds|Invalid/;

interface SizeCase {
  options: Record<string, unknown>;
  /** Sizes the model takes, with the output height × width. */
  valid: [number, number, number, number][];
  /** Sizes it must refuse. */
  invalid: [number, number][];
}

const TINY = { filters: [4, 8, 16] };
/** Depth 4, as in the issue: 190×190 gave a 4×4 output, 100×75 crashed XNNPACK on wasm. */
const DEEP = { filters: [2, 2, 2, 2, 2] };

export const SIZE_CASES: Record<string, SizeCase[]> = {
  unet: [
    { options: TINY, valid: [[44, 44, 4, 4], [44, 52, 4, 12]], invalid: [[46, 44], [44, 50], [43, 43], [8, 8]] },
    { options: DEEP, valid: [[188, 188, 4, 4]], invalid: [[100, 75], [190, 190], [97, 97]] },
  ],
  'unet-padded': [
    { options: TINY, valid: [[16, 24, 16, 24], [4, 4, 4, 4]], invalid: [[18, 24], [16, 26], [3, 4]] },
    { options: DEEP, valid: [[32, 48, 32, 48]], invalid: [[100, 75], [100, 96]] },
  ],
  'unet++': [
    { options: { ...TINY, deepSupervision: true }, valid: [[16, 24, 16, 24]], invalid: [[18, 24], [16, 26]] },
    { options: DEEP, valid: [[16, 32, 16, 32]], invalid: [[36, 36], [100, 75]] },
  ],
  'unet3+': [
    { options: { ...TINY, cgm: true }, valid: [[16, 24, 16, 24]], invalid: [[18, 24], [16, 26]] },
    { options: DEEP, valid: [[16, 32, 16, 32]], invalid: [[36, 40], [100, 75]] },
  ],
};

/** The message building the same model on a fixed `h × w` input gives. */
export function buildTimeMessage(name: string, options: Record<string, unknown>, h: number, w: number): string {
  try {
    createModel(name, { ...options, inputShape: [h, w, 1] }).dispose();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${name} ${JSON.stringify(options)} builds on ${h}x${w}; the case is not invalid`);
}

/** The error `f` throws (fails the test when it throws nothing). */
export function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, got none');
}

/**
 * For every registered model with a case: valid sizes give the right output shapes; invalid ones
 * throw exactly the build-time message (predict, apply and a training step alike), leak nothing,
 * and leave the backend working (the same prediction as before).
 */
export function describeRuntimeSizeChecks(backend: string): void {
  it('covers every registered model', () => {
    expect(Object.keys(SIZE_CASES).sort()).toEqual(listModels().sort());
  });

  for (const [name, cases] of Object.entries(SIZE_CASES)) {
    describe(`${name} on ${backend}`, () => {
      for (const { options, valid, invalid } of cases) {
        it(`${JSON.stringify(options)}: valid sizes work, invalid ones throw the build-time message`, async () => {
          const model = createModel(name, { ...options, inputShape: [null, null, 1] });
          const [vh, vw] = valid[0]!;
          const x0 = tf.randomUniform([1, vh, vw, 1], 0, 1, 'float32', 3);
          const before = [model.predict(x0) as tf.Tensor | tf.Tensor[]].flat();
          const reference = before.map((t) => t.dataSync().slice());
          tf.dispose(before);

          for (const [h, w, oh, ow] of valid) {
            const outs = tf.tidy(() => [model.predict(tf.zeros([2, h, w, 1])) as tf.Tensor | tf.Tensor[]].flat());
            const seg = outs.filter((t) => t.rank === 4);
            expect(seg.length).toBeGreaterThan(0);
            for (const t of seg) expect(t.shape.slice(0, 3)).toEqual([2, oh, ow]);
            tf.dispose(outs);
          }

          const tensors = tf.memory().numTensors;
          for (const [h, w] of invalid) {
            const expected = buildTimeMessage(name, options, h, w);
            expect(expected).toMatch(/nearest valid sizes/i);
            expect(expected).not.toMatch(TFJS_ERROR_TEXT);
            const x = tf.zeros([1, h, w, 1]);
            expect(errorOf(() => model.predict(x)).message).toBe(expected);
            expect(errorOf(() => tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor)).message).toBe(expected);
            x.dispose();
          }
          expect(tf.memory().numTensors).toBe(tensors);

          // The backend still computes, and the same as before.
          const after = [model.predict(x0) as tf.Tensor | tf.Tensor[]].flat();
          after.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(reference[i]!)));
          tf.dispose([...after, x0]);
          model.dispose();
        });
      }
    });
  }

  it(`a training step on an invalid size throws the message before any gradient (${backend})`, async () => {
    const model = createModel('unet-padded', { ...TINY, inputShape: [null, null, 1] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'binaryCrossentropy' });
    const weights = model.getWeights().map((w) => w.dataSync().slice());
    const [x, y] = [tf.zeros([2, 18, 24, 1]), tf.zeros([2, 18, 24, 1])];
    await expect(model.trainOnBatch(x, y)).rejects.toThrow(buildTimeMessage('unet-padded', TINY, 18, 24));
    model.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(weights[i]!)));
    tf.dispose([x, y]);
    model.dispose();
  });
}
