/**
 * The input sizes a model accepts, as one rule per model, checked at build time (fixed sizes) and,
 * for variable sizes, at run time by the `InputSizeCheck` layer, with the same message.
 */
import { checkDivisibleInput, type InputShape } from './options.js';
import { checkInteger, isPositiveInt } from '../util/validate.js';

/**
 * - `'unet-valid'`: the classic UNet's valid-convolution size walk ({@link unetValidInputSize});
 * - `'divisible'`: H and W divisible by 2^depth (padded encoder–decoders whose upsampling doubles);
 * - `'output-stride'`: H and W divisible by an encoder's output stride 2^depth (SMP's
 *   `check_input_shape`: decoders on an ImageNet encoder that upsample by exactly 2 per stage);
 * - `'any'`: every size (decoders that resize to their skip's actual size, e.g. SMP's Unet).
 */
export type InputSizeRuleKind = 'unet-valid' | 'divisible' | 'output-stride' | 'any';
/** Every {@link InputSizeRuleKind}, for validating a saved config. */
export const INPUT_SIZE_RULES: readonly InputSizeRuleKind[] = ['unet-valid', 'divisible', 'output-stride', 'any'];

/** The sizes a model takes: `rule` with `depth` poolings / stride-2 stages; `model` names it in messages. */
export interface InputSizeRule {
  /** The architecture, as messages name it (`'unet++'`). */
  model: string;
  rule: InputSizeRuleKind;
  /** Number of 2×2 poolings (stride-2 stages). */
  depth: number;
}

/**
 * Throws the model's build-time message when `height` or `width` breaks `rule` (a `null` size is
 * not checked). Used at build time for fixed sizes and by the `InputSizeCheck` layer at run time.
 */
export function checkInputSize(rule: InputSizeRule, height: number | null, width: number | null): void {
  switch (rule.rule) {
    case 'unet-valid':
      if (height !== null) checkUNetInputSize(rule.model, height, rule.depth, 'height');
      if (width !== null) checkUNetInputSize(rule.model, width, rule.depth, 'width');
      return;
    case 'divisible':
      checkDivisibleInput(rule.model, [height, width, 1] as InputShape, rule.depth);
      return;
    case 'output-stride':
      checkOutputStride(rule.model, [height, width], rule.depth);
      return;
    case 'any':
      return;
  }
}

/**
 * H and W must be divisible by the encoder's output stride 2^depth (segmentation_models.pytorch's
 * `check_input_shape`, which its UnetPlusPlus keeps): the decoder upsamples by exactly 2 per stage.
 */
function checkOutputStride(model: string, sizes: [number | null, number | null], depth: number): void {
  const k = 2 ** depth;
  (['height', 'width'] as const).forEach((axis, i) => {
    const size = sizes[i];
    if (size === null || size === undefined || size % k === 0) return;
    const below = Math.floor(size / k) * k;
    const nearest = below > 0 ? `${below} or ${below + k}` : `${k}`;
    throw new Error(
      `${model}: input ${axis} ${size} is not divisible by the encoder's output stride 2^${depth} = ${k} ` +
        `(encoderDepth ${depth}; every decoder stage upsamples by exactly 2); nearest valid sizes: ${nearest}. ` +
        "'unet' on an encoder takes any size",
    );
  });
}

/** Size after each stage, or the reason the size is impossible. */
function traceUNetSize(size: number, depth: number): { output: number } | { error: string } {
  if (!isPositiveInt(size)) return { error: `size must be a positive integer, got ${size}` };
  if (!isPositiveInt(depth)) return { error: `depth must be an integer >= 1, got ${depth}` };
  let s = size;
  for (let level = 0; level < depth; level++) {
    s -= 4;
    if (s <= 0) return { error: `level ${level} has nothing left after its two valid 3x3 convolutions` };
    if (s % 2 !== 0) return { error: `level ${level} feeds an odd size ${s} to a 2x2 max-pooling` };
    s /= 2;
  }
  s -= 4;
  if (s <= 0) return { error: 'the bottleneck has nothing left after its two valid 3x3 convolutions' };
  for (let level = depth - 1; level >= 0; level--) {
    s = 2 * s - 4;
    if (s <= 0) return { error: `decoder level ${level} has nothing left after its valid convolutions` };
  }
  return { output: s };
}

/**
 * Output size of the classic (valid) UNet for an input of `inputSize` pixels with `depth` 2×2
 * poolings (`filters.length − 1`) and two valid 3×3 convolutions per level: 572 → 388 at depth 4.
 * Throws, naming the nearest valid sizes, when the size cannot be taken.
 */
export function unetOutputSize(inputSize: number, depth = 4): number {
  const r = traceUNetSize(inputSize, depth);
  if ('error' in r) throw new Error(invalidSizeMessage(inputSize, depth, r.error));
  return r.output;
}

/** The smallest input size ≥ `size` that the classic UNet of this depth accepts (570 → 572 at depth 4). */
export function unetValidInputSize(size: number, depth = 4): number {
  if (!Number.isFinite(size)) throw new Error(`unetValidInputSize: size must be a finite number, got ${size}`);
  checkInteger('unetValidInputSize', 'depth', depth);
  for (let s = Math.max(1, Math.ceil(size)); ; s++) {
    if ('output' in traceUNetSize(s, depth)) return s;
  }
}

/** The largest valid input size ≤ `size`, or null when there is none. */
function largestValidBelow(size: number, depth: number): number | null {
  for (let s = Math.floor(size); s > 0; s--) {
    if ('output' in traceUNetSize(s, depth)) return s;
  }
  return null;
}

function invalidSizeMessage(size: number, depth: number, reason: string): string {
  const above = unetValidInputSize(size, depth);
  const below = largestValidBelow(size, depth);
  const nearest = below === null ? `${above}` : `${below} or ${above}`;
  return (
    `classic UNet (depth ${depth}) cannot take input size ${size}: ${reason}. ` +
    `Nearest valid sizes: ${nearest} (see unetValidInputSize), or use 'unet-padded'`
  );
}

/** Throws `<model>: input <axis> — <why, nearest valid sizes>` when the classic UNet cannot take `size`. */
export function checkUNetInputSize(model: string, size: number, depth: number, axis: 'height' | 'width'): void {
  const r = traceUNetSize(size, depth);
  if ('error' in r) throw new Error(`${model}: input ${axis} — ${invalidSizeMessage(size, depth, r.error)}`);
}
