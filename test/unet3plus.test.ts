import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildUNet3Plus,
  cgmTargets,
  ClassGate,
  createModel,
  paramCounts,
  resolveModelName,
  unet3PlusOutputNames,
} from '../src/index.js';
import { unet3PlusCounts, type UNet3PlusCountOptions } from './countFormulas.js';
import { maxAbsDiff, randomImage, roundTrip } from './helpers.js';

const tiny = { filters: [4, 8, 16] };

afterEach(() => {
  tf.disposeVariables();
});

describe('UNet 3+ parameter counts', () => {
  it('reproduces the reference figure: filters 16..256, in 3, 1 class, 320x320', () => {
    const m = createModel('unet3+', { inputShape: [320, 320, 3], numClasses: 1, filters: [16, 32, 64, 128, 256] });
    expect(paramCounts(m)).toEqual({ total: 1_693_537, trainable: 1_690_273, nonTrainable: 3_264 });
    m.dispose();
  });

  it('reproduces the paper: filters 64..1024 (26.97M trainable)', () => {
    const m = createModel('unet3+', { inputShape: [320, 320, 3], numClasses: 1 });
    expect(paramCounts(m)).toEqual({ total: 26_984_833, trainable: 26_971_777, nonTrainable: 13_056 });
    m.dispose();
  });

  it('agrees with an independent count for other depths, catChannels, heads, CGM and no BN', () => {
    const cases: [number, number[], number, UNet3PlusCountOptions][] = [
      [3, [16, 32, 64, 128, 256], 1, {}],
      [1, [4, 8, 16], 2, { cat: 3 }],
      [2, [4, 8, 16, 32], 3, { ds: true }],
      [1, [4, 8, 16], 1, { cgm: true }],
      [1, [4, 8], 1, { ds: true, bn: false }],
    ];
    for (const [inC, filters, classes, o] of cases) {
      const m = buildUNet3Plus({
        inputShape: [32, 32, inC],
        filters,
        numClasses: classes,
        ...(o.cat !== undefined ? { catChannels: o.cat } : {}),
        ...(o.ds ? { deepSupervision: true } : {}),
        ...(o.cgm ? { cgm: true } : {}),
        ...(o.bn === false ? { batchNorm: false } : {}),
      });
      expect(paramCounts(m)).toEqual(unet3PlusCounts(inC, filters, classes, o));
      m.dispose();
    }
  });
});

