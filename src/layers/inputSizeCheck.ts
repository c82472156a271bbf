import * as tf from '@tensorflow/tfjs';
import { INPUT_SIZE_RULES, checkInputSize, type InputSizeRule, type InputSizeRuleKind } from '../models/inputSize.js';
import { uniqueLayerName } from './naming.js';
import { checkInteger, checkOneOf } from '../util/validate.js';

/** Config of {@link InputSizeCheck}: the rule it checks. */
export interface InputSizeCheckConfig {
  /** The architecture, as the message names it (`'unet++'`). */
  model: string;
  rule: InputSizeRuleKind;
  /** Number of 2×2 poolings (stride-2 stages). */
  depth: number;
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
}

/**
 * The identity on an NHWC image that first checks its height and width against the model's
 * {@link InputSizeRule} and throws the model's build-time message (naming the nearest valid sizes)
 * when they break it, before any convolution sees them. Models with a variable input size
 * (`inputShape [null, null, C]`) have one right after their input; fixed sizes are checked when
 * the model is built (and by tfjs's input-shape check in `predict`).
 */
export class InputSizeCheck extends tf.layers.Layer {
  static className = 'SMTF>InputSizeCheck';
  readonly rule: InputSizeRule;

  constructor(config: InputSizeCheckConfig) {
    super({ ...config, name: config.name ?? uniqueLayerName('input_size_check') });
    const { model, rule, depth } = config;
    if (typeof model !== 'string' || model.length === 0) {
      throw new Error(`InputSizeCheck: model must be a non-empty string, got ${String(model)}`);
    }
    checkOneOf('InputSizeCheck', 'rule', rule, INPUT_SIZE_RULES);
    checkInteger('InputSizeCheck', 'depth', depth, 0);
    this.rule = { model, rule, depth };
  }

  /** Throws the model's message when an `height` × `width` input breaks the rule (`null`: not checked). */
  check(height: number | null, width: number | null): void {
    checkInputSize(this.rule, height, width);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    checkRank(shape);
    this.check(shape[1]!, shape[2]!);
    return shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    checkRank(x.shape);
    this.check(x.shape[1]!, x.shape[2]!);
    return tf.clone(x);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), model: this.rule.model, rule: this.rule.rule, depth: this.rule.depth };
  }
}

function checkRank(shape: tf.Shape): void {
  if (shape.length !== 4) {
    throw new Error(`InputSizeCheck expects NHWC images (rank 4, [batch, height, width, channels]), got shape ${JSON.stringify(shape)}`);
  }
}

tf.serialization.registerClass(InputSizeCheck);

/**
 * `input` itself when its height and width are fixed (checked when the model is built), otherwise
 * an {@link InputSizeCheck} applied to it (named `input_size_check`), so that a model built on a
 * variable size checks every image against `rule` before computing anything. Encoders and decoders
 * take the returned tensor; the model's input stays `input`.
 */
export function inputSizeChecked(input: tf.SymbolicTensor, rule: InputSizeRule): tf.SymbolicTensor {
  if (input.shape[1] != null && input.shape[2] != null) return input;
  return new InputSizeCheck({ ...rule, name: 'input_size_check' }).apply(input) as tf.SymbolicTensor;
}

/**
 * Checks that `model` takes `height` × `width` images, with the model's own message: its fixed
 * input size, and the rule of its {@link InputSizeCheck} layers (models built on variable sizes).
 * `context` prefixes the message (`'predictTiled: tileSize 97x97'`).
 */
export function checkModelInputSize(model: tf.LayersModel, height: number, width: number, context: string): void {
  const [, h, w] = model.inputs[0]!.shape;
  if ((h != null && h !== height) || (w != null && w !== width)) {
    throw new Error(
      `${context}: the model '${model.name}' takes ${h ?? 'any'}x${w ?? 'any'} images, got ${height}x${width}. ` +
        'Resize or crop the images, or build the model with inputShape [null, null, C] for variable sizes',
    );
  }
  for (const layer of model.layers) {
    if (!(layer instanceof InputSizeCheck)) continue;
    try {
      layer.check(height, width);
    } catch (e) {
      throw new Error(`${context}: ${(e as Error).message}`);
    }
  }
}
