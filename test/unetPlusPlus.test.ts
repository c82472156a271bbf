import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildUNetPlusPlus,
  createModel,
  deepSupervisionLosses,
  paramCounts,
  pruneUNetPlusPlus,
  resolveModelName,
} from '../src/index.js';
import { unetPlusPlusCounts } from './countFormulas.js';
import { maxAbsDiff, randomImage, roundTrip } from './helpers.js';

afterEach(() => {
  tf.disposeVariables();
});

const paper = [32, 64, 128, 256, 512];
// [config, options, total, trainable, non-trainable, formula arguments]
const countCases: [string, object, number, number, number, Parameters<typeof unetPlusPlusCounts>][] = [
  [
    'original Keras code (no DS: only the final head)',
    { inputShape: [96, 96, 1], numClasses: 1, batchNorm: false, dropout: 0.5, upsampling: 'transpose' },
    9_041_601, 9_041_601, 0, [paper, 1, 1, false, true, 1],
  ],
  [
    'original Keras code with deep supervision (3 more heads: 3 × (32 + 1) = 99)',
    { inputShape: [96, 96, 1], numClasses: 1, batchNorm: false, dropout: 0.5, upsampling: 'transpose', deepSupervision: true },
    9_041_700, 9_041_700, 0, [paper, 1, 1, false, true, 4],
  ],
  [
    'pytorch-nested-unet (BN, bilinear; BN channels 1,984 encoder + 1,664 decoder = 3,648 × 2)',
    { inputShape: [96, 96, 3], numClasses: 1, batchNorm: true, upsampling: 'bilinear' },
    9_170_625, 9_163_329, 7_296, [paper, 3, 1, true, false, 1],
  ],
];

describe('UNet++ exact parameter counts', () => {
  it.each(countCases)('%s', (_, opts, total, trainable, nonTrainable, args) => {
    expect(unetPlusPlusCounts(...args)).toEqual({ total, trainable, nonTrainable });
    const model = createModel('unet++', opts);
    expect(paramCounts(model)).toEqual({ total, trainable, nonTrainable });
    model.dispose();
  });

  it('tiny configs follow the same formula (depth 2 and 3, every upsampling)', () => {
    for (const [f, up, bn] of [
      [[4, 8, 16], 'transpose', false],
      [[2, 4, 6, 8], 'nearest', true],
      [[2, 4, 6, 8], 'transpose', true],
    ] as const) {
      const model = buildUNetPlusPlus({ filters: [...f], inputShape: [16, 16, 2], numClasses: 3, batchNorm: bn, upsampling: up, deepSupervision: true });
      expect(paramCounts(model)).toEqual(unetPlusPlusCounts([...f], 2, 3, bn, up === 'transpose', f.length - 1));
      model.dispose();
    }
  });
});

