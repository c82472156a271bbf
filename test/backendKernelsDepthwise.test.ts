import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/index.js';
import { getEncoderSpec } from '../src/encoders/index.js';
import { loadStateDict, stateDictMapping } from '../src/io/stateDict.js';
import { depthwiseTapKernel, setDepthwiseSimd, tapModuleBytes } from '../src/backend/kernels/depthwiseSimd.js';
import { compare, expectTrainedAlike, relErr, seeded } from './backendCompare.js';
import { deterministicStateDict } from './smpWeights.js';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

interface DwCase {
  b: number; h: number; w: number; c: number; m: number; k: [number, number];
  s: number | [number, number]; pad: Pad; round?: 'floor' | 'round' | 'ceil';
}

// Strides 1 and 2, 'same' and 'valid', odd and non-square sizes, depth multipliers 1-3, channel
// counts that are and are not multiples of 4 (the SIMD routine's 16- and 4-channel passes and the
// JS tail), several kernel sizes and batches.
const cases: DwCase[] = [];
for (const s of [1, 2]) {
  for (const pad of ['same', 'valid'] as const) {
    cases.push({ b: 1, h: 7, w: 9, c: 3, m: 1, k: [3, 3], s, pad });
    cases.push({ b: 2, h: 8, w: 8, c: 21, m: 1, k: [3, 3], s, pad });
    cases.push({ b: 3, h: 6, w: 7, c: 4, m: 2, k: [2, 2], s, pad });
    cases.push({ b: 2, h: 9, w: 6, c: 5, m: 3, k: [5, 3], s, pad });
    cases.push({ b: 1, h: 5, w: 5, c: 8, m: 1, k: [1, 1], s, pad });
  }
}
// MobileNetV2's stride-2 layer with its symmetric padding given to the op itself; asymmetric
// explicit padding larger than the kernel (strided and not); a numeric pad with dimRoundingMode.
cases.push({ b: 2, h: 10, w: 10, c: 16, m: 1, k: [3, 3], s: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] });
cases.push({ b: 2, h: 7, w: 6, c: 6, m: 1, k: [3, 2], s: [2, 1], pad: [[0, 0], [4, 1], [0, 3], [0, 0]] });
cases.push({ b: 1, h: 6, w: 8, c: 12, m: 2, k: [3, 3], s: 1, pad: [[0, 0], [3, 0], [0, 2], [0, 0]] });
cases.push({ b: 2, h: 9, w: 8, c: 8, m: 1, k: [3, 3], s: 2, pad: 1, round: 'ceil' });

const label = (c: DwCase) =>
  `b${c.b} ${c.h}x${c.w}x${c.c} m${c.m} k${c.k.join('x')} s${c.s} ${JSON.stringify(c.pad)}${c.round ? ` ${c.round}` : ''}`;

/** dx and dW of a depthwiseConv2d for the case, for a seeded dy. */
function gradients(c: DwCase): tf.Tensor[] {
  const x = seeded([c.b, c.h, c.w, c.c], 1);
  const w = seeded([c.k[0], c.k[1], c.c, c.m], 2);
  const f = (a: tf.Tensor, k: tf.Tensor) =>
    tf.depthwiseConv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', 1, c.round);
  const y = f(x, w);
  return tf.grads(f)([x, w], seeded(y.shape, 3));
}