describe('UNet 3+ topology', () => {
  it('every decoder stage fuses all scales, the finest encoder map included', () => {
    const L = 4;
    const m = buildUNet3Plus({ filters: [4, 8, 16, 32], inputShape: [32, 32, 1], catChannels: 2 });
    const inbound = (layer: string) =>
      (m.getLayer(layer) as unknown as { inboundNodes: { inboundLayers: { name: string }[] }[] })
        .inboundNodes[0]!.inboundLayers.map((l) => l.name);
    for (let d = 1; d < L; d++) {
      const size = 32 / 2 ** (d - 1);
      // The finest encoder map feeds every stage, pooled by 2^(d−1).
      const fromEnc1 = d === 1 ? 'enc1_act2' : `dec${d}_enc1_pool`;
      expect(inbound(`dec${d}_enc1_conv1`)).toEqual([fromEnc1]);
      for (let s = 1; s <= L; s++) {
        const tag = s <= d ? `dec${d}_enc${s}` : `dec${d}_dec${s}`;
        expect(m.getLayer(`${tag}_act1`).outputShape).toEqual([null, size, size, 2]);
        if (s < d) {
          const cfg = m.getLayer(`${tag}_pool`).getConfig() as { poolSize: number[]; strides: number[] };
          expect(cfg.poolSize).toEqual([2 ** (d - s), 2 ** (d - s)]);
          expect(cfg.strides).toEqual([2 ** (d - s), 2 ** (d - s)]);
          expect(inbound(`${tag}_pool`)).toEqual([`enc${s}_act2`]);
        } else if (s > d) {
          const up = m.getLayer(`${tag}_up`).getConfig() as { size: number[]; interpolation: string };
          expect(up).toMatchObject({ size: [2 ** (s - d), 2 ** (s - d)], interpolation: 'bilinear' });
          // the bottleneck for s = L, the fused decoder map otherwise
          expect(inbound(`${tag}_up`)).toEqual([s === L ? `enc${L}_act2` : `dec${s}_fuse_act1`]);
        }
      }
      expect(m.getLayer(`dec${d}_concat`).outputShape).toEqual([null, size, size, 2 * L]);
      expect(m.getLayer(`dec${d}_fuse_act1`).outputShape).toEqual([null, size, size, 2 * L]);
    }
    expect((m.getLayer('d1_conv').getConfig() as { kernelSize: number[] }).kernelSize).toEqual([3, 3]);
    m.dispose();
  });

  it('rejects the upsampling option and other bad options with clear errors', () => {
    const cases: [object, RegExp][] = [
      [{ upsampling: 'bilinear' }, /option 'upsampling' does not apply.*bilinear.*Remove the option/],
      [{ catChannel: 4 }, /unknown option 'catChannel'\. Known options: .*catChannels.*cgm.*deepSupervision/],
      [{ catChannels: 0 }, /catChannels must be an integer >= 1, got 0/],
      [{ deepSupervision: 'yes' }, /deepSupervision must be true or false/],
      [{ cgm: 1 }, /cgm must be true or false/],
      [{ cgm: true, deepSupervision: false }, /cgm: true implies deep supervision/],
      [{ cgm: true, finalActivation: 'linear' }, /finalActivation must be 'sigmoid' or 'softmax', got 'linear'/],
    ];
    for (const [o, re] of cases) {
      expect(() => createModel('unet3+', { ...tiny, inputShape: [16, 16, 1], ...o })).toThrow(re);
    }
  });

  it('names the valid sizes when the input is not divisible by 2^depth', () => {
    expect(() => createModel('unet3+', { ...tiny, inputShape: [18, 16, 1] })).toThrow(
      /unet3\+: input height 18 is not divisible by 2\^2 = 4.*nearest valid sizes: 16 or 20/,
    );
    expect(() => createModel('unet3+', { inputShape: [320, 100, 3] })).toThrow(
      /input width 100 is not divisible by 2\^4 = 16.*96 or 112/,
    );
  });

  it('resolves its aliases', () => {
    for (const n of ['unet3+', 'UNet3Plus', 'unet-3plus', 'unet_3plus', 'unet+++', 'UNet 3+']) {
      expect(resolveModelName(n)).toBe('unet3+');
    }
  });
});

describe('UNet 3+ outputs', () => {
  it('without deep supervision: one full-size output d1', () => {
    const m = createModel('unet3+', { ...tiny, inputShape: [16, 24, 2], numClasses: 3 });
    expect(m.outputNames).toEqual(['d1']);
    expect(m.outputs[0]!.shape).toEqual([null, 16, 24, 3]);
    const x = randomImage([2, 16, 24, 2]);
    const y = m.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 16, 24, 3]);
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.sum(y, -1), 1))).dataSync()[0]!);
    expect(err).toBeLessThan(1e-5); // softmax by default for 3 classes
    tf.dispose([x, y]);
    m.dispose();
  });

  it('deep supervision: [d1 .. dL], final first, every one full size', () => {
    const m = createModel('unet3+', { filters: [4, 8, 16, 32], inputShape: [16, 16, 1], deepSupervision: true });
    expect(m.outputNames).toEqual(['d1', 'd2', 'd3', 'd4']);
    expect(m.outputNames).toEqual(unet3PlusOutputNames(4, true, false));
    expect(m.outputs.map((o) => o.shape)).toEqual(Array(4).fill([null, 16, 16, 1]));
    // d_k is the head of decoder stage k (d4: the bottleneck), resized by 2^(k−1).
    expect(m.getLayer('d1_conv').outputShape).toEqual([null, 16, 16, 1]);
    expect(m.getLayer('d3_conv').outputShape).toEqual([null, 4, 4, 1]);
    expect(m.getLayer('d4_conv').outputShape).toEqual([null, 2, 2, 1]);
    const inboundOf = (n: string) =>
      (m.getLayer(n) as unknown as { inboundNodes: { inboundLayers: { name: string }[] }[] }).inboundNodes[0]!
        .inboundLayers[0]!.name;
    expect(inboundOf('d2_conv')).toBe('dec2_fuse_act1');
    expect(inboundOf('d4_conv')).toBe('enc4_act2');
    const x = randomImage([1, 16, 16, 1]);
    const ys = m.predict(x) as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual(Array(4).fill([1, 16, 16, 1]));
    for (const y of ys) {
      const v = y.dataSync();
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...v)).toBeLessThanOrEqual(1);
    }
    tf.dispose([x, ...ys]);
    m.dispose();
  });

  it('CGM: deep-supervision outputs then cls [B, 2]', () => {
    const m = createModel('unet3+', { ...tiny, inputShape: [null, null, 1], cgm: true, numClasses: 2 });
    expect(m.outputNames).toEqual(['d1', 'd2', 'd3', 'cls']);
    expect(m.outputNames).toEqual(unet3PlusOutputNames(3, false, true));
    expect(m.outputs.map((o) => o.shape)).toEqual([...Array(3).fill([null, null, null, 2]), [null, 2]]);
    expect(m.getLayer('d2').getClassName()).toBe('SMTF>ClassGate');
    const x = randomImage([2, 12, 20, 1]);
    const ys = m.predict(x) as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual([...Array(3).fill([2, 12, 20, 2]), [2, 2]]);
    const cls = ys[3]!.dataSync();
    expect(Math.min(...cls)).toBeGreaterThan(0);
    expect(Math.max(...cls)).toBeLessThan(1);
    tf.dispose([x, ...ys]);
    m.dispose();
  });

  it('predict leaks no tensors', () => {
    const m = createModel('unet3+', { ...tiny, inputShape: [8, 8, 1], cgm: true, numClasses: 3 });
    const x = randomImage([1, 8, 8, 1]);
    const before = tf.memory().numTensors;
    tf.dispose(m.predict(x) as tf.Tensor[]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    m.dispose();
  });
});

