import type * as tf from '@tensorflow/tfjs';

/**
 * What an encoder hands to a decoder: its feature maps, shallow → deep. Decoders see nothing else.
 *
 * `features[0]` is at stride 1: for ResNet and MobileNetV2 it is the input itself (as in
 * segmentation_models.pytorch), for VGG and the plain conv-block encoder a real feature map.
 * `features[i]` is at stride `strides[i]` (2^i for every encoder of the library) with
 * `channels[i]` channels; `features.length = depth + 1`.
 */
export interface FeaturePyramid {
  features: tf.SymbolicTensor[];
  channels: number[];
  strides: number[];
}

/** Input normalisation a pretrained backbone expects: `x' = (x / scale − mean) / std` per channel. */
export interface EncoderPreprocessing {
  /** Colour order of the pretraining data. */
  inputSpace: 'RGB';
  /** Value range the mean/std refer to (`[0, 1]` for every torchvision backbone). */
  inputRange: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
}

/** Where a pretrained encoder's weights live (a Hugging Face Hub repository at a pinned revision). */
export interface PretrainedWeights {
  repoId: string;
  revision: string;
}

/** One tensor of a PyTorch state dict: its key and PyTorch shape. */
export interface SmpStateEntry {
  key: string;
  shape: number[];
}

/**
 * A top-level module of segmentation_models.pytorch's encoder (`encoder.layer3.`,
 * `encoder.features.7.`), every state-dict entry it holds (`num_batches_tracked` included), and
 * the smallest `encoder_depth` at which SMP's forward pass uses it. SMP keeps every module at any
 * depth, so at depth d the modules with `depth > d` are weights it saves but never uses.
 */
export interface SmpEncoderModule {
  /** Key prefix, ending with a dot. */
  prefix: string;
  depth: number;
  entries: SmpStateEntry[];
}

/** Options every encoder's builder takes. */
export interface EncoderBuildOptions {
  /** Number of stride-2 stages, i.e. features f1 … f_depth. */
  depth: number;
}

/**
 * An encoder family member registered by name (`'resnet34'`). Its layers are named by their
 * segmentation_models.pytorch module path (`encoder.layer1.0.conv1`, `encoder.bn1`, ...), so a
 * PyTorch `state_dict` key is `<layer name>.<parameter>`.
 */
export interface EncoderSpec {
  /** Canonical name, as in segmentation_models.pytorch (`'resnet34'`, `'mobilenet_v2'`, `'vgg16_bn'`). */
  name: string;
  /** One line for `listEncoders` and the docs. */
  description: string;
  /** Channels of f0 … f5 for a 3-channel input (SMP's `out_channels`). */
  outChannels: readonly number[];
  /** Depths the encoder supports (SMP's decoders: 3 … 5). */
  minDepth: number;
  maxDepth: number;
  /** Builds the encoder on `input` (`[B, H, W, C]`, any C ≥ 1) and returns its pyramid. */
  build(input: tf.SymbolicTensor, options: EncoderBuildOptions): FeaturePyramid;
  /**
   * Layer name of the first convolution, the one built for the input's channel count (SMP's
   * `patch_first_conv` target): `encoder.conv1`, `encoder.features.0.0`, `encoder.features.0`.
   */
  firstConv: string;
  preprocessing: EncoderPreprocessing;
  /** Pretrained weights by tag (`imagenet`). */
  weights: Record<string, PretrainedWeights>;
  /**
   * SMP's encoder state dict for `inChannels` input channels, module by module in state-dict
   * order: what SMP saves at any depth (the keys of a model built here at depth d are those of the
   * modules with `depth <= d`, without `num_batches_tracked`).
   */
  smpModules(inChannels: number): SmpEncoderModule[];
  /**
   * Keys of the pretrained weight file (without the `encoder.` prefix) that SMP's encoder drops
   * before loading: the ImageNet classifier (`fc.*`, `classifier.*`).
   */
  droppedPretrainedKeys: RegExp;
}