describe('UNet++ outputs', () => {
  it('without deep supervision: one output, the final head, same size as the input', () => {
    const model = buildUNetPlusPlus({ filters: [4, 8, 16], inputShape: [16, 24, 3] });
    expect(model.outputNames).toEqual(['head_0_2']);
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 16, 24, 1]]);
    expect(model.layers.filter((l) => l.name.startsWith('head_'))).toHaveLength(1);
    const y = model.predict(randomImage([2, 16, 24, 3])) as tf.Tensor;
    expect(y.shape).toEqual([2, 16, 24, 1]);
    // sigmoid head by default for one class
    expect(y.min().dataSync()[0]).toBeGreaterThan(0);
    expect(y.max().dataSync()[0]).toBeLessThan(1);
    y.dispose();
    model.dispose();
  });

  it('with deep supervision: L outputs, final first [head_0_L, ..., head_0_1]', () => {
    const model = createModel('unetpp', {
      filters: [2, 4, 8, 16],
      inputShape: [16, 16, 1],
      numClasses: 3,
      deepSupervision: true,
    });
    expect(model.outputNames).toEqual(['head_0_3', 'head_0_2', 'head_0_1']);
    expect(model.outputs.map((o) => o.shape)).toEqual([[null, 16, 16, 3], [null, 16, 16, 3], [null, 16, 16, 3]]);
    const x = randomImage([1, 16, 16, 1]);
    const ys = model.predict(x) as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual([[1, 16, 16, 3], [1, 16, 16, 3], [1, 16, 16, 3]]);
    // softmax heads for 3 classes
    const sums = tf.tidy(() => tf.sum(ys[0]!, -1).sub(1).abs().max().dataSync()[0]!);
    expect(sums).toBeLessThan(1e-5);
    tf.dispose([x, ...ys]);
    model.dispose();
  });

  it('each decoder node concatenates X^{i,0..j-1} with up(X^{i+1,j-1})', () => {
    const f = [2, 4, 6, 8];
    const channels = (model: tf.LayersModel, name: string) => model.getLayer(name).outputShape as number[];
    const t = buildUNetPlusPlus({ filters: f, inputShape: [16, 16, 1] });
    const b = buildUNetPlusPlus({ filters: f, inputShape: [16, 16, 1], upsampling: 'bilinear' });
    for (let j = 1; j <= 3; j++) {
      for (let i = 0; i + j <= 3; i++) {
        const size = 16 / 2 ** i;
        expect(channels(t, `x${i}_${j}_concat`)).toEqual([null, size, size, (j + 1) * f[i]!]);
        expect(channels(b, `x${i}_${j}_concat`)).toEqual([null, size, size, j * f[i]! + f[i + 1]!]);
        expect(channels(t, `x${i}_${j}_act2`)).toEqual([null, size, size, f[i]!]);
      }
    }
    expect(t.layers.filter((l) => l.getClassName() === 'MaxPooling2D')).toHaveLength(3);
    t.dispose();
    b.dispose();
  });

  it('matches an eager reference computed from the weights with tf ops (depth 2, both heads)', () => {
    const model = buildUNetPlusPlus({
      filters: [2, 3, 4],
      inputShape: [8, 8, 2],
      batchNorm: false,
      finalActivation: 'linear',
      deepSupervision: true,
    });
    const w = (name: string) => model.getLayer(name).getWeights() as [tf.Tensor4D, tf.Tensor1D];
    const x = randomImage([1, 8, 8, 2], 3) as tf.Tensor4D;
    const [a2, a1] = model.predict(x) as tf.Tensor[];
    const diff = tf.tidy(() => {
      const c = (t: tf.Tensor4D, name: string, act = true) => {
        const [k, bias] = w(name);
        const y = tf.add(tf.conv2d(t, k, 1, 'same'), bias) as tf.Tensor4D;
        return act ? tf.relu(y) : y;
      };
      const block = (t: tf.Tensor4D, n: string) => c(c(t, `${n}_conv1`), `${n}_conv2`);
      const up = (t: tf.Tensor4D, n: string) => {
        const [k, bias] = w(n); // [2, 2, out, in]
        const [b, h, wd] = t.shape;
        return tf.add(tf.conv2dTranspose(t, k, [b, 2 * h, 2 * wd, k.shape[2]], 2, 'valid'), bias) as tf.Tensor4D;
      };
      const pool = (t: tf.Tensor4D) => tf.maxPool(t, 2, 2, 'valid');
      const x00 = block(x, 'x0_0');
      const x10 = block(pool(x00), 'x1_0');
      const x20 = block(pool(x10), 'x2_0');
      const x01 = block(tf.concat([x00, up(x10, 'x0_1_up')], -1), 'x0_1');
      const x11 = block(tf.concat([x10, up(x20, 'x1_1_up')], -1), 'x1_1');
      const x02 = block(tf.concat([x00, x01, up(x11, 'x0_2_up')], -1), 'x0_2');
      const h2 = c(x02, 'head_0_2', false);
      const h1 = c(x01, 'head_0_1', false);
      return Math.max(maxAbsDiff(h2, a2!), maxAbsDiff(h1, a1!));
    });
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([x, a2!, a1!]);
    model.dispose();
  });
});