/** Reference gate written element by element. */
function gateReference(seg: number[][][][], cls: number[][], activation: 'sigmoid' | 'softmax'): number[][][][] {
  return seg.map((img, b) => {
    const object = cls[b]![1]! > cls[b]![0]!;
    return img.map((row) =>
      row.map((px) => {
        if (object) return [...px];
        return px.map((_, c) => (activation === 'softmax' && c === 0 ? 1 : 0));
      }),
    );
  });
}

describe('ClassGate', () => {
  const seg = tf.tidy(() => tf.softmax(tf.randomNormal([4, 3, 2, 3], 0, 1, 'float32', 3)));
  // object, empty, object, tie (counts as empty)
  const cls = tf.tensor2d([
    [0.2, 0.9],
    [0.7, 0.6],
    [0.49, 0.51],
    [0.5, 0.5],
  ]);

  it('at inference keeps images with an object and sets empty ones to background', () => {
    for (const activation of ['sigmoid', 'softmax'] as const) {
      const gate = new ClassGate({ activation });
      const before = tf.memory().numTensors;
      const y = gate.apply([seg, cls]) as tf.Tensor;
      expect(tf.memory().numTensors).toBe(before + 1);
      const expected = gateReference(seg.arraySync() as number[][][][], cls.arraySync() as number[][], activation);
      expect(y.shape).toEqual([4, 3, 2, 3]);
      const got = y.arraySync() as number[][][][];
      got.flat(3).forEach((v, i) => expect(v).toBeCloseTo(expected.flat(3)[i]!, 6));
      y.dispose();
    }
  });

  it('is the identity when training', () => {
    for (const activation of ['sigmoid', 'softmax'] as const) {
      const y = new ClassGate({ activation }).apply([seg, cls], { training: true }) as tf.Tensor;
      expect(maxAbsDiff(y, seg)).toBe(0);
      y.dispose();
    }
  });

  it('computes shapes, checks its inputs and round-trips through serialisation', async () => {
    const a = tf.input({ shape: [null, null, 3] });
    const c = tf.input({ shape: [2] });
    const gate = new ClassGate({ activation: 'softmax', name: 'gate' });
    expect((gate.apply([a, c]) as tf.SymbolicTensor).shape).toEqual([null, null, null, 3]);
    expect(() => new ClassGate().apply([a, tf.input({ shape: [3] })])).toThrow(/cls input must be \[batch, 2\]/);
    expect(() => new ClassGate().apply([tf.input({ shape: [4] }), c])).toThrow(/must be NHWC/);
    expect(() => new ClassGate({ activation: 'linear' as never })).toThrow("ClassGate: activation must be 'sigmoid' or 'softmax', got 'linear'.");
    expect(new ClassGate().name).toMatch(/^class_gate_\d+$/);
    expect(ClassGate.className).toBe('SMTF>ClassGate');
    const model = tf.model({ inputs: [a, c], outputs: gate.apply([a, c]) as tf.SymbolicTensor });
    const loaded = await roundTrip(model);
    expect(loaded.getLayer('gate').getConfig()).toMatchObject({ activation: 'softmax' });
    const y1 = model.predict([seg, cls]) as tf.Tensor;
    const y2 = loaded.predict([seg, cls]) as tf.Tensor;
    expect(maxAbsDiff(y1, y2)).toBe(0);
    tf.dispose([y1, y2]);
  });
});

