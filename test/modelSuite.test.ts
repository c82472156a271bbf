/**
 * The shared model suite, in the manner of segmentation_models.pytorch's BaseModelTester: every
 * registered architecture (`listModels()`) on the plain encoder and on every ImageNet encoder
 * (`listEncoders()`) passes the same checks, so a new architecture or encoder gets all of them by
 * registering (and fails, saying what to add, until it has its entries below):
 *
 * - build through `createModel` and what `modelInfo` says (architecture, encoder, depth, outputs);
 * - exact trainable / non-trainable parameter counts against a table whose every row is checked
 *   against independent formulas (test/countFormulas.ts) and PyTorch's counts (counts.json);
 * - the shape and order of every output, final first (deep supervision, the CGM's `cls` last),
 *   also of the other variants;
 * - one leak-free training step on wasm (on the smallest configurations, see TRAINED);
 * - a save/load round trip (tf.io memory handler) with identical weights and predictions;
 * - build-time size errors naming the nearest valid sizes (or, for SMP's Unet, any size), and a
 *   variable-size (`null`) model: outputs at the sizes it takes, the same error at call time.
 *
 * It stays cheap: one small model per combination (depth 3, a few channels, 16×24 inputs) is built
 * once and shared by the checks. Numerical equivalence with segmentation_models.pytorch is in
 * smpModels.test.ts; the default (full-size) counts in counts.test.ts, encoderModels.test.ts,
 * unetPlusPlus.test.ts and unet3plus.test.ts; architecture-specific behaviour (pruning, the CGM
 * gate, options) in each architecture's tests.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createModel,
  createSegmentationDataset,
  initBackend,
  listEncoders,
  listModels,
  modelInfo,
  paramCounts,
  stateDictMapping,
  syntheticCells,
  train,
} from '../src/node.js';
import {
  type Counts,
  encoderUNet3PlusDecoderCounts,
  smpUnetDecoderCounts,
  smpUnetPlusPlusDecoderCounts,
  unet3PlusCounts,
  unetCounts,
  unetPlusPlusCounts,
} from './countFormulas.js';
import { expectSamePredictions, maxAbsDiff, randomImage, roundTrip } from './helpers.js';
import { errorOf } from './inputSizeCases.js';
import { countsFile } from './smpFixtures.js';

// One XNNPACK thread: the models are tiny, and test files already run side by side on CI's 2 cores
// (threads cost about a quarter more CPU time here with nothing gained).
beforeAll(async () => {
  expect(await initBackend('wasm', { threads: 1 })).toBe('wasm');
});

const PLAIN = 'plain';
const ENCODERS = [PLAIN, ...listEncoders()];
const COMBINATIONS: [string, string][] = listModels().flatMap((a) => ENCODERS.map((e): [string, string] => [a, e]));

// ---------------------------------------------------------------------------------------------
// The small configurations
// ---------------------------------------------------------------------------------------------

const DEPTH = 3;
const CLASSES = 2;
/** The plain encoder: 4 filter levels = 3 poolings, 1 input channel. */
const PLAIN_FILTERS = [4, 8, 16, 32];
const PLAIN_OPTIONS = { filters: PLAIN_FILTERS, numClasses: CLASSES };
/** ImageNet encoders: depth 3, RGB. */
const ENCODER_OPTIONS = { encoderDepth: DEPTH, numClasses: CLASSES };
const SMP_DECODER_CHANNELS = [16, 8, 4];
const CAT_CHANNELS = 8;

type HW = [number, number];

/** What an architecture does with input sizes (at depth 3). */
interface SizeRule {
  /** Input height, width of the shared model and its output height, width. */
  main: { input: HW; output: HW };
  /** Build-time sizes it cannot take, with the error (after `<architecture>: `). */
  rejects: [HW, RegExp][];
  /** A size no other rule takes, which it must build and predict at (SMP's Unet: any size). */
  accepts?: HW;
  /** A `[null, null, C]` model of it predicts at this size, giving this output size. */
  variable: { input: HW; output: HW };
}