describe('pruneUNetPlusPlus', () => {
  const nodeOf = (name: string) => /^x(\d+)_(\d+)_/.exec(name);

  it('level k computes only the nodes i + j <= k and equals the full model head exactly', () => {
    // BN with non-trivial moving statistics and dropout, to check inference-mode sharing too.
    const model = buildUNetPlusPlus({
      filters: [2, 4, 6, 8],
      inputShape: [16, 16, 2],
      numClasses: 2,
      dropout: 0.3,
      deepSupervision: true,
    });
    for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      layer.setWeights(layer.getWeights().map((t, k) => tf.randomUniform(t.shape, 0.5, 1.5, 'float32', k)));
    }
    const x = randomImage([2, 16, 16, 2], 11);
    const full = model.predict(x) as tf.Tensor[];
    const params: number[] = [];
    for (let level = 1; level <= 3; level++) {
      const pruned = pruneUNetPlusPlus(model, level);
      expect(pruned.name).toBe(`${model.name}_L${level}`);
      expect(pruned.outputNames).toEqual([`head_0_${level}`]);
      for (const layer of pruned.layers) {
        const m = nodeOf(layer.name);
        if (m) expect(Number(m[1]) + Number(m[2])).toBeLessThanOrEqual(level);
        expect(layer).toBe(layer.name === 'input' ? layer : model.getLayer(layer.name));
      }
      const nodes = new Set(pruned.layers.map((l) => nodeOf(l.name)?.slice(1, 3).join(',')).filter(Boolean));
      expect(nodes.size).toBe(((level + 1) * (level + 2)) / 2); // all (i, j) with i + j <= level
      const y = pruned.predict(x) as tf.Tensor;
      expect(maxAbsDiff(y, full[3 - level]!)).toBe(0);
      y.dispose();
      params.push(pruned.countParams());
      pruned.dispose();
    }
    // fewer parameters at every level; level L = the full model minus the other heads
    expect(params[0]!).toBeLessThan(params[1]!);
    expect(params[1]!).toBeLessThan(params[2]!);
    expect(params[2]!).toBe(model.countParams() - 2 * (2 * 2 + 2));
    tf.dispose([x, ...full]);
    model.dispose();
  });

  it('shares the weights: changing them in the full model changes the pruned one, disposal is safe', () => {
    const model = buildUNetPlusPlus({ filters: [2, 4, 8], inputShape: [8, 8, 1], deepSupervision: true, finalActivation: 'linear' });
    const start = tf.memory().numTensors;
    const pruned = pruneUNetPlusPlus(model, 1);
    expect(tf.memory().numTensors).toBe(start); // no copied weights
    const head = model.getLayer('head_0_1');
    head.setWeights(head.getWeights().map((t) => tf.onesLike(t)));
    const x = randomImage([1, 8, 8, 1]);
    const y = pruned.predict(x) as tf.Tensor;
    // head = 1 + sum over the 2 channels of X^{0,1} (ReLU output, >= 0)
    expect(y.min().dataSync()[0]).toBeGreaterThanOrEqual(1);
    pruned.dispose();
    const after = model.predict(x) as tf.Tensor[]; // the full model still works
    expect(maxAbsDiff(after[1]!, y)).toBe(0);
    tf.dispose([y, ...after]);
    model.dispose();
    x.dispose();
  });

  it('prunes a model without deep supervision to its own depth only', () => {
    const model = buildUNetPlusPlus({ filters: [2, 4, 8], inputShape: [8, 8, 1] });
    const pruned = pruneUNetPlusPlus(model, 2);
    expect(pruned.countParams()).toBe(model.countParams());
    const x = randomImage([1, 8, 8, 1]);
    const [a, b] = [model.predict(x) as tf.Tensor, pruned.predict(x) as tf.Tensor];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    expect(() => pruneUNetPlusPlus(model, 1)).toThrow(
      /has no output head_0_1 \(its outputs: head_0_2\); build it with deepSupervision: true/,
    );
    pruned.dispose();
    model.dispose();
  });

  it('rejects bad levels and models that are not UNet++', () => {
    const model = buildUNetPlusPlus({ filters: [2, 4, 8], inputShape: [8, 8, 1], deepSupervision: true });
    const before = tf.memory().numTensors;
    for (const level of [0, 3, 1.5, -1, NaN, '1']) {
      expect(() => pruneUNetPlusPlus(model, level as number)).toThrow(/level must be an integer from 1 to 2 .*got/);
    }
    const unet = createModel('unet-padded', { filters: [2, 4], inputShape: [8, 8, 1] });
    expect(() => pruneUNetPlusPlus(unet, 1)).toThrow(/is not a UNet\+\+ built by buildUNetPlusPlus/);
    expect(() => pruneUNetPlusPlus({} as tf.LayersModel, 1)).toThrow(/model must be a tf.LayersModel/);
    expect(tf.memory().numTensors).toBe(before + unet.weights.length);
    unet.dispose();
    model.dispose();
  });
});

