// The webgpu backend in Node (Dawn from the `webgpu` package), run on the CPU through SwiftShader's
// Vulkan driver: every registered model computes and trains as on the `cpu` backend.
//
// Needs a Vulkan ICD: VK_ICD_FILENAMES when set (point it at a GPU driver's ICD to run this on a
// GPU), else Debian chromium's SwiftShader ICD. Skipped when there is none, unless
// SMTF_REQUIRE_WEBGPU=1 (set by .ci/run), which makes it mandatory.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backendInfo, cgmTargets, classMapAsync, CONV_ENCODER_NAMING, convBlockEncoder, createModel, initBackend, listModels, losses,
  metrics, resolveSmpDecoderOptions, smpUnetModel, unetValidInputSize,
} from '../src/index.js';
import { describeAdapter } from '../src/backend/webgpu.js';
import { registerWebGPUKernels } from '../src/backend/webgpuKernels.js';
import { relErr, seededInit } from './backendCompare.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const icd = process.env['VK_ICD_FILENAMES'] ?? SWIFTSHADER_ICD;
const haveIcd = icd.split(':').some((f) => existsSync(f));
if (!haveIcd && process.env['SMTF_REQUIRE_WEBGPU'] === '1') {
  throw new Error(
    `SMTF_REQUIRE_WEBGPU=1 but there is no Vulkan ICD at '${icd}': apt-get install chromium libvulkan1 ` +
      `(SwiftShader), or set VK_ICD_FILENAMES`,
  );
}
// The Vulkan loader reads this when Dawn starts, which is after this line.
if (haveIcd) process.env['VK_ICD_FILENAMES'] = icd;
const swiftShader = icd === SWIFTSHADER_ICD;

const root = fileURLToPath(new URL('..', import.meta.url));

/** Small configurations of every registered model, with all their optional outputs. */
const CONFIGS: Record<string, object> = {
  unet: { inputShape: [unetValidInputSize(12, 2), unetValidInputSize(12, 2), 1], filters: [4, 8, 16] },
  'unet-padded': { inputShape: [16, 16, 1], filters: [4, 8, 16] },
  'unet++': { inputShape: [16, 16, 1], filters: [4, 8, 16], deepSupervision: true },
  'unet3+': { inputShape: [16, 16, 1], filters: [4, 8, 16], cgm: true },
};
/** segmentation_models.pytorch's Unet decoder on a small encoder: its Resize2D computes its own gradient. */
const SMP_UNET = 'SMP Unet decoder (bilinear Resize2D)';

function smpUnet(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 1], name: 'input' });
  const pyramid = convBlockEncoder(input, {
    filters: [4, 8, 16], padding: 'same', batchNorm: true, activation: 'relu', dropout: 0,
    kernelInitializer: 'heNormal', naming: CONV_ENCODER_NAMING.unet,
  });
  const decoder = resolveSmpDecoderOptions('unet', { decoderInterpolation: 'bilinear', decoderChannels: [8, 4] }, 2);
  return smpUnetModel(
    input,
    { name: 'smp_unet', architecture: 'unet', encoder: 'plain', pyramid, options: {} },
    { ...decoder, numClasses: 1, finalActivation: 'sigmoid' },
  );
}

function build(name: string): tf.LayersModel {
  const model = name === SMP_UNET ? smpUnet() : createModel(name, CONFIGS[name]!);
  // UNet 3+'s CGM has Dropout(0.5): the same seed gives the same mask on every backend (tfjs draws
  // the random numbers in JavaScript).
  for (const layer of model.layers) if (layer.getClassName() === 'Dropout') (layer as unknown as { seed: number }).seed = 5;
  return model;
}

/** A batch of 2 seeded images and one target per output (masks; CGM one-hot classes for `cls`). */
function batch(model: tf.LayersModel): { x: tf.Tensor; ys: tf.Tensor[] } {
  return tf.tidy(() => {
    const x = tf.randomUniform([2, ...(model.inputs[0]!.shape.slice(1) as number[])], 0, 1, 'float32', 1);
    const mask = (i: number) => {
      const shape = [2, ...(model.outputs[i]!.shape.slice(1) as number[])];
      return tf.cast(tf.greater(tf.randomUniform(shape, 0, 1, 'float32', 2 + i), 0.5), 'float32');
    };
    const ys = model.outputs.map((out, i) => (out.shape.length === 2 ? cgmTargets(mask(0)) : mask(i)));
    return { x, ys };
  });
}

interface Run {
  losses: number[][];
  weights: Float32Array[];
  predictions: Float32Array[];
  /** Tensors alive after train step 1 and after the last step. */
  alive: number[];
}

const STEPS = 2;

