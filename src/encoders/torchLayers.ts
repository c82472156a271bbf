/**
 * Building blocks with PyTorch semantics for the ImageNet encoders: symmetric explicit zero padding
 * before every strided op that pads (TF `'same'` pads asymmetrically on even sizes), BatchNorm with
 * PyTorch's epsilon 1e-5 and momentum 0.1 (Keras 0.9), torchvision's He (fan-out) initialisation
 * variance. Layers are named by their PyTorch module path (`encoder.layer1.0.conv1`);
 * weightless helpers get a suffix (`.pad`, `.relu1`, `.add`) that no PyTorch key uses.
 */
import * as tf from '@tensorflow/tfjs';
import { initialKernel } from '../layers/initialization.js';

type T = tf.SymbolicTensor;

/** PyTorch `nn.BatchNorm2d` defaults. */
export const TORCH_BN_EPSILON = 1e-5;
/** PyTorch momentum 0.1 (`running = 0.9·running + 0.1·batch`) is Keras momentum 0.9. */
export const TORCH_BN_MOMENTUM = 0.9;

function apply(layer: tf.layers.Layer, x: T | T[]): T {
  return layer.apply(x) as T;
}

/**
 * He initialisation with fan-out, as torchvision's `kaiming_normal_(mode='fan_out', nonlinearity='relu')`
 * for a PyTorch weight `[out, in/groups, k, k]`: the same variance 2 / (out·k²), drawn uniformly
 * (U(±√(6 / (out·k²)))), which tfjs generates about 4× faster than normal values.
 */
function kaimingFanOut(outChannels: number, kernelSize: number): ReturnType<typeof tf.initializers.randomUniform> {
  const limit = Math.sqrt(6 / (outChannels * kernelSize * kernelSize));
  return tf.initializers.randomUniform({ minval: -limit, maxval: limit });
}

/** Symmetric zero padding of `p` pixels on every side, named `${name}.pad`. */
function zeroPad(x: T, p: number, name: string): T {
  return apply(tf.layers.zeroPadding2d({ padding: [[p, p], [p, p]], name: `${name}.pad` }), x);
}

/** The TF padding mode and input for a PyTorch op with `padding` p, odd kernel k and stride s. */
function torchPadding(x: T, kernelSize: number, stride: number, padding: number, name: string): [T, 'same' | 'valid'] {
  if (padding === 0) return [x, 'valid'];
  // Stride 1 with p = (k − 1) / 2: TF 'same' pads (p, p) too.
  if (stride === 1 && 2 * padding === kernelSize - 1) return [x, 'same'];
  return [zeroPad(x, padding, name), 'valid'];
}

export interface TorchConvOptions {
  /** Layer name: the PyTorch module path. */
  name: string;
  filters: number;
  kernelSize: number;
  stride?: number;
  /** PyTorch `padding` (symmetric). Default 0. */
  padding?: number;
  /** Default false (every torchvision ResNet / MobileNetV2 conv); VGG's convs have one. */
  bias?: boolean;
}

/** `nn.Conv2d(…, kernel_size, stride, padding, bias)`. */
export function torchConv2d(x: T, o: TorchConvOptions): T {
  const { stride = 1, padding = 0, bias = false } = o;
  const [y, mode] = torchPadding(x, o.kernelSize, stride, padding, o.name);
  return apply(
    tf.layers.conv2d({
      filters: o.filters,
      kernelSize: o.kernelSize,
      strides: stride,
      padding: mode,
      useBias: bias,
      kernelInitializer: initialKernel(kaimingFanOut(o.filters, o.kernelSize)),
      biasInitializer: 'zeros',
      name: o.name,
    }),
    y,
  );
}

/** Depthwise `nn.Conv2d(C, C, k, stride, padding, groups=C, bias=False)`. */
export function torchDepthwiseConv2d(x: T, o: Omit<TorchConvOptions, 'filters' | 'bias'>): T {
  const { stride = 1, padding = 0 } = o;
  const channels = x.shape[3]!;
  const [y, mode] = torchPadding(x, o.kernelSize, stride, padding, o.name);
  return apply(
    tf.layers.depthwiseConv2d({
      kernelSize: o.kernelSize,
      strides: stride,
      padding: mode,
      depthMultiplier: 1,
      useBias: false,
      depthwiseInitializer: initialKernel(kaimingFanOut(channels, o.kernelSize)),
      name: o.name,
    }),
    y,
  );
}

/** `nn.BatchNorm2d` (eps 1e-5, momentum 0.1). */
export function torchBatchNorm(x: T, name: string): T {
  return apply(
    tf.layers.batchNormalization({ axis: -1, epsilon: TORCH_BN_EPSILON, momentum: TORCH_BN_MOMENTUM, name }),
    x,
  );
}

export function relu(x: T, name: string): T {
  return apply(tf.layers.activation({ activation: 'relu', name }), x);
}

export function relu6(x: T, name: string): T {
  return apply(tf.layers.activation({ activation: 'relu6', name }), x);
}

export function add(a: T, b: T, name: string): T {
  return apply(tf.layers.add({ name }), [a, b]);
}

/**
 * `nn.MaxPool2d(kernel, stride, padding)` on a non-negative input (after a ReLU): PyTorch pads with
 * −∞, which for inputs ≥ 0 gives the same maxima as zero padding.
 */
export function torchMaxPool2dAfterRelu(x: T, o: { name: string; poolSize: number; stride: number; padding?: number }): T {
  const [y, mode] = torchPadding(x, o.poolSize, o.stride, o.padding ?? 0, o.name);
  return apply(tf.layers.maxPooling2d({ poolSize: o.poolSize, strides: o.stride, padding: mode, name: o.name }), y);
}

/** Channel count of a symbolic NHWC tensor. */
export function channelsOf(x: T): number {
  return x.shape[3]!;
}
