import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  initBackend,
  modelInfo,
  paramCounts,
  pruneUNetPlusPlus,
  resolveSmpDecoderOptions,
  Resize2D,
  smpUnetModel,
  smpUnetPlusPlusModel,
  unet3PlusModel,
  type FeaturePyramid,
  type SmpDecoderOptions,
} from '../src/index.js';
import { compare, seeded } from './backendCompare.js';
import { maxAbsDiff, randomImage, roundTrip } from './helpers.js';

afterEach(() => {
  tf.disposeVariables();
});

// ---------------------------------------------------------------------------------------------
// Hand-built pyramids: f0 is the image input (as for ResNet / MobileNetV2), f1 … f_D are model
// inputs of the encoder's channels at the sizes a torchvision ResNet gives (every stride-2 op pads
// symmetrically: size → ceil(size / 2)).
// ---------------------------------------------------------------------------------------------

const RESNET34 = [3, 64, 64, 128, 256, 512];
const MOBILENET_V2 = [3, 16, 24, 32, 96, 1280];
const VGG16_BN = [64, 128, 256, 512, 512, 512]; // f0 is a real 64-channel map at stride 1
const SMP_DECODER = [256, 128, 64, 32, 16];

function featureSizes(h: number | null, w: number | null, depth: number): [number | null, number | null][] {
  const sizes: [number | null, number | null][] = [[h, w]];
  for (let i = 1; i <= depth; i++) {
    const [ph, pw] = sizes[i - 1]!;
    sizes.push([ph === null ? null : Math.ceil(ph / 2), pw === null ? null : Math.ceil(pw / 2)]);
  }
  return sizes;
}

function handBuilt(channels: number[], h: number | null, w: number | null): { inputs: tf.SymbolicTensor[]; pyramid: FeaturePyramid } {
  const depth = channels.length - 1;
  const sizes = featureSizes(h, w, depth);
  const inputs = channels.map((c, i) => tf.input({ shape: [...sizes[i]!, c], name: i === 0 ? 'input' : `f${i}` }));
  return { inputs, pyramid: { features: inputs, channels: [...channels], strides: channels.map((_, i) => 2 ** i) } };
}

function desc(architecture: string, pyramid: FeaturePyramid) {
  return { name: `${architecture}_test`, architecture, encoder: 'hand-built', pyramid, options: {} };
}

function unetOn(channels: number[], h: number | null, w: number | null, o: SmpDecoderOptions & { numClasses?: number; finalActivation?: string } = {}) {
  const { inputs, pyramid } = handBuilt(channels, h, w);
  const dec = resolveSmpDecoderOptions('unet', o, channels.length - 1);
  return smpUnetModel(inputs, desc('unet', pyramid), { ...dec, numClasses: o.numClasses ?? 1, finalActivation: o.finalActivation ?? 'linear' });
}

function unetPlusPlusOn(channels: number[], h: number | null, w: number | null, o: SmpDecoderOptions & { deepSupervision?: boolean; numClasses?: number } = {}) {
  const { inputs, pyramid } = handBuilt(channels, h, w);
  const dec = resolveSmpDecoderOptions('unet++', o, channels.length - 1);
  // SMP's UnetPlusPlus never reads f0 (here the image): it is not a model input.
  return smpUnetPlusPlusModel(inputs.slice(1), desc('unet++', pyramid), {
    ...dec,
    numClasses: o.numClasses ?? 1,
    finalActivation: 'linear',
    deepSupervision: o.deepSupervision ?? false,
  });
}

/** Random feature maps for the model's inputs (batch 2): input `f{i}` (`input` = f0) gets `sizes[i]`. */
function featuresFor(model: tf.LayersModel, sizes: [number, number][], seed = 1): tf.Tensor[] {
  return model.inputs.map((t) => {
    const i = t.sourceLayer.name === 'input' ? 0 : Number(t.sourceLayer.name.slice(1));
    return randomImage([2, ...sizes[i]!, t.shape[3]!], seed + i);
  });
}

/** Gives every BatchNorm non-trivial statistics (small variances, where eps 1e-5 vs 1e-3 shows). */
function randomiseBatchNorm(model: tf.LayersModel): void {
  let seed = 100;
  for (const layer of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [gamma, beta, mean, variance] = layer.getWeights();
    layer.setWeights([
      tf.randomUniform(gamma!.shape, 0.5, 1.5, 'float32', seed++),
      tf.randomUniform(beta!.shape, -0.5, 0.5, 'float32', seed++),
      tf.randomUniform(mean!.shape, -0.5, 0.5, 'float32', seed++),
      tf.randomUniform(variance!.shape, 1e-4, 2e-3, 'float32', seed++),
    ]);
  }
}