describe('wasm DepthwiseConv2dNativeBackpropInput / Filter match cpu', () => {
  it('the SIMD filter-gradient routine is available here (so the fast path is what is tested)', async () => {
    await tf.setBackend('wasm');
    expect(depthwiseTapKernel(tf.backend() as never)).not.toBeNull();
  });

  for (const c of cases) {
    it(`dx and dW through tf.grads: ${label(c)}`, async () => {
      await compare(() => gradients(c));
      const old = setDepthwiseSimd(false); // the JS loop of the filter gradient
      try {
        await compare(() => [gradients(c)[1]!]);
      } finally {
        setDepthwiseSimd(old);
      }
    });
  }

  it('tf.grad of a scalar function of a depthwiseConv2d (explicit symmetric padding, stride 2)', async () => {
    await compare(() => {
      const x = seeded([2, 12, 12, 24], 4);
      const w = seeded([3, 3, 24, 1], 5);
      const loss = (a: tf.Tensor, k: tf.Tensor) =>
        tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, k as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])));
      return [tf.grad((a: tf.Tensor) => loss(a, w))(x), tf.grad((k: tf.Tensor) => loss(x, k))(w)];
    });
  });

  it('equal an independent direct-sum reference (multiplier 2, stride 2, asymmetric padding)', async () => {
    await tf.setBackend('wasm');
    const [B, H, W, C, M, K, S, TOP, LEFT] = [2, 5, 6, 3, 2, 3, 2, 1, 0];
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], [TOP, 0], [LEFT, 1], [0, 0]];
    const OH = Math.floor((H + TOP - K) / S) + 1;
    const OW = Math.floor((W + LEFT + 1 - K) / S) + 1;
    const xv = Array.from({ length: B * H * W * C }, (_, i) => Math.sin(i * 1.7));
    const wv = Array.from({ length: K * K * C * M }, (_, i) => Math.cos(i * 0.3));
    const gv = Array.from({ length: B * OH * OW * C * M }, (_, i) => Math.cos(i * 0.9));
    const [dx, dw] = tf.tidy(() => {
      const f = (a: tf.Tensor, k: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, k as tf.Tensor4D, S, pad);
      return tf.grads(f)([tf.tensor4d(xv, [B, H, W, C]), tf.tensor4d(wv, [K, K, C, M])], tf.tensor4d(gv, [B, OH, OW, C * M]));
    });
    const gotDx = dx!.dataSync();
    const gotDw = dw!.dataSync();
    tf.dispose([dx!, dw!]);
    const refDx = new Float64Array(gotDx.length);
    const refDw = new Float64Array(gotDw.length);
    // y[b,oy,ox,c·M+q] = Σ x[b, oy·S+kh−TOP, ox·S+kw−LEFT, c] · w[kh,kw,c,q]
    for (let b = 0; b < B; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
      for (let kh = 0; kh < K; kh++) for (let kw = 0; kw < K; kw++) {
        const iy = oy * S + kh - TOP;
        const ix = ox * S + kw - LEFT;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        for (let c = 0; c < C; c++) for (let q = 0; q < M; q++) {
          const g = gv[((b * OH + oy) * OW + ox) * C * M + c * M + q]!;
          refDx[((b * H + iy) * W + ix) * C + c] += g * wv[((kh * K + kw) * C + c) * M + q]!;
          refDw[((kh * K + kw) * C + c) * M + q] += g * xv[((b * H + iy) * W + ix) * C + c]!;
        }
      }
    }
    expect(relErr(gotDx, refDx)).toBeLessThanOrEqual(1e-5);
    expect(relErr(gotDw, refDw)).toBeLessThanOrEqual(1e-5);
  });

  it('reject dilation rates above 1, a dy of the wrong shape and non-float tensors with clear errors', async () => {
    await tf.setBackend('wasm');
    const x = seeded([1, 6, 6, 4], 6);
    const w = seeded([3, 3, 4, 1], 7);
    const dy = seeded([1, 6, 6, 4], 8);
    const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) => () =>
      tf.engine().runKernel(name, inputs, { strides: 1, pad: 'same', dilations: 1, ...attrs } as never);
    const filterGrad = 'DepthwiseConv2dNativeBackpropFilter';
    const inputGrad = 'DepthwiseConv2dNativeBackpropInput';
    expect(run(filterGrad, { x, dy }, { filterShape: w.shape, dilations: 2 })).toThrow(/dilation rates other than 1/);
    expect(run(inputGrad, { dy, filter: w }, { inputShape: x.shape, dilations: [1, 2] })).toThrow(/dilation rates other than 1/);
    expect(run(filterGrad, { x, dy }, { filterShape: w.shape, strides: 2 })).toThrow(/dy has shape \[1,6,6,4\].*\[1,3,3,4\]/);
    expect(run(inputGrad, { dy, filter: w }, { inputShape: [1, 6, 6, 5] })).toThrow(/5 channels/);
    const xi = tf.cast(x, 'int32');
    expect(run(filterGrad, { x: xi, dy }, { filterShape: w.shape })).toThrow(/expected float32 tensors, got int32/);
    tf.dispose([x, w, dy, xi]);
  });

  it('leave no tensors or wasm buffers behind (SIMD and JS paths, strides 1 and 2, multipliers 1 and 2)', async () => {
    await tf.setBackend('wasm');
    const run = () => tf.tidy(() => {
      const outs: tf.Tensor[] = [];
      for (const s of [1, 2]) for (const m of [1, 2]) outs.push(...gradients({ b: 2, h: 9, w: 9, c: 6, m, k: [3, 3], s, pad: 'same' }));
      return outs.map((t) => t.dataSync()); // force execution
    });
    const old = setDepthwiseSimd(false);
    try {
      run();
    } finally {
      setDepthwiseSimd(old);
    }
    run();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    run();
    setDepthwiseSimd(false);
    try {
      run();
    } finally {
      setDepthwiseSimd(old);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
  });
});