describe('CGM gating inside the model', () => {
  /** Forces cls: kernel 0, bias chooses the class for every image. */
  function forceCls(m: tf.LayersModel, object: boolean) {
    const layer = m.getLayer('cls_conv');
    const [kernel] = layer.getWeights();
    layer.setWeights([tf.zerosLike(kernel!), tf.tensor1d(object ? [-2, 2] : [2, -2])]);
  }

  it('an image classified as empty predicts all background; one with an object is left alone', () => {
    for (const numClasses of [1, 3]) {
      const m = createModel('unet3+', { ...tiny, inputShape: [8, 8, 1], cgm: true, numClasses });
      const ungated = tf.model({
        inputs: m.inputs,
        outputs: [1, 2, 3].map((k) => m.getLayer(`d${k}_prob`).output as tf.SymbolicTensor),
      });
      const x = randomImage([2, 8, 8, 1], 5);
      forceCls(m, false);
      const empty = m.predict(x) as tf.Tensor[];
      const reference = ungated.predict(x) as tf.Tensor[];
      for (const y of empty.slice(0, 3)) {
        const background = tf.tidy(() =>
          numClasses === 1 ? tf.zerosLike(y) : tf.oneHot(tf.zeros([2, 8, 8], 'int32'), numClasses),
        );
        expect(maxAbsDiff(y, background)).toBe(0);
        background.dispose();
      }
      expect(Array.from(empty[3]!.argMax(-1).dataSync())).toEqual([0, 0]);
      // The raw heads are not background: the gate did the work.
      expect(maxAbsDiff(reference[0]!, empty[0]!)).toBeGreaterThan(1e-3);

      forceCls(m, true);
      const kept = m.predict(x) as tf.Tensor[];
      expect(maxAbsDiff(kept.slice(0, 3), reference)).toBe(0);

      // In training mode (as in fit) the gate passes the heads through even for "empty" images
      // (BN uses batch statistics there, so compare with the raw heads in training mode too).
      forceCls(m, false);
      const training = m.apply(x, { training: true }) as tf.Tensor[];
      const rawTraining = ungated.apply(x, { training: true }) as tf.Tensor[];
      expect(maxAbsDiff(training.slice(0, 3), rawTraining)).toBe(0);
      expect(maxAbsDiff(training[0]!, tf.zerosLike(training[0]!))).toBeGreaterThan(1e-3);
      tf.dispose([x, ...empty, ...reference, ...kept, ...training, ...rawTraining]);
      m.dispose();
    }
  });
});