// ---------------------------------------------------------------------------------------------
// Parameter counts derived by hand from SMP's channel rules (decoders/unet/decoder.py,
// decoders/unetplusplus/decoder.py, base/modules.py, base/heads.py), independently of the builders.
// ---------------------------------------------------------------------------------------------

const conv = (cin: number, cout: number, bias: boolean, k = 3) => k * k * cin * cout + (bias ? cout : 0);

interface Counts {
  trainable: number;
  nonTrainable: number;
}

function smpChannels(channels: number[], dec: number[]) {
  const enc = channels.slice(1).reverse(); // f0 dropped, deepest first
  return { head: enc[0]!, ins: [enc[0]!, ...dec.slice(0, -1)], skips: [...enc.slice(1), 0] };
}

/** Conv2dReLU: conv 3×3 (bias only without BN) + BN (2 trainable, 2 running statistics per channel). */
function conv2dReLU(c: Counts, cin: number, cout: number, bn: boolean): void {
  c.trainable += conv(cin, cout, !bn) + (bn ? 2 * cout : 0);
  c.nonTrainable += bn ? 2 * cout : 0;
}

function smpUnetCounts(channels: number[], dec: number[], classes: number, center: boolean, bn = true): Counts {
  const c = { trainable: 0, nonTrainable: 0 };
  const { head, ins, skips } = smpChannels(channels, dec);
  if (center) {
    conv2dReLU(c, head, head, bn);
    conv2dReLU(c, head, head, bn);
  }
  dec.forEach((out, i) => {
    conv2dReLU(c, ins[i]! + skips[i]!, out, bn);
    conv2dReLU(c, out, out, bn);
  });
  c.trainable += conv(dec[dec.length - 1]!, classes, true); // segmentation_head.0: 3×3 with bias
  return c;
}

function smpUnetPlusPlusCounts(channels: number[], dec: number[], classes: number): Counts {
  const c = { trainable: 0, nonTrainable: 0 };
  const { ins, skips } = smpChannels(channels, dec);
  const block = (cin: number, cout: number) => {
    conv2dReLU(c, cin, cout, true);
    conv2dReLU(c, cout, cout, true);
  };
  for (let l = 0; l < ins.length - 1; l++) {
    for (let d = 0; d <= l; d++) {
      if (d === 0) block(ins[l]! + skips[l]! * (l + 1), dec[l]!);
      else block(skips[l - 1]! + skips[l]! * (l + 1 - d), skips[l]!);
    }
  }
  block(ins[ins.length - 1]!, dec[dec.length - 1]!);
  c.trainable += conv(dec[dec.length - 1]!, classes, true);
  return c;
}