/**
 * The papers' classic UNet (valid convolutions): the walk of `unetValidInputSize` at depth 3 takes
 * sizes 8k + 4 from 92 (92 → 4, 100 → 12, 108 → 20 output pixels).
 */
const CLASSIC: SizeRule = {
  main: { input: [100, 108], output: [12, 20] },
  rejects: [
    [[101, 108], /input height — classic UNet \(depth 3\) cannot take input size 101: .*Nearest valid sizes: 100 or 108 /],
    [[100, 104], /input width — classic UNet \(depth 3\) cannot take input size 104: .*Nearest valid sizes: 100 or 108 /],
  ],
  variable: { input: [92, 100], output: [4, 12] },
};
/** Every stage pools or upsamples by exactly 2: H and W divisible by 2^3 = 8. */
const DIVISIBLE: SizeRule = {
  main: { input: [16, 24], output: [16, 24] },
  rejects: [
    [[20, 24], /input height 20 is not divisible by .*2\^3 = 8\b.*nearest valid sizes: 16 or 24/],
    [[16, 28], /input width 28 is not divisible by .*2\^3 = 8\b.*nearest valid sizes: 24 or 32/],
  ],
  variable: { input: [24, 32], output: [24, 32] },
};
/** SMP's Unet resizes every decoder stage to its skip's actual size: any H × W. */
const ANY: SizeRule = {
  main: { input: [16, 24], output: [16, 24] },
  rejects: [],
  accepts: [19, 13],
  variable: { input: [21, 27], output: [21, 27] },
};

interface Variant {
  /** Its suffix in the count tables (`''` for the plain head only). */
  label: string;
  options: Record<string, unknown>;
  /** Output names, final first: on the plain encoder, on an ImageNet encoder (depth 3). */
  outputs: { plain: string[]; encoder: string[] };
}

interface ArchitectureCase {
  /** Options of the small model besides the shared ones: on the plain encoder, on an ImageNet encoder. */
  options: { plain: Record<string, unknown>; encoder: Record<string, unknown> };
  /** `variants[0]` is the shared model, the richest one (every check runs on it); the others are built for outputs and counts. */
  variants: Variant[];
  sizes: { plain: SizeRule; encoder: SizeRule };
}

const UNET_VARIANTS: Variant[] = [{ label: '', options: {}, outputs: { plain: ['head'], encoder: ['segmentation_head.0'] } }];

const ARCHITECTURES: Record<string, ArchitectureCase> = {
  unet: {
    options: { plain: {}, encoder: { decoderChannels: SMP_DECODER_CHANNELS } },
    variants: UNET_VARIANTS,
    sizes: { plain: CLASSIC, encoder: ANY },
  },
  'unet-padded': {
    options: { plain: {}, encoder: { decoderChannels: SMP_DECODER_CHANNELS } },
    variants: UNET_VARIANTS,
    sizes: { plain: DIVISIBLE, encoder: ANY },
  },
  'unet++': {
    options: { plain: {}, encoder: { decoderChannels: SMP_DECODER_CHANNELS } },
    variants: [
      {
        label: ' deep supervision',
        options: { deepSupervision: true },
        outputs: {
          plain: ['head_0_3', 'head_0_2', 'head_0_1'],
          encoder: ['segmentation_head.0', 'deep_supervision.2.activation', 'deep_supervision.1.activation'],
        },
      },
      { label: '', options: {}, outputs: { plain: ['head_0_3'], encoder: ['segmentation_head.0'] } },
    ],
    sizes: { plain: DIVISIBLE, encoder: DIVISIBLE },
  },
  'unet3+': {
    options: { plain: {}, encoder: { catChannels: CAT_CHANNELS } },
    variants: [
      { label: ' cgm', options: { cgm: true }, outputs: { plain: ['d1', 'd2', 'd3', 'd4', 'cls'], encoder: ['d1', 'd2', 'd3', 'cls'] } },
      { label: '', options: {}, outputs: { plain: ['d1'], encoder: ['d1'] } },
      {
        label: ' deep supervision',
        options: { deepSupervision: true },
        outputs: { plain: ['d1', 'd2', 'd3', 'd4'], encoder: ['d1', 'd2', 'd3'] },
      },
    ],
    sizes: { plain: DIVISIBLE, encoder: DIVISIBLE },
  },
};