describe('UNet++ save/load', () => {
  it('round-trips the deep-supervised model, a pruned model, and prunes a loaded model', async () => {
    const model = buildUNetPlusPlus({ filters: [2, 4, 8], inputShape: [16, 16, 3], numClasses: 2, upsampling: 'bilinear', deepSupervision: true });
    const pruned = pruneUNetPlusPlus(model, 1);
    const loaded = await roundTrip(model);
    const loadedPruned = await roundTrip(pruned);
    expect(loaded.outputNames).toEqual(['head_0_2', 'head_0_1']);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(loadedPruned.outputNames).toEqual(['head_0_1']);
    const x = randomImage([1, 16, 16, 3], 5);
    const a = model.predict(x) as tf.Tensor[];
    const b = loaded.predict(x) as tf.Tensor[];
    expect(maxAbsDiff(a, b)).toBe(0);
    const c = loadedPruned.predict(x) as tf.Tensor;
    expect(maxAbsDiff(c, a[1]!)).toBe(0);
    const fromLoaded = pruneUNetPlusPlus(loaded, 1);
    const d = fromLoaded.predict(x) as tf.Tensor;
    expect(maxAbsDiff(d, a[1]!)).toBe(0);
    tf.dispose([x, ...a, ...b, c, d]);
    for (const m of [fromLoaded, loadedPruned, loaded, pruned, model]) m.dispose();
  });
});

describe('UNet++ training with deep supervision', () => {
  it('compile + fit with deepSupervisionLosses lowers the loss; evaluate = weighted sum of heads', async () => {
    const bce = (yTrue: tf.Tensor, yPred: tf.Tensor) =>
      tf.tidy(() => {
        const p = tf.clipByValue(yPred, 1e-6, 1 - 1e-6);
        return tf.neg(tf.mean(tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))))));
      });
    const model = buildUNetPlusPlus({ filters: [4, 8, 16], inputShape: [16, 16, 1], deepSupervision: true });
    const x = randomImage([2, 16, 16, 1], 21);
    const y = tf.tidy(() => tf.cast(tf.greater(x, 0.5), 'float32'));
    const ys = model.outputs.map(() => y);

    // Weights baked in: evaluate's total equals 1 × bce(head_0_2) + 0.25 × bce(head_0_1).
    model.compile({ optimizer: tf.train.adam(0.01), loss: deepSupervisionLosses(bce, [1, 0.25]) });
    const [p2, p1] = model.predict(x) as tf.Tensor[];
    const [h2, h1] = tf.tidy(() => [bce(y, p2!).dataSync()[0]!, bce(y, p1!).dataSync()[0]!]);
    const expected = h2 + 0.25 * h1;
    const evaluated = model.evaluate(x, ys) as tf.Scalar[];
    // tfjs 4.22's evaluate on 2 outputs returns [l0, l0 + l1, l0, l1]: running sums of the
    // per-output losses, then each of them (as metrics).
    const values = evaluated.map((e) => e.dataSync()[0]!);
    expect(values).toHaveLength(4);
    expect(values[1]).toBeCloseTo(expected, 4);
    expect(values[2]).toBeCloseTo(h2, 4);
    expect(values[3]).toBeCloseTo(0.25 * h1, 4);
    tf.dispose([p2!, p1!, ...evaluated]);

    model.compile({ optimizer: tf.train.adam(0.01), loss: deepSupervisionLosses(bce, model.outputs.length) });
    const history = await model.fit(x, ys, { epochs: 8, batchSize: 2, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses).toHaveLength(8);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[7]!).toBeLessThan(losses[0]!);
    expect(Object.keys(history.history)).toEqual(expect.arrayContaining(['head_0_2_loss', 'head_0_1_loss']));
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('UNet++ bad input and names', () => {
  it('resolves its aliases', () => {
    for (const alias of ['UNet++', 'unetpp', 'UNetPlusPlus', 'unet_plus_plus', 'Nested-UNet', 'nestedunet', 'unet2plus', 'UNet 2+']) {
      expect(resolveModelName(alias)).toBe('unet++');
    }
  });

  const cases: [string, object, RegExp][] = [
    ['size not divisible', { filters: [4, 8, 16], inputShape: [30, 32, 1] }, /unet\+\+: input height 30 is not divisible by 2\^2 = 4.*28 or 32/],
    ['deepSupervision not boolean', { filters: [4, 8], deepSupervision: 'yes' }, /deepSupervision must be true or false, got 'yes'/],
    ['unknown key', { filters: [4, 8], deepSupervison: true }, /unknown option 'deepSupervison'\. Known options: .*deepSupervision/],
    ['one level', { filters: [4] }, /at least 2 levels/],
    ['bad upsampling', { filters: [4, 8], upsampling: 'bicubic' }, /upsampling must be 'transpose', 'bilinear' or 'nearest', got 'bicubic'\./],
  ];
  it.each(cases)('%s', (_, opts, message) => {
    const before = tf.memory().numTensors;
    expect(() => createModel('unet++', opts)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });
});