describe('SMP Unet decoder: parameter counts', () => {
  // SMP's totals minus the encoders' own parameters (torchvision: resnet34 features 21,284,672;
  // mobilenet_v2 features 2,223,872 = 3,504,872 − the 1,281,000 of the classifier).
  it('resnet34 channels: 24,436,369 − 21,284,672 trainable', () => {
    expect(smpUnetCounts(RESNET34, SMP_DECODER, 1, false)).toEqual({ trainable: 24_436_369 - 21_284_672, nonTrainable: 1_984 });
    const model = unetOn(RESNET34, 64, 64);
    expect(paramCounts(model)).toEqual({ total: 3_151_697 + 1_984, trainable: 3_151_697, nonTrainable: 1_984 });
    model.dispose();
  });

  it('mobilenet_v2 channels: 6,628,945 − 2,223,872 trainable', () => {
    expect(smpUnetCounts(MOBILENET_V2, SMP_DECODER, 1, false).trainable).toBe(6_628_945 - 2_223_872);
    const model = unetOn(MOBILENET_V2, 64, 64);
    expect(paramCounts(model).trainable).toBe(4_405_073);
    model.dispose();
  });

  it('vgg16_bn channels with the center block (2 × Conv2dReLU 512 → 512)', () => {
    const expected = smpUnetCounts(VGG16_BN, SMP_DECODER, 1, true);
    expect(expected).toEqual({ trainable: 9_033_553, nonTrainable: 4_032 });
    const model = unetOn(VGG16_BN, 64, 64, { decoderCenterBlock: true });
    expect(paramCounts(model)).toMatchObject(expected);
    expect(model.getLayer('decoder.center.1.0').getWeights()[0]!.shape).toEqual([3, 3, 512, 512]);
    model.dispose();
  });

  it('depth 3 with its default decoder channels [64, 32, 16], no BN (convs with bias), 3 classes', () => {
    const channels = RESNET34.slice(0, 4);
    const model = unetOn(channels, 32, 32, { decoderBatchNorm: false, numClasses: 3 });
    const expected = smpUnetCounts(channels, [64, 32, 16], 3, false, false);
    expect(paramCounts(model)).toMatchObject(expected);
    expect(expected.nonTrainable).toBe(0);
    expect(model.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(false);
    expect(model.getLayer('decoder.blocks.0.conv1.0').getWeights().map((w) => w.shape)).toEqual([[3, 3, 128 + 64, 64], [64]]);
    model.dispose();
  });
});

describe('SMP Unet decoder: structure and names', () => {
  it('layer names are SMP module paths, so a state_dict key is <layer name>.<parameter>', () => {
    const model = unetOn(RESNET34, 64, 64);
    const torchName: Record<string, string> = {
      kernel: 'weight',
      bias: 'bias',
      gamma: 'weight',
      beta: 'bias',
      moving_mean: 'running_mean',
      moving_variance: 'running_var',
    };
    const keys = model.weights.map((w) => {
      const [layer, param] = w.originalName.split('/');
      return `${layer}.${torchName[param!]}`;
    });
    // The keys segmentation_models.pytorch's Unet decoder and head have (num_batches_tracked aside).
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const c of ['conv1', 'conv2']) {
        expected.push(`decoder.blocks.${i}.${c}.0.weight`);
        for (const p of ['weight', 'bias', 'running_mean', 'running_var']) expected.push(`decoder.blocks.${i}.${c}.1.${p}`);
      }
    }
    expected.push('segmentation_head.0.weight', 'segmentation_head.0.bias');
    expect([...keys].sort()).toEqual([...expected].sort());
    // conv1 of each block sees [x, skip]: 512+256, 256+128, 128+64, 64+64, 32 (no skip) channels.
    expect([0, 1, 2, 3, 4].map((i) => model.getLayer(`decoder.blocks.${i}.conv1.0`).getWeights()[0]!.shape[2])).toEqual([768, 384, 192, 128, 32]);
    // BN as PyTorch: eps 1e-5, momentum 0.1 (Keras 0.9).
    const bn = model.getLayer('decoder.blocks.0.conv1.1').getConfig();
    expect([bn.epsilon, bn.momentum]).toEqual([1e-5, 0.9]);
    // Layers without weights are named under the same prefix, never like a parameter key.
    const weightless = model.layers.filter((l) => l.weights.length === 0 && l.getClassName() !== 'InputLayer').map((l) => l.name);
    expect(weightless).toContain('decoder.blocks.0.upsample');
    expect(weightless).toContain('decoder.blocks.0.concat');
    expect(weightless).toContain('decoder.blocks.0.conv1.relu');
    expect(weightless).not.toContain('decoder.blocks.4.concat'); // the last block has no skip
    for (const name of weightless) {
      expect(name).toMatch(/^decoder\.blocks\.\d\.(upsample|concat|conv[12]\.relu)$/);
    }
    model.dispose();
  });

  it('takes any H×W: each block is resized to its skip’s actual size, the last to f0’s (45×37)', () => {
    const model = unetOn([3, 8, 8, 16, 16, 32], 45, 37, { numClasses: 2, decoderChannels: [16, 8, 8, 4, 4] });
    expect(model.outputs[0]!.shape).toEqual([null, 45, 37, 2]);
    // 45×37 → 23×19 → 12×10 → 6×5 → 3×3 → 2×2, and back up through exactly these sizes.
    const sizes = featureSizes(45, 37, 5);
    for (let i = 0; i < 5; i++) {
      expect(model.getLayer(`decoder.blocks.${i}.upsample`).outputShape.slice(1, 3)).toEqual(sizes[4 - i]);
    }
    const xs = featuresFor(model, sizes as [number, number][]);
    const y = model.predict(xs) as tf.Tensor;
    expect(y.shape).toEqual([2, 45, 37, 2]);
    tf.dispose([y, ...xs]);
    model.dispose();
  });

  it('variable-size inputs (null H/W) resize at run time and give the fixed-size model’s result', () => {
    for (const decoderInterpolation of ['nearest', 'bilinear'] as const) {
      const fixed = unetOn(RESNET34.slice(0, 4), 45, 37, { decoderInterpolation, decoderChannels: [16, 8, 4] });
      const free = unetOn(RESNET34.slice(0, 4), null, null, { decoderInterpolation, decoderChannels: [16, 8, 4] });
      expect(free.outputs[0]!.shape).toEqual([null, null, null, 1]);
      free.setWeights(fixed.getWeights());
      const xs = featuresFor(fixed, featureSizes(45, 37, 3) as [number, number][], 7);
      const a = fixed.predict(xs) as tf.Tensor;
      const b = free.predict(xs) as tf.Tensor;
      expect(maxAbsDiff(a, b)).toBe(0);
      tf.dispose([a, b, ...xs]);
      fixed.dispose();
      free.dispose();
    }
  });

  it('computes what SMP’s forward computes (eager reference from the weights, 2 blocks, odd sizes)', () => {
    // f0: 7×5×3, f1: 4×3×6, f2: 2×2×8; decoder [5, 4]; BN with random statistics (eps matters).
    for (const decoderInterpolation of ['nearest', 'bilinear'] as const) {
      const model = unetOn([3, 6, 8], 7, 5, { decoderChannels: [5, 4], decoderInterpolation, numClasses: 2 });
      randomiseBatchNorm(model);
      const xs = featuresFor(model, featureSizes(7, 5, 2) as [number, number][], 3);
      const got = model.predict(xs) as tf.Tensor;
      const want = tf.tidy(() => {
        const w = (name: string) => model.getLayer(name).getWeights();
        const conv2dReLU = (x: tf.Tensor4D, name: string) => {
          const [kernel] = w(`${name}.0`);
          const [gamma, beta, mean, variance] = w(`${name}.1`);
          const y = tf.conv2d(x, kernel as tf.Tensor4D, 1, 'same');
          const normed = tf.add(tf.mul(tf.div(tf.sub(y, mean!), tf.sqrt(tf.add(variance!, 1e-5))), gamma!), beta!);
          return tf.relu(normed) as tf.Tensor4D;
        };
        const [f0, f1, f2] = xs as tf.Tensor4D[];
        let x = tf.concat([torchResize(f2!, 4, 3, decoderInterpolation), f1!], -1); // upsampled first
        x = conv2dReLU(conv2dReLU(x, 'decoder.blocks.0.conv1'), 'decoder.blocks.0.conv2');
        x = torchResize(x, f0!.shape[1], f0!.shape[2], decoderInterpolation); // no skip: f0's size
        x = conv2dReLU(conv2dReLU(x, 'decoder.blocks.1.conv1'), 'decoder.blocks.1.conv2');
        const [k, b] = w('segmentation_head.0');
        return tf.add(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'), b!);
      });
      // small running variances amplify the maps (values ~1e5): compare relative to the largest
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * tf.tidy(() => tf.max(tf.abs(want)).dataSync()[0]!));
      tf.dispose([got, want, ...xs]);
      model.dispose();
    }
  });

  it('round-trips through save/load with its names, Resize2D layers and metadata', async () => {
    const model = unetOn(RESNET34.slice(0, 4), 45, 37, { decoderChannels: [16, 8, 4], decoderInterpolation: 'bilinear' });
    randomiseBatchNorm(model);
    const loaded = await roundTrip(model);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(loaded.getLayer('decoder.blocks.0.upsample')).toBeInstanceOf(Resize2D);
    expect(loaded.getLayer('decoder.blocks.0.upsample').getConfig()).toMatchObject({ interpolation: 'bilinear', scale: null });
    expect(modelInfo(loaded)).toEqual(modelInfo(model));
    const xs = featuresFor(model, featureSizes(45, 37, 3) as [number, number][], 9);
    const [a, b] = [model.predict(xs) as tf.Tensor, loaded.predict(xs) as tf.Tensor];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([a, b, ...xs]);
    model.dispose();
    loaded.dispose();
  });

  it('rejects bad decoder options with clear errors', () => {
    expect(() => resolveSmpDecoderOptions('unet', { decoderChannels: [256, 128, 64] }, 5)).toThrow(
      /decoderChannels must list 5 positive integers, one per encoder stage \(encoderDepth 5\).*\[256,128,64,32,16\]/,
    );
    expect(() => resolveSmpDecoderOptions('unet', { decoderChannels: [4, 0, 2] }, 3)).toThrow(/positive integers/);
    expect(() => resolveSmpDecoderOptions('unet', { decoderInterpolation: 'bicubic' as never }, 3)).toThrow(
      /decoderInterpolation must be 'nearest' or 'bilinear', got 'bicubic'\./,
    );
    expect(() => resolveSmpDecoderOptions('unet', { decoderBatchNorm: 'yes' as never }, 3)).toThrow(/decoderBatchNorm must be true or false/);
    expect(resolveSmpDecoderOptions('unet', {}, 4).decoderChannels).toEqual([128, 64, 32, 16]);
    expect(resolveSmpDecoderOptions('unet', {}, 5, { decoderCenterBlock: true }).decoderCenterBlock).toBe(true);
  });
});