/** Everything the suite needs about one architecture × encoder. */
interface Combination {
  architecture: string;
  encoder: string;
  arch: ArchitectureCase;
  sizes: SizeRule;
  channels: number;
  /** Options of the shared model (`variants[0]`) at size `size`. */
  options(variant?: Variant, size?: [number | null, number | null]): Record<string, unknown>;
}

function combination(architecture: string, encoder: string): Combination {
  const arch = ARCHITECTURES[architecture];
  if (arch === undefined) {
    throw new Error(
      `the model suite has no entry for architecture '${architecture}': add its small options, variants (outputs) and size rule to ARCHITECTURES, and its rows to the count tables`,
    );
  }
  const plain = encoder === PLAIN;
  const sizes = plain ? arch.sizes.plain : arch.sizes.encoder;
  const channels = plain ? 1 : 3;
  return {
    architecture,
    encoder,
    arch,
    sizes,
    channels,
    options: (variant = arch.variants[0]!, size = sizes.main.input) => ({
      ...(plain ? PLAIN_OPTIONS : { ...ENCODER_OPTIONS, encoder }),
      ...(plain ? arch.options.plain : arch.options.encoder),
      ...variant.options,
      inputShape: [...size, channels],
    }),
  };
}

/** Role of output `i` named `name`: the final map first, the CGM's `cls`, deep supervision otherwise. */
function roleOf(i: number, name: string): string {
  if (i === 0) return 'segmentation';
  return name === 'cls' ? 'classification' : 'deep-supervision';
}

/** Expected `[name, shape]` of every output of a variant with output size `hw` (null: variable). */
function expectedOutputs(c: Combination, variant: Variant, hw: [number | null, number | null]): [string, (number | null)[]][] {
  const names = c.encoder === PLAIN ? variant.outputs.plain : variant.outputs.encoder;
  return names.map((name, i) => [name, roleOf(i, name) === 'classification' ? [null, 2] : [null, ...hw, CLASSES]]);
}

// ---------------------------------------------------------------------------------------------
// Parameter counts
// ---------------------------------------------------------------------------------------------

type Row = [trainable: number, nonTrainable: number];

/**
 * [trainable, non-trainable] of the small models, by `<architecture> <encoder><variant label>`.
 * Each row equals its derivation in `deriveSmall` (checked below), written independently of the
 * builders:
 * - plain encoder (filters [4, 8, 16, 32], 1 input channel, 2 classes, BatchNorm, transpose
 *   up-convs): `unetCounts` (unet, unet-padded: the same weights), `unetPlusPlusCounts` (the
 *   formula of unetPlusPlus.test.ts; heads: 3 with deep supervision, else 1), `unet3PlusCounts`
 *   (the paper's count of unet3plus.test.ts, catChannels 4) in test/countFormulas.ts;
 * - ImageNet encoders (depth 3, 3 input channels): the encoder's used parameters and BN statistics
 *   from test/fixtures/smp/counts.json (written by scripts/smp_reference.py from PyTorch: the
 *   parameters and BatchNorm buffers of SMP's own modules that the forward pass uses), plus the
 *   decoder and head: SMP's
 *   UnetDecoder / UnetPlusPlusDecoder channel plan (`smpUnetDecoderCounts`,
 *   `smpUnetPlusPlusDecoderCounts`, decoder channels [16, 8, 4]; SMP's center block for VGG in
 *   unet; unet++'s deep-supervision heads 3×3 convs on the stride-2 nodes), whose result equals
 *   PyTorch's count for every model of counts.json (checked below); UNet 3+ by
 *   `encoderUNet3PlusDecoderCounts` (catChannels 8).
 */