/** Predicts once, then trains STEPS SGD steps; everything is read back with async reads (webgpu in Node has no dataSync). */
async function run(name: string, backend: string, init: Float32Array[]): Promise<Run> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const model = build(name);
  const initTensors = init.map((v, i) => tf.tensor(v, model.weights[i]!.shape as number[]));
  model.setWeights(initTensors);
  tf.dispose(initTensors);
  const { x, ys } = batch(model);
  const out = model.predict(x) as tf.Tensor | tf.Tensor[];
  const predictions = await Promise.all([out].flat().map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(out);
  const bce = losses.binaryCrossentropy();
  const optimizer = tf.train.sgd(0.1);
  model.compile({ optimizer, loss: model.outputs.map(() => bce) });
  const history: number[][] = [];
  const alive: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    history.push([await model.trainOnBatch(x, ys)].flat() as number[]);
    if (step === 0 || step === STEPS - 1) alive.push(tf.memory().numTensors);
  }
  const weights = await Promise.all(model.getWeights().map((w) => w.data() as Promise<Float32Array>));
  tf.dispose([x, ...ys]);
  model.dispose();
  optimizer.dispose();
  expect(tf.memory().numTensors, `${name} on ${backend}: tensors left behind`).toBe(before);
  return { losses: history, weights, predictions, alive };
}

describe('describeAdapter', () => {
  it('calls SwiftShader, llvmpipe and fallback adapters software, real GPUs not', () => {
    expect(describeAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' }, undefined).software).toBe(true);
    expect(describeAdapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' }, undefined).software).toBe(true);
    expect(describeAdapter({ vendor: 'some', architecture: 'thing' }, true).software).toBe(true);
    expect(describeAdapter({ vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA H100' }, false)).toEqual({
      vendor: 'nvidia', architecture: 'ampere', device: '', description: 'NVIDIA H100', software: false,
    });
    expect(describeAdapter({ vendor: 'intel', architecture: 'gen-12lp' }, undefined).software).toBe(false);
  });
});

describe.skipIf(!haveIcd)('webgpu backend in Node', () => {
  beforeAll(async () => {
    expect(await initBackend('webgpu')).toBe('webgpu');
  }, 120_000);

  afterAll(async () => {
    await initBackend('cpu');
  });

  it("initBackend('webgpu') reports the adapter; 'auto' does not pick a software one", async () => {
    expect(await initBackend('webgpu')).toBe('webgpu');
    const info = backendInfo();
    expect(info.backend).toBe('webgpu');
    expect(info.requested).toBe('webgpu');
    expect(info.skipped).toEqual([]);
    expect(info.adapter).not.toBeNull();
    if (swiftShader) {
      expect(info.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', software: true });
      expect(info.adapter!.description).toMatch(/SwiftShader/);
      // 'auto' passes the software adapter over for wasm, and says why.
      expect(await initBackend('auto')).toBe('wasm');
      const auto = backendInfo();
      expect(auto.adapter).toBeNull();
      expect(auto.skipped.map((s) => s.backend)).toEqual(['tensorflow', 'webgpu']);
      expect(auto.skipped[1]!.reason).toMatch(/software one \(google swiftshader \(SwiftShader driver/);
      expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
      // and asking by name again sets it all up again
      expect(await initBackend('webgpu')).toBe('webgpu');
      expect(backendInfo().adapter?.software).toBe(true);
    }
  }, 120_000);

  it('thresholded masks count right: Dice per class, sums over leading axes, class maps (the Cast correction)', async () => {
    expect(registerWebGPUKernels()).toEqual(['Cast']);
    const castKernel = tf.getKernel('Cast', 'webgpu')!.kernelFunc;
    registerWebGPUKernels(); // idempotent
    expect(tf.getKernel('Cast', 'webgpu')!.kernelFunc).toBe(castKernel);
    const compute = async (backend: string) => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      // 2×40×40×3 > the webgpu backend's CPU hand-off size: computed on the GPU.
      const truth = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([2, 40, 40, 3], 0, 1, 'float32', 21), 0.6), 'float32'));
      const prob = tf.randomUniform([2, 40, 40, 3], 0, 1, 'float32', 22);
      const dice = metrics.dice().perClass(truth, prob);
      const counts = tf.tidy(() => tf.sum(tf.cast(tf.greater(prob, 0.5), 'float32'), [0, 1, 2]));
      const ints = tf.tidy(() => tf.cast(tf.range(0, 4800, 1, 'int32').reshape([2, 40, 20, 3]), 'float32').transpose([3, 0, 1, 2]));
      const first = tf.tidy(() => tf.slice(prob, [0, 0, 0, 0], [1, 40, 40, 3]));
      const out = {
        dice: Array.from(await dice.data()),
        counts: Array.from(await counts.data()),
        ints: Array.from(await ints.data()),
        classes: (await classMapAsync(first)).classes,
      };
      tf.dispose([truth, prob, dice, counts, ints, first]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const cpu = await compute('cpu');
    const gpu = await compute('webgpu');
    expect(cpu.counts.reduce((a, b) => a + b)).toBeGreaterThan(4000); // about half of 9,600
    expect(gpu.counts).toEqual(cpu.counts);
    expect(gpu.ints).toEqual(cpu.ints);
    expect(gpu.classes).toEqual(cpu.classes);
    gpu.dice.forEach((d, i) => expect(d).toBeCloseTo(cpu.dice[i]!, 6));
  }, 120_000);

  for (const name of [...listModels(), SMP_UNET]) {
    it(`${name}: forward pass and ${STEPS} SGD steps equal the cpu backend's, no tensor leaks`, async () => {
      if (name !== SMP_UNET) expect(CONFIGS[name], `add a small configuration of '${name}' to CONFIGS`).toBeDefined();
      await tf.setBackend('cpu');
      const seedModel = build(name);
      const init = seededInit(seedModel, 7);
      seedModel.dispose();
      const cpu = await run(name, 'cpu', init);
      const gpu = await run(name, 'webgpu', init);

      // Forward (inference mode, UNet 3+'s class gate included): relative 1e-4, as for wasm.
      expect(gpu.predictions.length).toBe(cpu.predictions.length);
      cpu.predictions.forEach((p, i) => expect(relErr(gpu.predictions[i]!, p), `output ${i}`).toBeLessThanOrEqual(1e-4));
      // Losses of every output at every step (measured ≤ 2e-7 relative).
      cpu.losses.forEach((l, s) => l.forEach((v, k) => expect(Math.abs(gpu.losses[s]![k]! - v), `step ${s} loss ${k}`).toBeLessThanOrEqual(1e-5 * Math.abs(v))));
      // Weight updates (after - before), per weight tensor: relative 1e-3 of the largest update plus
      // 1e-6 absolute (measured ≤ 3e-5 relative). The absolute part covers the conv biases in front of
      // batch norm, whose gradient is analytically zero: they only collect rounding noise.
      let moved = 0;
      for (let i = 0; i < init.length; i++) {
        const w0 = init[i]!;
        const dc = cpu.weights[i]!.map((v, j) => v - w0[j]!);
        const dg = gpu.weights[i]!.map((v, j) => v - w0[j]!);
        let diff = 0;
        let scale = 0;
        for (let j = 0; j < dc.length; j++) {
          diff = Math.max(diff, Math.abs(dg[j]! - dc[j]!));
          scale = Math.max(scale, Math.abs(dc[j]!));
          if (Math.abs(dc[j]!) > 1e-6) moved++;
        }
        expect(diff, `weight ${i} (${init[i]!.length} values)`).toBeLessThanOrEqual(1e-3 * scale + 1e-6);
      }
      expect(moved).toBeGreaterThan(1000); // training really changed the weights
      // No tensor accumulates from step to step.
      expect(gpu.alive[1]).toBe(gpu.alive[0]);
      expect(gpu.alive).toEqual(cpu.alive);
    }, 300_000);
  }
});

/** Runs test/fixtures/webgpuChild.ts in a fresh Node with extra env / loader flags; resolves its JSON. */
function child(env: Record<string, string>, nodeArgs: string[] = [], timeout = 90_000): Promise<{ code: number | null; out: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', ...nodeArgs, 'test/fixtures/webgpuChild.ts'],
      { cwd: root, env: { ...process.env, ...env }, timeout },
      (err, stdout) => {
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        if (!line) return reject(new Error(`child printed no result (${String(err)}): ${stdout}`));
        resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, out: JSON.parse(line) as Record<string, unknown> });
      },
    );
  });
}