describe('the depthwise SIMD routine on its own', () => {
  for (const shared of [false, true]) {
    it(`computes l[v] += Σ x·g over a strided run (${shared ? 'shared' : 'unshared'} memory)`, () => {
      const memory = new WebAssembly.Memory(shared ? { initial: 1, maximum: 4, shared: true } : { initial: 1 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(tapModuleBytes(shared)), { env: { memory } });
      const tap = instance.exports['tap'] as (...a: number[]) => void;
      const f = new Float32Array(memory.buffer);
      for (const [n, vectors, xStep, gStep] of [[7, 9, 40, 36], [5, 1, 4, 8], [0, 4, 16, 16], [3, 0, 8, 8], [1, 5, 20, 20]]) {
        for (let i = 0; i < 12000; i++) f[i] = Math.sin(i * 0.37);
        const [l, x, g] = [12000, 2000, 7000];
        const before = f.slice(l, l + 4 * vectors + 4);
        tap(4 * l, 4 * x, 4 * g, n, 4 * xStep, 4 * gStep, vectors);
        for (let c = 0; c < 4 * vectors; c++) {
          let sum = before[c]!;
          for (let i = 0; i < n; i++) sum += f[x + i * xStep + c]! * f[g + i * gStep + c]!;
          expect(f[l + c]).toBeCloseTo(sum, 5);
        }
        for (let c = 4 * vectors; c < 4 * vectors + 4; c++) expect(f[l + c]).toBe(before[c]); // nothing past the end
      }
    });
  }
});

/**
 * On a backend, from the given initial weights: `steps` SGD steps (lr 0.05) on the mean BCE of the
 * model in training mode (batch statistics; the batch norms' moving statistics update as in
 * `fit`). Returns the first step's gradients (one per trainable weight) and the final weights.
 */
async function train(
  build: () => tf.LayersModel, backend: string, init: Float32Array[], inputShape: number[], steps: number,
): Promise<{ weights: Float32Array[]; grads: Float32Array[] }> {
  await tf.setBackend(backend);
  const model = build();
  model.setWeights(init.map((v, i) => tf.tensor(v, model.getWeights()[i]!.shape)));
  const x = tf.randomUniform([2, ...inputShape], -1, 1, 'float32', 42);
  const y = tf.tidy(() => tf.round(tf.randomUniform([2, ...(model.outputs[0]!.shape.slice(1) as number[])], 0, 1, 'float32', 43)));
  const optimizer = tf.train.sgd(0.05);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let grads: Float32Array[] = [];
  for (let step = 0; step < steps; step++) {
    const { value, grads: g } = tf.variableGrads(
      () => tf.mean(tf.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor)),
      vars,
    );
    if (step === 0) grads = vars.map((v) => g[v.name]!.dataSync() as Float32Array);
    optimizer.applyGradients(g);
    tf.dispose([value, ...Object.values(g)]);
  }
  const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { weights, grads };
}