/** PyTorch's `F.interpolate(align_corners=False)` written out per output pixel (NHWC). */
function torchResize(x: tf.Tensor4D, outH: number, outW: number, mode: 'nearest' | 'bilinear'): tf.Tensor4D {
  const [, inH, inW] = x.shape;
  const taps = (inSize: number, outSize: number): [number, number, number][] =>
    Array.from({ length: outSize }, (_, o) => {
      if (mode === 'nearest') return [Math.min(Math.floor((o * inSize) / outSize), inSize - 1), 0, 0];
      const src = Math.max(((o + 0.5) * inSize) / outSize - 0.5, 0);
      const lo = Math.floor(src);
      return [lo, lo < inSize - 1 ? lo + 1 : lo, src - lo];
    });
  const along = (t: tf.Tensor4D, axis: 1 | 2, list: [number, number, number][]) => {
    const a = tf.gather(t, list.map((p) => p[0]), axis);
    const b = tf.gather(t, list.map((p) => p[1]), axis);
    const shape = axis === 1 ? [1, list.length, 1, 1] : [1, 1, list.length, 1];
    const lambda = tf.tensor(list.map((p) => p[2]), shape);
    return tf.add(tf.mul(a, tf.sub(1, lambda)), tf.mul(b, lambda)) as tf.Tensor4D;
  };
  return tf.tidy(() => along(along(x, 1, taps(inH, outH)), 2, taps(inW, outW)));
}