const SMALL_COUNTS: Record<string, Row> = {
  'unet plain': [30_650, 352],
  'unet resnet18': [719_978, 2_032],
  'unet resnet34': [1_384_810, 3_312],
  'unet resnet50': [1_564_778, 10_224],
  'unet mobilenet_v2': [69_354, 3_632],
  'unet vgg16': [12_480_362, 2_160],
  'unet vgg16_bn': [12_485_738, 7_536],
  // unet-padded has the weights of unet; on an encoder both are SMP's Unet.
  'unet-padded plain': [30_650, 352],
  'unet-padded resnet18': [719_978, 2_032],
  'unet-padded resnet34': [1_384_810, 3_312],
  'unet-padded resnet50': [1_564_778, 10_224],
  'unet-padded mobilenet_v2': [69_354, 3_632],
  'unet-padded vgg16': [12_480_362, 2_160],
  'unet-padded vgg16_bn': [12_485_738, 7_536],
  'unet++ plain deep supervision': [35_150, 416],
  'unet++ resnet18 deep supervision': [836_734, 2_288],
  'unet++ resnet34 deep supervision': [1_501_566, 3_568],
  'unet++ resnet50 deep supervision': [1_792_126, 10_480],
  'unet++ mobilenet_v2 deep supervision': [79_070, 3_696],
  'unet++ vgg16 deep supervision': [8_361_726, 624],
  'unet++ vgg16_bn deep supervision': [8_367_102, 6_000],
  'unet++ plain': [35_130, 416],
  'unet++ resnet18': [835_434, 2_288],
  'unet++ resnet34': [1_500_266, 3_568],
  'unet++ resnet50': [1_790_826, 10_480],
  'unet++ mobilenet_v2': [78_634, 3_696],
  'unet++ vgg16': [8_359_274, 624],
  'unet++ vgg16_bn': [8_364_650, 6_000],
  'unet3+ plain cgm': [34_166, 432],
  'unet3+ resnet18 cgm': [731_144, 2_112],
  'unet3+ resnet34 cgm': [1_395_976, 3_392],
  'unet3+ resnet50 cgm': [1_569_800, 10_304],
  'unet3+ mobilenet_v2 cgm': [78_024, 3_712],
  'unet3+ vgg16 cgm': [7_769_352, 192],
  'unet3+ vgg16_bn cgm': [7_774_728, 5_568],
  'unet3+ plain': [32_942, 432],
  'unet3+ resnet18': [728_146, 2_112],
  'unet3+ resnet34': [1_392_978, 3_392],
  'unet3+ resnet50': [1_559_122, 10_304],
  'unet3+ mobilenet_v2': [76_946, 3_712],
  'unet3+ vgg16': [7_758_674, 192],
  'unet3+ vgg16_bn': [7_764_050, 5_568],
  'unet3+ plain deep supervision': [34_100, 432],
  'unet3+ resnet18 deep supervision': [730_886, 2_112],
  'unet3+ resnet34 deep supervision': [1_395_718, 3_392],
  'unet3+ resnet50 deep supervision': [1_568_774, 10_304],
  'unet3+ mobilenet_v2 deep supervision': [77_958, 3_712],
  'unet3+ vgg16 deep supervision': [7_768_326, 192],
  'unet3+ vgg16_bn deep supervision': [7_773_702, 5_568],
};

/** The SMALL_COUNTS row of a combination and variant as `paramCounts` gives it. */
function expectedCounts(architecture: string, encoder: string, variant: Variant): { total: number; trainable: number; nonTrainable: number } {
  const key = `${architecture} ${encoder}${variant.label}`;
  const r = SMALL_COUNTS[key];
  if (r === undefined) throw new Error(`no row '${key}' in SMALL_COUNTS: derive it as its comment says (deriveSmall) and add it`);
  return { total: r[0] + r[1], trainable: r[0], nonTrainable: r[1] };
}

const encoderCounts = (encoder: string, depth: number) =>
  countsFile().encoders.find((r) => r.encoder === encoder && r.encoder_depth === depth && r.in_channels === 3)!;

function encoderPlus(encoder: string, depth: number, decoder: (pyramid: number[]) => Counts): Row {
  const enc = encoderCounts(encoder, depth);
  const d = decoder(enc.out_channels);
  return [enc.used_params + d.trainable, enc.used_bn_buffers + d.nonTrainable];
}

