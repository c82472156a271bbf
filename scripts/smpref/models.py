"""SMP's Unet and UnetPlusPlus (decoders/unet, decoders/unetplusplus, base/{modules,heads,model}.py
at 5006616), re-implemented with the same module tree, so state_dict() keys are SMP's."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import get_encoder


def _norm(use_norm, channels):
    if use_norm is True or use_norm == "batchnorm":
        return nn.BatchNorm2d(channels)
    if use_norm is False or use_norm == "identity":
        return nn.Identity()
    raise ValueError(f"decoder_use_norm {use_norm!r} is outside this reference (batchnorm / identity only)")


class Conv2dReLU(nn.Sequential):
    """conv(k, pad, bias only without norm) → norm → ReLU: keys `.0.weight`, `.1.*`."""

    def __init__(self, in_channels, out_channels, kernel_size, padding=0, use_norm="batchnorm"):
        norm = _norm(use_norm, out_channels)
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=isinstance(norm, nn.Identity))
        super().__init__(conv, norm, nn.ReLU(inplace=True))


class CenterBlock(nn.Sequential):
    def __init__(self, in_channels, out_channels, use_norm="batchnorm"):
        super().__init__(
            Conv2dReLU(in_channels, out_channels, 3, padding=1, use_norm=use_norm),
            Conv2dReLU(out_channels, out_channels, 3, padding=1, use_norm=use_norm),
        )


def _decoder_channels(encoder_channels, decoder_channels, n_blocks):
    if n_blocks != len(decoder_channels):
        raise ValueError(f"Model depth is {n_blocks}, but you provide `decoder_channels` for {len(decoder_channels)} blocks.")
    enc = list(encoder_channels[1:])[::-1]
    head = enc[0]
    in_ch = [head] + list(decoder_channels[:-1])
    skip_ch = enc[1:] + [0]
    return head, in_ch, skip_ch, list(decoder_channels)


class DecoderBlock(nn.Module):
    """Resize `x` (Unet: to the skip's / input's size; UnetPlusPlus: ×2), concatenate [x, skip] on
    channels, then conv1 and conv2 (Conv2dReLU). SMP's attention1 / attention2 are Identity for
    decoder_attention_type=None and hold no keys."""

    def __init__(self, in_channels, skip_channels, out_channels, use_norm, interpolation_mode):
        super().__init__()
        assert out_channels > 0, "zero-channel nodes are outside this reference"
        self.interpolation_mode = interpolation_mode
        self.conv1 = Conv2dReLU(in_channels + skip_channels, out_channels, 3, padding=1, use_norm=use_norm)
        self.conv2 = Conv2dReLU(out_channels, out_channels, 3, padding=1, use_norm=use_norm)

    def forward(self, x, skip=None, size=None):
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode=self.interpolation_mode)
        else:
            x = F.interpolate(x, size=size, mode=self.interpolation_mode)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UnetDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels, n_blocks, use_norm, add_center_block, interpolation_mode):
        super().__init__()
        head, in_ch, skip_ch, out_ch = _decoder_channels(encoder_channels, decoder_channels, n_blocks)
        self.center = CenterBlock(head, head, use_norm) if add_center_block else nn.Identity()
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o, use_norm, interpolation_mode) for i, s, o in zip(in_ch, skip_ch, out_ch)
        )

    def forward(self, features):
        sizes = [f.shape[2:] for f in features][::-1]
        features = features[1:][::-1]
        skips = features[1:]
        x = self.center(features[0])
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None, size=tuple(sizes[i + 1]))
        return x


class UnetPlusPlusDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels, n_blocks, use_norm, center, interpolation_mode):
        super().__init__()
        head, in_ch, skip_ch, out_ch = _decoder_channels(encoder_channels, decoder_channels, n_blocks)
        # SMP builds the centre block for VGG encoders but its forward never calls it.
        self.center = CenterBlock(head, head, use_norm) if center else nn.Identity()
        blocks = {}
        for layer in range(len(in_ch) - 1):
            for d in range(layer + 1):
                if d == 0:
                    i, s, o = in_ch[layer], skip_ch[layer] * (layer + 1), out_ch[layer]
                else:
                    i, s, o = skip_ch[layer - 1], skip_ch[layer] * (layer + 1 - d), skip_ch[layer]
                blocks[f"x_{d}_{layer}"] = DecoderBlock(i, s, o, use_norm, interpolation_mode)
        blocks[f"x_0_{len(in_ch) - 1}"] = DecoderBlock(in_ch[-1], 0, out_ch[-1], use_norm, interpolation_mode)
        self.blocks = nn.ModuleDict(blocks)
        self.depth = len(in_ch) - 1
        self.n_in = len(in_ch)

    def forward(self, features):
        features = features[1:][::-1]
        dense = {}
        for layer in range(self.n_in - 1):
            for d in range(self.depth - layer):
                if layer == 0:
                    dense[f"x_{d}_{d}"] = self.blocks[f"x_{d}_{d}"](features[d], features[d + 1])
                else:
                    l = d + layer
                    cat = [dense[f"x_{k}_{l}"] for k in range(d + 1, l + 1)] + [features[l + 1]]
                    dense[f"x_{d}_{l}"] = self.blocks[f"x_{d}_{l}"](dense[f"x_{d}_{l - 1}"], torch.cat(cat, dim=1))
        return self.blocks[f"x_0_{self.depth}"](dense[f"x_0_{self.depth - 1}"])


ACTIVATIONS = {
    None: nn.Identity,
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "softmax2d": lambda: nn.Softmax(dim=1),
    "tanh": nn.Tanh,
}


class SegmentationHead(nn.Sequential):
    """Conv2d(k=3, pad=1, bias) → Identity (upsampling=1) → activation: keys `.0.weight`, `.0.bias`."""

    def __init__(self, in_channels, out_channels, activation=None, kernel_size=3):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is outside this reference")
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.Identity(),
            ACTIVATIONS[activation](),
        )


# The __init__ arguments of SMP's Unet and UnetPlusPlus (the same 11 for both) and their defaults:
# SMP's hub mixin records all of them, overlaid with the given values, as the model's config.
SMP_INIT_DEFAULTS = {
    "encoder_name": "resnet34",
    "encoder_depth": 5,
    "encoder_weights": "imagenet",
    "decoder_use_norm": "batchnorm",
    "decoder_channels": (256, 128, 64, 32, 16),
    "decoder_attention_type": None,
    "decoder_interpolation": "nearest",
    "in_channels": 3,
    "classes": 1,
    "activation": None,
    "aux_params": None,
}


class SegmentationModel(nn.Module):
    """encoder → decoder → segmentation_head, built from SMP's keyword arguments."""

    requires_divisible_input_shape = True
    decoder_class: type = nn.Module

    def __init__(self, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(SMP_INIT_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown arguments {unknown}")
        cfg = {**SMP_INIT_DEFAULTS, **kwargs}
        cfg["decoder_channels"] = list(cfg["decoder_channels"])
        if cfg["decoder_attention_type"] is not None or cfg["aux_params"] is not None:
            raise ValueError("decoder_attention_type and aux_params are outside this reference")
        self.config = cfg
        name, depth = cfg["encoder_name"], cfg["encoder_depth"]
        self.encoder = get_encoder(name, in_channels=cfg["in_channels"], depth=depth)
        # SMP adds a centre block for VGG encoders (Unet: add_center_block, UnetPlusPlus: center).
        self.decoder = self.decoder_class(
            self.encoder.out_channels, cfg["decoder_channels"], depth, cfg["decoder_use_norm"],
            name.startswith("vgg"), cfg["decoder_interpolation"],
        )
        self.segmentation_head = SegmentationHead(cfg["decoder_channels"][-1], cfg["classes"], cfg["activation"])

    def check_input_shape(self, x):
        if not self.requires_divisible_input_shape:
            return
        h, w = x.shape[-2:]
        s = self.encoder.output_stride
        if h % s or w % s:
            raise RuntimeError(f"Wrong input shape height={h}, width={w}. Expected image height and width divisible by {s}.")

    def forward(self, x):
        self.check_input_shape(x)
        return self.segmentation_head(self.decoder(self.encoder(x)))


class Unet(SegmentationModel):
    requires_divisible_input_shape = False
    decoder_class = UnetDecoder


class UnetPlusPlus(SegmentationModel):
    decoder_class = UnetPlusPlusDecoder


MODEL_CLASSES = {"Unet": Unet, "UnetPlusPlus": UnetPlusPlus}