/**
 * Every loss gradient is within 1e-4 (relative) of cpu's, or is analytically zero: a shift or
 * scale that the next per-channel batch norm removes (MobileNetV2's projection-BN betas, whose
 * block output feeds a conv and a BN), where both sides only hold rounding noise (< 1e-6).
 * Returns how many gradients were compared by the relative test.
 */
function expectSameGradients(wasm: Float32Array[], cpu: Float32Array[]): number {
  expect(wasm.length).toBe(cpu.length);
  let compared = 0;
  for (let i = 0; i < cpu.length; i++) {
    const largest = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    if (largest(cpu[i]!) < 1e-6) {
      expect(largest(wasm[i]!)).toBeLessThan(1e-6);
    } else {
      expect(relErr(wasm[i]!, cpu[i]!)).toBeLessThanOrEqual(1e-4);
      compared++;
    }
  }
  return compared;
}

/** Input size of the MobileNetV2 test: features at 8×8, 4×4 and 2×2 (both strides, small enough for cpu). */
const S = 16;
describe('models with DepthwiseConv2D train on wasm as on cpu', () => {
  it('DepthwiseConv2D → BN → ReLU6 blocks (strides 1 and 2, multiplier 2): gradients within 1e-4, 2 SGD steps', async () => {
    const build = () => {
      const input = tf.input({ shape: [16, 16, 8] });
      let x: tf.SymbolicTensor = input;
      for (const [strides, depthMultiplier] of [[1, 1], [2, 2], [1, 1]] as const) {
        x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides, depthMultiplier, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
        x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
        x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
      }
      const out = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid' }).apply(x) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out });
    };
    await tf.setBackend('cpu');
    const seedModel = build();
    // Seeded kernels, and gammas / betas away from 1 / 0 (else ReLU6 would pass on a pure scaling
    // of each channel, which the next batch norm removes: zero gradients for gamma).
    const init = seedModel.weights.map((w, i) => tf.tidy(() => {
      const u = seeded(w.shape as number[], 100 + i);
      if (w.shape.length > 1) return u.dataSync() as Float32Array;
      if (w.originalName.endsWith('gamma')) return tf.add(1, tf.mul(0.5, u)).dataSync() as Float32Array;
      if (w.originalName.endsWith('beta')) return tf.mul(0.5, u).dataSync() as Float32Array;
      return w.read().dataSync() as Float32Array; // moving statistics
    }));
    seedModel.dispose();
    const cpu = await train(build, 'cpu', init, [16, 16, 8], 2);
    const wasm = await train(build, 'wasm', init, [16, 16, 8], 2);
    // 3 depthwise kernels, 3 × BN (gamma, beta), the head's kernel and bias: all nonzero.
    expect(expectSameGradients(wasm.grads, cpu.grads)).toBe(11);
    expectTrainedAlike(wasm.weights, cpu.weights, init);
  });

  it("getEncoderSpec('mobilenet_v2').build(input, { depth: 3 }) + a 1×1 head: gradients within 1e-4, 2 SGD steps", async () => {
    const build = () => {
      const input = tf.input({ shape: [S, S, 3] });
      const pyramid = getEncoderSpec('mobilenet_v2').build(input, { depth: 3 });
      const head = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'head' }).apply(pyramid.features[3]!);
      const model = tf.model({ inputs: input, outputs: head as tf.SymbolicTensor });
      loadStateDict(model, deterministicStateDict(stateDictMapping(model)));
      return model;
    };
    await tf.setBackend('cpu');
    const seedModel = build();
    const init = seedModel.getWeights().map((w) => w.dataSync() as Float32Array);
    expect(seedModel.layers.filter((l) => l.getClassName() === 'DepthwiseConv2D').length).toBe(6);
    seedModel.dispose();
    const cpu = await train(build, 'cpu', init, [S, S, 3], 2);
    const wasm = await train(build, 'wasm', init, [S, S, 3], 2);
    // 56 trainable weights; the 3 projection-BN betas before a conv + BN have zero gradients.
    expect(expectSameGradients(wasm.grads, cpu.grads)).toBe(53);
    expectTrainedAlike(wasm.weights, cpu.weights, init);
  });
});