describe('cgmTargets', () => {
  it('binary masks: [empty, object] per image', () => {
    const masks = tf.zeros([3, 4, 4, 1]).bufferSync();
    masks.set(1, 1, 2, 3, 0); // image 1 has one object pixel
    masks.set(0.4, 2, 0, 0, 0); // image 2 only a value under the threshold
    const m = masks.toTensor();
    const t = cgmTargets(m);
    expect(t.shape).toEqual([3, 2]);
    expect(t.dtype).toBe('float32');
    expect(t.arraySync()).toEqual([
      [1, 0],
      [0, 1],
      [1, 0],
    ]);
    const low = cgmTargets(m, { threshold: 0.3 });
    expect(low.arraySync()).toEqual([
      [1, 0],
      [0, 1],
      [0, 1],
    ]);
    tf.dispose([m, t, low]);
  });

  it('one-hot masks: channel 0 is background; integer class maps work too', () => {
    const labels = tf.tensor3d(
      [
        [[0, 0], [0, 0]],
        [[0, 2], [0, 0]],
        [[1, 1], [1, 1]],
      ],
      [3, 2, 2],
      'int32',
    );
    const oneHot = tf.oneHot(labels, 3);
    const ids = labels.expandDims(-1);
    const before = tf.memory().numTensors;
    const a = cgmTargets(oneHot);
    const b = cgmTargets(ids);
    expect(tf.memory().numTensors).toBe(before + 2);
    const expected = [
      [1, 0],
      [0, 1],
      [0, 1],
    ];
    expect(a.arraySync()).toEqual(expected);
    expect(b.arraySync()).toEqual(expected);
    tf.dispose([labels, oneHot, ids, a, b]);
  });

  it('rejects what is not a batch of masks', () => {
    const m = tf.zeros([4, 4, 1]);
    expect(() => cgmTargets(m)).toThrow(/masks must be a \[batch, height, width, channels\] tensor, got \[4,4,1\]/);
    expect(() => cgmTargets([1, 2] as never)).toThrow(/masks must be a/);
    const ok = tf.zeros([1, 2, 2, 1]);
    expect(() => cgmTargets(ok, { threshold: NaN })).toThrow(/threshold must be a finite number/);
    tf.dispose([m, ok]);
  });
});

describe('UNet 3+ training and saving', () => {
  const bce = (yTrue: tf.Tensor, yPred: tf.Tensor) =>
    tf.tidy(() => {
      const p = tf.clipByValue(yPred, 1e-6, 1 - 1e-6);
      return tf.neg(tf.mean(tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))))));
    });

  it('a tiny CGM model trains with one loss per output and the total loss decreases', async () => {
    const m = createModel('unet3+', { ...tiny, inputShape: [16, 16, 1], cgm: true });
    // Two images with a bright square (the object), two empty ones.
    const masks = tf.tidy(() => {
      const square = tf.pad(tf.ones([1, 6, 6, 1]), [[0, 0], [4, 6], [5, 5], [0, 0]]);
      return tf.concat([square, tf.zeros([1, 16, 16, 1]), square.reverse(1), tf.zeros([1, 16, 16, 1])]);
    });
    const x = tf.tidy(() => tf.add(tf.mul(masks, 0.8), tf.mul(randomImage([4, 16, 16, 1], 11), 0.2)));
    const cls = cgmTargets(masks);
    m.compile({ optimizer: tf.train.adam(0.01), loss: [bce, bce, bce, bce] });
    const history = await m.fit(x, [masks, masks, masks, cls], { epochs: 6, batchSize: 4, verbose: 0 });
    const loss = history.history["loss"] as number[];
    expect(Object.keys(history.history).sort()).toEqual(['cls_loss', 'd1_loss', 'd2_loss', 'd3_loss', 'loss']);
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss[loss.length - 1]!).toBeLessThan(loss[0]!);
    const d1 = history.history['d1_loss'] as number[];
    expect(d1[d1.length - 1]!).toBeLessThan(d1[0]!);
    tf.dispose([masks, x, cls]);
    m.dispose();
  });

  it.each([
    [{ ...tiny, inputShape: [16, 16, 2], numClasses: 2 }, [1, 16, 16, 2]],
    [{ ...tiny, inputShape: [null, null, 1], deepSupervision: true, catChannels: 3 }, [2, 8, 12, 1]],
    [{ ...tiny, inputShape: [8, 8, 1], cgm: true, numClasses: 3 }, [2, 8, 8, 1]],
  ] as [object, number[]][])('save/load round trip %j gives identical predictions', async (opts, xShape) => {
    const m = createModel('unet3+', opts);
    const loaded = await roundTrip(m);
    expect(loaded.outputNames).toEqual(m.outputNames);
    expect(loaded.layers.map((l) => l.name)).toEqual(m.layers.map((l) => l.name));
    const x = randomImage(xShape, 13);
    const a = m.predict(x) as tf.Tensor | tf.Tensor[];
    const b = loaded.predict(x) as tf.Tensor | tf.Tensor[];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b].flat());
    m.dispose();
    loaded.dispose();
  });
});