const asRow = (c: Counts): Row => [c.trainable, c.nonTrainable];

/** The derivation of a SMALL_COUNTS row (see there). */
function deriveSmall(architecture: string, encoder: string, options: Record<string, unknown>): Row {
  const ds = options.deepSupervision === true;
  const cgm = options.cgm === true;
  const plain = encoder === PLAIN;
  switch (architecture) {
    case 'unet':
    case 'unet-padded':
      return plain
        ? asRow(unetCounts(1, PLAIN_FILTERS, CLASSES, true))
        : encoderPlus(encoder, DEPTH, (p) => smpUnetDecoderCounts(p, SMP_DECODER_CHANNELS, CLASSES, { centerBlock: encoder.startsWith('vgg') }));
    case 'unet++':
      return plain
        ? asRow(unetPlusPlusCounts(PLAIN_FILTERS, 1, CLASSES, true, true, ds ? DEPTH : 1))
        : encoderPlus(encoder, DEPTH, (p) => smpUnetPlusPlusDecoderCounts(p, SMP_DECODER_CHANNELS, CLASSES, { deepSupervision: ds }));
    case 'unet3+':
      return plain
        ? asRow(unet3PlusCounts(1, PLAIN_FILTERS, CLASSES, { ds, cgm }))
        : encoderPlus(encoder, DEPTH, (p) => encoderUNet3PlusDecoderCounts(p, CAT_CHANNELS, CLASSES, { deepSupervision: ds, cgm }));
    default:
      throw new Error(`no count formula for '${architecture}': write one in test/countFormulas.ts and derive its rows here`);
  }
}