describe('Resize2D', () => {
  it('matches PyTorch’s nearest and bilinear (align_corners=False) rules up and down, ×2 and odd ratios', () => {
    const x = randomImage([2, 5, 7, 3], 4) as tf.Tensor4D;
    for (const mode of ['nearest', 'bilinear'] as const) {
      for (const [h, w] of [[10, 14], [12, 23], [3, 4], [5, 7], [9, 2]] as const) {
        const ref = tf.zeros([1, h, w, 1]);
        const y = new Resize2D({ interpolation: mode }).apply([x, ref]) as tf.Tensor;
        const want = torchResize(x, h, w, mode);
        expect(maxAbsDiff(y, want)).toBeLessThan(1e-6);
        tf.dispose([ref, y, want]);
      }
      const y2 = new Resize2D({ interpolation: mode, scale: 2 }).apply(x) as tf.Tensor;
      const want2 = torchResize(x, 10, 14, mode);
      expect(maxAbsDiff(y2, want2)).toBeLessThan(1e-6);
      tf.dispose([y2, want2]);
    }
    x.dispose();
  });

  it('its gradients are those of the PyTorch rule (the reference differentiated by tfjs)', () => {
    const x = randomImage([2, 5, 7, 3], 8) as tf.Tensor4D;
    for (const mode of ['nearest', 'bilinear'] as const) {
      for (const [h, w] of [[10, 14], [12, 23], [3, 4]] as const) {
        const weights = randomImage([2, h, w, 3], 9);
        const ref = tf.zeros([1, h, w, 1]);
        const layer = new Resize2D({ interpolation: mode });
        const got = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply([t, ref]) as tf.Tensor, weights)))(x);
        // The reference is gathers and lerps only, whose gradients tfjs gets right.
        const want = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(torchResize(t as tf.Tensor4D, h, w, mode), weights)))(x);
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
        tf.dispose([weights, ref, got, want]);
      }
    }
    x.dispose();
  });

  it('on wasm, values and gradients (batch 2) equal cpu’s', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    try {
      for (const mode of ['nearest', 'bilinear'] as const) {
        await compare(() => {
          const x = seeded([2, 5, 7, 3], 1);
          const weights = seeded([2, 12, 23, 3], 2);
          const layer = new Resize2D({ interpolation: mode, name: `r_${mode}` });
          const ref = tf.zeros([1, 12, 23, 1]);
          const f = (t: tf.Tensor) => tf.sum(tf.mul(layer.apply([t, ref]) as tf.Tensor, weights));
          return [layer.apply([x, ref]) as tf.Tensor, tf.grad(f)(x)];
        });
      }
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('computes shapes, rejects bad configs and inputs, serialises, leaks nothing', async () => {
    expect(new Resize2D().computeOutputShape([[null, 3, 4, 5], [null, 7, null, 1]])).toEqual([null, 7, null, 5]);
    expect(new Resize2D({ scale: 3 }).computeOutputShape([null, 3, null, 5])).toEqual([null, 9, null, 5]);
    expect(() => new Resize2D({ interpolation: 'bicubic' as never })).toThrow(/interpolation must be 'nearest' or 'bilinear', got 'bicubic'\./);
    expect(() => new Resize2D({ scale: 1.5 })).toThrow(/scale must be an integer >= 1/);
    expect(() => new Resize2D({ scale: 2 }).computeOutputShape([[null, 3, 4, 5], [null, 3, 4, 5]])).toThrow(/with a scale takes one input, got 2/);
    expect(() => new Resize2D().computeOutputShape([null, 3, 4, 5])).toThrow(/without a scale takes two inputs \[x, reference\], got 1/);
    const input = tf.input({ shape: [null, null, 2] });
    const model = tf.model({ inputs: input, outputs: new Resize2D({ scale: 2, interpolation: 'bilinear', name: 'up' }).apply(input) as tf.SymbolicTensor });
    const loaded = await roundTrip(model);
    const x = randomImage([1, 3, 5, 2]);
    const before = tf.memory().numTensors;
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(a.shape).toEqual([1, 6, 10, 2]);
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('SMP Unet++ decoder', () => {
  it('resnet34 channels: 26,078,609 − 21,284,672 trainable; depth 3 too', () => {
    const expected = smpUnetPlusPlusCounts(RESNET34, SMP_DECODER, 1);
    expect(expected).toEqual({ trainable: 26_078_609 - 21_284_672, nonTrainable: 3_776 });
    const model = unetPlusPlusOn(RESNET34, 64, 64);
    expect(paramCounts(model)).toMatchObject(expected);
    model.dispose();
    const small = unetPlusPlusOn(RESNET34.slice(0, 4), 32, 32, { decoderChannels: [64, 32, 16] });
    expect(paramCounts(small)).toMatchObject(smpUnetPlusPlusCounts(RESNET34.slice(0, 4), [64, 32, 16], 1));
    small.dispose();
  });

  it('wires every node as SMP: x_d_l = B(x_d_{l-1}, cat[x_{d+1}_l … x_l_l, F[l+1]]), channels as SMP', () => {
    const model = unetPlusPlusOn(RESNET34, 64, 64);
    const D = 5;
    // F = [f5, f4, f3, f2, f1]; the source of each concatenation input, by layer name.
    const F = (k: number) => `f${D - k}`; // the model inputs f1 … f5
    const out = (d: number, l: number) => `decoder.blocks.x_${d}_${l}.conv2.relu`;
    const expected: Record<string, string[]> = {};
    for (let l = 0; l <= D - 2; l++) {
      for (let d = 0; d <= l; d++) {
        const x = `decoder.blocks.x_${d}_${l}.upsample`;
        const dense = Array.from({ length: l - d }, (_, k) => out(d + 1 + k, l));
        expected[`x_${d}_${l}`] = [x, ...(d === l ? [] : dense), F(l + 1)];
        // the upsampled input: F[l] for the first column, else the node to the left
        const up = model.getLayer(`decoder.blocks.x_${d}_${l}.upsample`).inboundNodes[0]!.inboundLayers[0]!.name;
        expect(up).toBe(d === l ? F(l) : out(d, l - 1));
      }
    }
    for (const [node, inputs] of Object.entries(expected)) {
      const concat = model.getLayer(`decoder.blocks.${node}.concat`);
      expect(concat.inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual(inputs);
    }
    // x_0_4: no skip, input x_0_3; the head on it.
    expect(() => model.getLayer('decoder.blocks.x_0_4.concat')).toThrow();
    expect(model.getLayer('decoder.blocks.x_0_4.upsample').inboundNodes[0]!.inboundLayers[0]!.name).toBe(out(0, 3));
    // conv1 in → out as in SMP (notes §6).
    const conv1 = (n: string) => model.getLayer(`decoder.blocks.${n}.conv1.0`).getWeights()[0]!.shape.slice(2);
    expect(
      ['x_0_0', 'x_1_1', 'x_2_2', 'x_3_3', 'x_0_1', 'x_1_2', 'x_2_3', 'x_0_2', 'x_1_3', 'x_0_3', 'x_0_4'].map(conv1),
    ).toEqual([[768, 256], [384, 128], [192, 64], [128, 64], [512, 128], [256, 64], [192, 64], [320, 64], [256, 64], [320, 32], [32, 16]]);
    expect(model.outputs[0]!.shape).toEqual([null, 64, 64, 1]);
    model.dispose();
  });

  it('deep supervision: heads on the stride-2 nodes, upsampled ×2, final first; pruning follows the metadata', () => {
    const channels = [3, 4, 6, 8, 10];
    const model = unetPlusPlusOn(channels, 32, 32, { deepSupervision: true, decoderChannels: [8, 6, 5, 2], numClasses: 2 });
    expect(model.outputNames).toEqual([
      'segmentation_head.0',
      'deep_supervision.3.activation',
      'deep_supervision.2.activation',
      'deep_supervision.1.activation',
    ]);
    expect(model.outputs.map((t) => t.shape)).toEqual(Array.from({ length: 4 }, () => [null, 32, 32, 2]));
    // level j's head sits on x_{D-1-j}_{D-2}: the paper's X^{0,j}
    for (const [j, node] of [[3, 'x_0_2'], [2, 'x_1_2'], [1, 'x_2_2']] as const) {
      const head = model.getLayer(`deep_supervision.${j}.0`);
      expect(head.inboundNodes[0]!.inboundLayers[0]!.name).toBe(`decoder.blocks.${node}.conv2.relu`);
      // x_0_2 has decoderChannels[2] = 5 channels, x_1_2 and x_2_2 skip[2] = c(f1) = 4
      expect(head.getWeights()[0]!.shape).toEqual([3, 3, j === 3 ? 5 : 4, 2]);
    }
    expect(modelInfo(model)!.outputs.map((o) => o.role)).toEqual(['segmentation', 'deep-supervision', 'deep-supervision', 'deep-supervision']);
    const xs = featuresFor(model, featureSizes(32, 32, 4) as [number, number][], 5);
    const full = model.predict(xs) as tf.Tensor[];
    for (const level of [1, 2, 3, 4]) {
      const pruned = pruneUNetPlusPlus(model, level);
      expect(pruned.outputNames).toEqual([model.outputNames[4 - level]!]);
      expect(modelInfo(pruned)!.prunedLevel).toBe(level);
      // Only the features a level needs: L1 uses f1 and f2 (x_2_2 = B(f2, f1)); f0 (the image) feeds nothing.
      const used = pruned.inputs.map((t) => t.sourceLayer.name);
      expect(used).toEqual(['f1', 'f2', 'f3', 'f4'].slice(0, Math.min(level + 1, 4)));
      const y = pruned.predict(used.map((_, i) => xs[i]!)) as tf.Tensor;
      expect(maxAbsDiff(y, full[4 - level]!)).toBe(0);
      y.dispose();
      pruned.dispose();
    }
    tf.dispose([...full, ...xs]);
    model.dispose();
  });

  it('rejects the center block (SMP’s UnetPlusPlus never applies it) and too few decoder channels', () => {
    expect(() => unetPlusPlusOn(VGG16_BN, 64, 64, { decoderCenterBlock: true })).toThrow(/decoderCenterBlock does not apply/);
    const { inputs, pyramid } = handBuilt(RESNET34, 64, 64);
    const dec = { ...resolveSmpDecoderOptions('unet++', {}, 5), decoderChannels: [8, 4] };
    expect(() =>
      smpUnetPlusPlusModel(inputs, desc('unet++', pyramid), { ...dec, numClasses: 1, finalActivation: 'linear', deepSupervision: false }),
    ).toThrow(/encoder depth is 5 but decoderChannels has 2 entries/);
  });

  it('round-trips through save/load', async () => {
    const model = unetPlusPlusOn([3, 4, 6, 8], 16, 16, { deepSupervision: true, decoderChannels: [6, 4, 2], decoderInterpolation: 'bilinear' });
    randomiseBatchNorm(model);
    const loaded = await roundTrip(model);
    const xs = featuresFor(model, featureSizes(16, 16, 3) as [number, number][], 2);
    const [a, b] = [model.predict(xs) as tf.Tensor[], loaded.predict(xs) as tf.Tensor[]];
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(loaded.outputNames).toEqual(model.outputNames);
    tf.dispose([...a, ...b, ...xs]);
    model.dispose();
    loaded.dispose();
  });
});

describe('UNet 3+ on an encoder pyramid (f1 … f_D; f0 left out)', () => {
  const base = { batchNorm: true, activation: 'relu', dropout: 0, kernelInitializer: 'heNormal', firstFeature: 1 as const };

  it('stage d at stride 2^d fuses f1 … f_D; every head reaches full resolution; counts by formula', () => {
    const channels = [3, 8, 12, 16, 20]; // f0 = the image
    const { inputs, pyramid } = handBuilt(channels, 32, 32);
    const cat = 4;
    const model = unet3PlusModel(inputs.slice(1), desc('unet3+', pyramid), {
      ...base,
      catChannels: cat,
      deepSupervision: true,
      cgm: true,
      numClasses: 1,
      finalActivation: 'sigmoid',
    });
    expect(model.outputNames).toEqual(['d1', 'd2', 'd3', 'd4', 'cls']);
    expect(model.outputs.map((t) => t.shape)).toEqual([...Array.from({ length: 4 }, () => [null, 32, 32, 1]), [null, 2]]);
    // f0 (the image) feeds nothing; stage d (n = 4 sources) at stride 2^d.
    expect(model.getLayer('dec1_fuse_act1').outputShape).toEqual([null, 16, 16, 4 * cat]);
    expect(model.getLayer('dec3_fuse_act1').outputShape).toEqual([null, 4, 4, 4 * cat]);
    expect(model.getLayer('dec1_concat').inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual([
      'dec1_enc1_act1',
      'dec1_dec2_act1',
      'dec1_dec3_act1',
      'dec1_dec4_act1',
    ]);
    expect(model.getLayer('dec2_enc1_pool').inboundNodes[0]!.inboundLayers[0]!.name).toBe('f1');
    expect(model.getLayer('d1_up').getConfig().size).toEqual([2, 2]);
    expect(model.getLayer('d4_up').getConfig().size).toEqual([16, 16]);
    expect(model.getLayer('cls_conv').inboundNodes[0]!.inboundLayers[0]!.name).toBe('cls_dropout');
    expect(model.getLayer('cls_dropout').inboundNodes[0]!.inboundLayers[0]!.name).toBe('f4');
    // Count: per stage 4 units (conv3×3 → cat, BN) + fuse; heads; CGM.
    const convB = (cin: number, cout: number, k = 3) => k * k * cin * cout + cout;
    const f = channels.slice(1);
    const n = f.length;
    let trainable = 0;
    let bn = 0;
    for (let d = n - 1; d >= 1; d--) {
      for (let s = 1; s <= n; s++) {
        trainable += convB(s <= d || s === n ? f[s - 1]! : n * cat, cat);
        bn += cat;
      }
      trainable += convB(n * cat, n * cat);
      bn += n * cat;
    }
    trainable += 3 * convB(n * cat, 1) + convB(f[n - 1]!, 1) + convB(f[n - 1]!, 2, 1) + 2 * bn;
    expect(paramCounts(model)).toEqual({ total: trainable + 2 * bn, trainable, nonTrainable: 2 * bn });
    expect(modelInfo(model)!.outputs.map((o) => o.role)).toEqual([
      'segmentation',
      'deep-supervision',
      'deep-supervision',
      'deep-supervision',
      'classification',
    ]);
    const xs = featuresFor(model, featureSizes(32, 32, 4) as [number, number][]);
    const ys = model.predict(xs) as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual([[2, 32, 32, 1], [2, 32, 32, 1], [2, 32, 32, 1], [2, 32, 32, 1], [2, 2]]);
    tf.dispose([...ys, ...xs]);
    model.dispose();
  });
});

describe('training on wasm', () => {
  it('SMP Unet (odd sizes, bilinear) and Unet++ (deep supervision) take training steps without leaking', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    try {
      const models = [
        unetOn([3, 4, 6, 8], 13, 11, { decoderChannels: [6, 4, 2], decoderInterpolation: 'bilinear' }),
        unetPlusPlusOn([3, 4, 6, 8], 16, 16, { decoderChannels: [6, 4, 2], deepSupervision: true }),
      ];
      for (const model of models) {
        const sizes = featureSizes(model.name.startsWith('unet++') ? 16 : 13, model.name.startsWith('unet++') ? 16 : 11, 3);
        const xs = featuresFor(model, sizes as [number, number][], 4);
        const [h, w] = sizes[0] as [number, number];
        const y = tf.tidy(() => tf.cast(tf.greater(randomImage([2, h, w, 1], 6), 0.5), 'float32'));
        model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
        const counts: number[] = [];
        const losses: number[] = [];
        for (let step = 0; step < 3; step++) {
          const loss = await model.trainOnBatch(xs, model.outputs.map(() => y));
          losses.push(Array.isArray(loss) ? loss[0]! : loss);
          counts.push(tf.memory().numTensors);
        }
        expect(new Set(counts).size).toBe(1);
        expect(losses.every(Number.isFinite)).toBe(true);
        expect(losses[2]!).toBeLessThan(losses[0]!);
        tf.dispose([...xs, y]);
        model.dispose();
      }
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
