/**
 * Parameter counts written from the architectures' definitions, independently of the builders:
 * every count is a sum over the layers' weight shapes. Keras convention: BatchNorm has 4 weights
 * per channel, γ and β trainable, the moving mean and variance not (PyTorch: 2 parameters and 2
 * buffers).
 */

export interface Counts {
  trainable: number;
  nonTrainable: number;
}

export interface CountsWithTotal extends Counts {
  total: number;
}

/** Parameters of a conv k×k (with bias). */
export const conv = (cin: number, cout: number, k = 3): number => k * k * cin * cout + cout;

function withTotal(trainable: number, nonTrainable: number): CountsWithTotal {
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/**
 * The papers' UNet, classic (valid) or padded: the two have the same weights. Level i of the
 * encoder (i = 0 … L) is two conv 3×3 to f_i; decoder level i = L−1 … 0 is a 2×2 transpose up-conv
 * f_{i+1} → f_i, then two conv 3×3 (2·f_i → f_i, f_i → f_i); the head is a 1×1 conv f_0 → classes.
 * Every conv has a bias; with BN each conv 3×3 is followed by a BatchNorm.
 */
export function unetCounts(cin: number, f: readonly number[], classes: number, bn: boolean): CountsWithTotal {
  const L = f.length - 1;
  let weights = 0;
  let bnChannels = 0;
  let c = cin;
  for (let i = 0; i <= L; i++) {
    weights += conv(c, f[i]!) + conv(f[i]!, f[i]!);
    bnChannels += 2 * f[i]!;
    c = f[i]!;
  }
  for (let i = L - 1; i >= 0; i--) {
    weights += conv(f[i + 1]!, f[i]!, 2) + conv(2 * f[i]!, f[i]!) + conv(f[i]!, f[i]!);
    bnChannels += 2 * f[i]!;
  }
  weights += conv(f[0]!, classes, 1);
  return bn ? withTotal(weights + 2 * bnChannels, 2 * bnChannels) : withTotal(weights, 0);
}

/**
 * UNet++ (the paper's, plain encoder). Node X^{i,j} (j ≥ 1) concatenates j maps of f_i channels
 * with up(X^{i+1,j-1}): f_i channels after a transpose up-conv to f_i (original Keras code:
 * Conv2DTranspose(nb_filter[i], 2, strides 2)), f_{i+1} after a parameter-free bilinear resize
 * (pytorch-nested-unet). Each block: 2 × conv3×3 (+ 4 params per channel with BN, 2 of them
 * non-trainable). Heads: 1×1 conv f_0 → classes.
 */
export function unetPlusPlusCounts(f: readonly number[], cin: number, classes: number, bn: boolean, transpose: boolean, heads: number): CountsWithTotal {
  const L = f.length - 1;
  let trainable = 0;
  let bnChannels = 0;
  const block = (a: number, b: number) => {
    trainable += conv(a, b) + conv(b, b) + (bn ? 2 * 2 * b : 0);
    bnChannels += bn ? 2 * b : 0;
  };
  for (let i = 0; i <= L; i++) block(i === 0 ? cin : f[i - 1]!, f[i]!);
  for (let j = 1; j <= L; j++) {
    for (let i = 0; i + j <= L; i++) {
      if (transpose) trainable += conv(f[i + 1]!, f[i]!, 2);
      block(j * f[i]! + (transpose ? f[i]! : f[i + 1]!), f[i]!);
    }
  }
  trainable += heads * conv(f[0]!, classes, 1);
  return withTotal(trainable, 2 * bnChannels);
}

export interface UNet3PlusCountOptions {
  cat?: number;
  ds?: boolean;
  cgm?: boolean;
  bn?: boolean;
}

/**
 * UNet 3+ (the paper's, plain encoder) from the paper's description (5 kinds of weights): encoder
 * blocks, per-scale 3×3 convs into every decoder stage, fusion convs, heads, CGM. BN: 4 per
 * channel, 2 of them non-trainable.
 */
export function unet3PlusCounts(inC: number, filters: readonly number[], classes: number, opts: UNet3PlusCountOptions = {}): CountsWithTotal {
  const L = filters.length;
  const cat = opts.cat ?? filters[0]!;
  const bn = opts.bn ?? true;
  let weights = 0;
  let bnChannels = 0;
  let cin = inC;
  for (const f of filters) {
    weights += conv(cin, f) + conv(f, f);
    bnChannels += 2 * f;
    cin = f;
  }
  // Channels of every decoder stage's source: encoder maps at s <= d, decoder maps (L·cat) or the
  // bottleneck above.
  for (let d = L - 1; d >= 1; d--) {
    for (let s = 1; s <= L; s++) {
      const ch = s <= d || s === L ? filters[s - 1]! : L * cat;
      weights += conv(ch, cat);
      bnChannels += cat;
    }
    weights += conv(L * cat, L * cat);
    bnChannels += L * cat;
  }
  weights += conv(L * cat, classes); // d1 head
  if (opts.ds || opts.cgm) {
    for (let k = 2; k < L; k++) weights += conv(L * cat, classes);
    weights += conv(filters[L - 1]!, classes); // bottleneck head
  }
  if (opts.cgm) weights += conv(filters[L - 1]!, 2, 1);
  return bn ? withTotal(weights + 2 * bnChannels, 2 * bnChannels) : withTotal(weights, 0);
}

/**
 * UNet 3+'s decoder and heads on an encoder pyramid with channels c_0 … c_D (docs/encoders.md):
 * every unit is conv 3×3 (with bias) → BN (2 trainable + 2 statistics per channel). Stage
 * d = D−1 … 1 has D units to catChannels (input c_s for s ≤ d, the stage s's D·cat for d < s < D,
 * c_D for s = D) and a fuse unit D·cat → D·cat; heads are conv 3×3 to the classes on stage 1 (and
 * every stage and f_D with deep supervision); the CGM is a 1×1 conv f_D → 2.
 */
export function encoderUNet3PlusDecoderCounts(
  c: readonly number[],
  cat: number,
  classes: number,
  o: { deepSupervision?: boolean; cgm?: boolean } = {},
): Counts {
  const D = c.length - 1;
  const counts = { trainable: 0, nonTrainable: 0 };
  const unit = (cin: number, cout: number) => {
    counts.trainable += 9 * cin * cout + cout + 2 * cout;
    counts.nonTrainable += 2 * cout;
  };
  const stage = (s: number) => (s === D ? c[D]! : D * cat);
  for (let d = D - 1; d >= 1; d--) {
    for (let s = 1; s <= D; s++) unit(s <= d ? c[s]! : stage(s), cat);
    unit(D * cat, D * cat);
  }
  const heads = o.deepSupervision || o.cgm ? D : 1;
  for (let k = 1; k <= heads; k++) counts.trainable += 9 * stage(k) * classes + classes;
  if (o.cgm) counts.trainable += c[D]! * 2 + 2;
  return counts;
}

/**
 * segmentation_models.pytorch's Conv2dReLU: conv 3×3, with BatchNorm (no conv bias; γ, β trainable,
 * running mean and variance not) or without (conv bias).
 */
function conv2dReLU(counts: Counts, cin: number, cout: number, batchNorm: boolean): void {
  counts.trainable += 9 * cin * cout + (batchNorm ? 2 * cout : cout);
  if (batchNorm) counts.nonTrainable += 2 * cout;
}

/** SMP's decoder block: Conv2dReLU(in + skip → out) and Conv2dReLU(out → out). */
function smpBlock(counts: Counts, cin: number, skip: number, cout: number, batchNorm: boolean): void {
  conv2dReLU(counts, cin + skip, cout, batchNorm);
  conv2dReLU(counts, cout, cout, batchNorm);
}

/**
 * SMP's channel plan (UnetDecoder and UnetPlusPlusDecoder alike): f0 dropped, the rest reversed
 * (deepest first); block i takes in_channels[i] = [head, d_0 … d_{n−2}][i] and skip_channels[i] =
 * [e_1 … e_{n−1}, 0][i], and gives decoder_channels[i].
 */
function smpChannelPlan(pyramid: readonly number[], decoderChannels: readonly number[]) {
  const encoder = pyramid.slice(1).reverse();
  return {
    head: encoder[0]!,
    inChannels: [encoder[0]!, ...decoderChannels.slice(0, -1)],
    skipChannels: [...encoder.slice(1), 0],
  };
}

/** The channel plan and the counts so far: SMP's center block (two Conv2dReLU head → head) when asked. */
function smpDecoderStart(pyramid: readonly number[], decoderChannels: readonly number[], centerBlock: boolean, bn: boolean) {
  const counts = { trainable: 0, nonTrainable: 0 };
  const plan = smpChannelPlan(pyramid, decoderChannels);
  if (centerBlock) {
    conv2dReLU(counts, plan.head, plan.head, bn);
    conv2dReLU(counts, plan.head, plan.head, bn);
  }
  return { counts, ...plan };
}

export interface SmpDecoderCountOptions {
  batchNorm?: boolean;
  /** Unet: SMP's center block (two Conv2dReLU head → head), which SMP adds for VGG encoders. */
  centerBlock?: boolean;
  /** Unet++ (not in SMP): a conv 3×3 head (with bias) on each stride-2 node x_{D−1−j}_{D−2}, j = D−1 … 1. */
  deepSupervision?: boolean;
}

/**
 * SMP's `Unet` decoder and head on an encoder pyramid with channels `pyramid` (f0 … f_D), from
 * SMP's UnetDecoder: the optional center block, one block per decoder channel, the segmentation
 * head conv 3×3 (bias) decoder_channels[−1] → classes.
 */
export function smpUnetDecoderCounts(pyramid: readonly number[], decoderChannels: readonly number[], classes: number, o: SmpDecoderCountOptions = {}): Counts {
  const bn = o.batchNorm ?? true;
  const { counts, inChannels, skipChannels } = smpDecoderStart(pyramid, decoderChannels, o.centerBlock === true, bn);
  decoderChannels.forEach((d, i) => smpBlock(counts, inChannels[i]!, skipChannels[i]!, d, bn));
  counts.trainable += conv(decoderChannels[decoderChannels.length - 1]!, classes);
  return counts;
}

/**
 * SMP's `UnetPlusPlus` decoder and head, from SMP's UnetPlusPlusDecoder: node x_{d}_{l} (l = 0 …
 * n−2, d = 0 … l) is a block with, for d = 0, in = in_channels[l], skip = (l+1)·skip_channels[l],
 * out = decoder_channels[l]; for d > 0, in = skip_channels[l−1], skip = (l+1−d)·skip_channels[l],
 * out = skip_channels[l]; the last node x_0_{n−1} has in = in_channels[n−1], no skip, out =
 * decoder_channels[n−1]. The center block SMP builds for VGG but never applies is not counted
 * (`centerBlock` adds it, as SMP's parameters() does). Deep supervision: see
 * {@link SmpDecoderCountOptions}.
 */
export function smpUnetPlusPlusDecoderCounts(pyramid: readonly number[], decoderChannels: readonly number[], classes: number, o: SmpDecoderCountOptions = {}): Counts {
  const bn = o.batchNorm ?? true;
  const { counts, inChannels, skipChannels } = smpDecoderStart(pyramid, decoderChannels, o.centerBlock === true, bn);
  const n = decoderChannels.length;
  const nodeChannels = new Map<string, number>();
  for (let l = 0; l < n - 1; l++) {
    for (let d = 0; d <= l; d++) {
      const [cin, skip, cout] =
        d === 0
          ? [inChannels[l]!, skipChannels[l]! * (l + 1), decoderChannels[l]!]
          : [skipChannels[l - 1]!, skipChannels[l]! * (l + 1 - d), skipChannels[l]!];
      smpBlock(counts, cin, skip, cout, bn);
      nodeChannels.set(`${d}_${l}`, cout);
    }
  }
  smpBlock(counts, inChannels[n - 1]!, 0, decoderChannels[n - 1]!, bn);
  counts.trainable += conv(decoderChannels[n - 1]!, classes);
  if (o.deepSupervision) {
    for (let j = n - 1; j >= 1; j--) counts.trainable += conv(nodeChannels.get(`${n - 1 - j}_${n - 2}`)!, classes);
  }
  return counts;
}