describe('webgpu unavailable: clear error or clean fallback (fresh processes)', () => {
  it('no adapter (no Vulkan driver): throws with the fix, falls back to wasm on request', async () => {
    const { code, out } = await child({ VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(code).toBe(0);
    expect(out['before']).toEqual({ backend: null, requested: null, adapter: null, skipped: [] });
    expect(out['error']).toMatch(/the 'webgpu' backend could not be initialised here: no WebGPU adapter: .*VK_ICD_FILENAMES/);
    expect(out['fallback']).toBe('wasm');
    expect(out['skipped']).toEqual(['webgpu', 'tensorflow']);
    expect(out['auto']).toBe('wasm');
    expect(out['navigatorGpu']).toBe(false);
    expect(out['sum']).toBe(10);
  }, 120_000);

  it("the 'webgpu' package missing: the error says what to install", async () => {
    const { code, out } = await child({}, ['--import', './test/fixtures/hideWebgpuPackage.mjs']);
    expect(code).toBe(0);
    expect(out['error']).toMatch(/optional package 'webgpu' .* npm install webgpu/);
    expect(out['fallback']).toBe('wasm');
    expect(out['sum']).toBe(10);
  }, 120_000);

  it.skipIf(!haveIcd)('a process that used webgpu exits on its own', async () => {
    const { code, out } = await child({ VK_ICD_FILENAMES: icd, SMTF_CHILD_USE_WEBGPU: '1' }, [], 30_000);
    expect(code).toBe(0);
    expect(out['used']).toBe('webgpu');
    expect(out['sum']).toBe(10);
  }, 120_000);
});