describe('the count tables', () => {
  it('every row equals its derivation, and the table covers exactly the registered combinations and variants', () => {
    const smallKeys: string[] = [];
    for (const [architecture, encoder] of COMBINATIONS) {
      for (const variant of combination(architecture, encoder).arch.variants) {
        const key = `${architecture} ${encoder}${variant.label}`;
        smallKeys.push(key);
        const { trainable, nonTrainable } = expectedCounts(architecture, encoder, variant);
        expect([trainable, nonTrainable], key).toEqual(deriveSmall(architecture, encoder, variant.options));
      }
    }
    expect(Object.keys(SMALL_COUNTS).sort()).toEqual(smallKeys.sort());
  });

  // The SMP decoder formulas against PyTorch: every model of counts.json (Unet and UnetPlusPlus on
  // every encoder, depth 3 … 5, 1 / 3 / 4 input channels) is its encoder plus the formula. SMP's
  // parameters() include every module it builds (the whole backbone, UnetPlusPlus's VGG center
  // block); the used counts only what the forward pass uses.
  it('smpUnetDecoderCounts and smpUnetPlusPlusDecoderCounts reproduce every SMP model of counts.json', () => {
    const { models, encoders } = countsFile();
    expect(models.length).toBeGreaterThan(100);
    for (const m of models) {
      const enc = encoders.find((e) => e.encoder === m.encoder && e.encoder_depth === m.encoder_depth && e.in_channels === m.in_channels)!;
      const vgg = m.encoder.startsWith('vgg');
      const formula = m.model === 'Unet' ? smpUnetDecoderCounts : smpUnetPlusPlusDecoderCounts;
      const all = formula(enc.out_channels, m.decoder_channels, m.classes, { centerBlock: vgg });
      const used = formula(enc.out_channels, m.decoder_channels, m.classes, { centerBlock: vgg && m.model === 'Unet' });
      const what = `${m.model} ${m.encoder} depth ${m.encoder_depth} in ${m.in_channels} ${JSON.stringify(m.decoder_channels)}`;
      expect([m.params, m.bn_buffers], what).toEqual([enc.params + all.trainable, enc.bn_buffers + all.nonTrainable]);
      expect([m.used_params, m.used_bn_buffers], what).toEqual([enc.used_params + used.trainable, enc.used_bn_buffers + used.nonTrainable]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Every architecture × encoder
// ---------------------------------------------------------------------------------------------

/**
 * The training step runs on the smallest configurations only: the plain encoder and the ImageNet
 * encoder with the fewest parameters at depth 3 (counts.json), so every decoder trains once on a
 * conv-block encoder and once on an ImageNet one. The other encoders train in encodersTraining and
 * encoderModelsTraining.
 */
const SMALLEST_ENCODER = listEncoders().reduce((a, b) => (encoderCounts(b, DEPTH).used_params < encoderCounts(a, DEPTH).used_params ? b : a));
const TRAINED = new Set([PLAIN, SMALLEST_ENCODER]);

/**
 * A model built for variable-size input (`[null, null, C]`) has outputs of variable size and
 * predicts every output at a size the architecture takes; at a size it cannot take
 * (`c.sizes.rejects`) its prediction throws exactly the message of building it on that size,
 * leaking nothing.
 */
function checkVariableSize(c: Combination): void {
  const variant = c.arch.variants[0]!;
  const model = createModel(c.architecture, c.options(variant, [null, null]));
  try {
    expect(model.outputs.map((o, i) => [model.outputNames[i], o.shape])).toEqual(expectedOutputs(c, variant, [null, null]));
    const { input, output } = c.sizes.variable;
    const x = randomImage([1, ...input, c.channels], 5);
    const ys = [model.predict(x)].flat() as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual(expectedOutputs(c, variant, output).map(([, shape]) => [1, ...shape.slice(1)]));
    tf.dispose([x, ...ys]);
    const before = tf.memory().numTensors;
    for (const [hw] of c.sizes.rejects) {
      const message = errorOf(() => createModel(c.architecture, c.options(variant, hw))).message;
      const bad = tf.zeros([1, ...hw, c.channels]);
      expect(errorOf(() => model.predict(bad)).message, `${hw}`).toBe(message);
      bad.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  } finally {
    model.dispose();
  }
}

describe.each(COMBINATIONS)('%s on %s', (architecture, encoder) => {
  let c: Combination;
  let model: tf.LayersModel;

  beforeAll(() => {
    c = combination(architecture, encoder);
    model = createModel(architecture, c.options());
  });

  afterAll(() => {
    model?.dispose();
  });

  it('builds through createModel; modelInfo gives the architecture, encoder, depth and output roles', () => {
    const names = encoder === PLAIN ? c.arch.variants[0]!.outputs.plain : c.arch.variants[0]!.outputs.encoder;
    expect(modelInfo(model)).toMatchObject({
      architecture,
      encoder,
      encoderDepth: DEPTH,
      outputs: names.map((name, i) => ({ name, role: roleOf(i, name) })),
    });
    expect(modelInfo(model)!.encoderFeatures).toHaveLength(DEPTH + 1);
    expect(model.inputs[0]!.shape).toEqual([null, ...c.sizes.main.input, c.channels]);
  });

  it('parameter counts: trainable and non-trainable as the table', () => {
    expect(paramCounts(model)).toEqual(expectedCounts(architecture, encoder, c.arch.variants[0]!));
  });

  it('output shapes: every output, final first; the other variants too (outputs and counts)', () => {
    const [main, ...others] = c.arch.variants;
    const shapes = (m: tf.LayersModel) => m.outputs.map((o, i) => [m.outputNames[i], o.shape]);
    expect(shapes(model)).toEqual(expectedOutputs(c, main!, c.sizes.main.output));
    const x = randomImage([2, ...c.sizes.main.input, c.channels], 3);
    const ys = [model.predict(x)].flat() as tf.Tensor[];
    expect(ys.map((y) => y.shape)).toEqual(expectedOutputs(c, main!, c.sizes.main.output).map(([, shape]) => [2, ...shape.slice(1)]));
    tf.dispose([x, ...ys]);
    for (const variant of others) {
      const other = createModel(architecture, c.options(variant));
      expect(shapes(other)).toEqual(expectedOutputs(c, variant, c.sizes.main.output));
      expect(modelInfo(other)!.outputs.map((o) => o.role)).toEqual(other.outputNames.map((n, i) => roleOf(i, n)));
      expect(paramCounts(other)).toEqual(expectedCounts(architecture, encoder, variant));
      other.dispose();
    }
  });

  if (TRAINED.has(encoder)) {
    it('one training step on wasm (train(), 2 images): finite loss, every weight moves, numTensors back to the baseline after the optimizer is disposed', async () => {
      const [h, w] = c.sizes.main.input;
      const samples = syntheticCells({ count: 2, size: [h, w], channels: c.channels as 1 | 3, seed: 4 });
      const out = c.sizes.main.output;
      const data = createSegmentationDataset(samples, { validationSplit: 0, numClasses: CLASSES, ...(out[0] !== h ? { outputSize: out } : {}) });
      const before = model.weights.map((v) => v.read().dataSync().slice());
      const baseline = tf.memory().numTensors;
      const optimizer = tf.train.adam(1e-3);
      const result = await train(model, data, { epochs: 1, batchSize: 2, optimizer, verbose: 0 });
      expect(result.history.map((e) => Number.isFinite(e.loss))).toEqual([true]);
      optimizer.dispose();
      expect(tf.memory().numTensors).toBe(baseline);
      // Every weight takes part: kernels and biases by the gradient, BatchNorm statistics by the batch.
      const unchanged = model.weights.filter((v, i) => v.read().dataSync().every((x, k) => x === before[i]![k])).map((v) => v.name);
      expect(unchanged).toEqual([]);
    });
  }

  it('save/load round trip (tf.io memory handler): same metadata, weight names, shapes and values, and identical predictions', async () => {
    // Weight i moves by (i + 1) / 1024: every weight is away from its initial value (BatchNorm
    // statistics and zero biases too) and weights of one shape differ, so a weight the loader
    // dropped, left at its initial value or mixed up with another cannot go unnoticed.
    for (const [i, v] of model.weights.entries()) {
      tf.tidy(() => {
        v.write(tf.add(v.read(), (i + 1) / 1024));
      });
    }
    const loaded = await roundTrip(model);
    try {
      expect(modelInfo(loaded)).toEqual(modelInfo(model));
      expect(loaded.outputNames).toEqual(model.outputNames);
      expect(loaded.weights.map((v) => [v.originalName, v.shape])).toEqual(model.weights.map((v) => [v.originalName, v.shape]));
      expect(loaded.weights.map((v, i) => maxAbsDiff(v.read(), model.weights[i]!.read()))).toEqual(model.weights.map(() => 0));
      expect(stateDictMapping(loaded)).toEqual(stateDictMapping(model));
      const x = randomImage([2, ...c.sizes.main.input, c.channels], 9);
      expectSamePredictions(model, loaded, x);
      x.dispose();
    } finally {
      loaded.dispose();
    }
  });

  it('input sizes: build-time sizes it cannot take throw naming the nearest valid ones (SMP’s Unet takes any)', () => {
    const before = tf.memory().numTensors;
    for (const [hw, message] of c.sizes.rejects) {
      const error = errorOf(() => createModel(architecture, c.options(undefined, hw)));
      expect(error.message, `${hw}`).toMatch(message);
      expect(error.message).toMatch(new RegExp(`^${architecture.replace(/\+/g, '\\+')}: `));
    }
    expect(tf.memory().numTensors).toBe(before);
    if (c.sizes.accepts) {
      const any = createModel(architecture, c.options(undefined, c.sizes.accepts));
      expect(any.outputs[0]!.shape).toEqual([null, ...c.sizes.accepts, CLASSES]);
      const x = randomImage([1, ...c.sizes.accepts, c.channels]);
      const y = [any.predict(x)].flat() as tf.Tensor[];
      expect(y[0]!.shape).toEqual([1, ...c.sizes.accepts, CLASSES]);
      tf.dispose([x, ...y]);
      any.dispose();
    } else {
      expect(c.sizes.rejects.length).toBeGreaterThan(0);
    }
  });

  it('variable-size input ([null, null, C]): outputs at the sizes it takes, the build-time message at the others', () => {
    checkVariableSize(c);
  });
});
