"""SMP's ResNet, MobileNetV2 and VGG encoders: torchvision's classes with SMP's changes
(segmentation_models_pytorch/encoders/{resnet,mobilenet,vgg,_base,_utils}.py at 5006616)."""
from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.models.mobilenetv2 import MobileNetV2
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.models.vgg import VGG, make_layers

# fmt: off
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# fmt: on

IMAGENET = {
    "input_space": "RGB",
    "input_range": [0, 1],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


class _EncoderMixin:
    """Depth, out_channels and the in_channels patch of SMP's EncoderMixin."""

    def _init_mixin(self, out_channels, depth):
        if depth > 5 or depth < 1:
            raise ValueError(f"{type(self).__name__} depth should be in range [1, 5], got {depth}")
        self._depth = depth
        self._in_channels = 3
        self._out_channels = list(out_channels)

    @property
    def out_channels(self):
        return self._out_channels[: self._depth + 1]

    @property
    def output_stride(self):
        return min(32, 2**self._depth)

    def set_in_channels(self, in_channels: int, pretrained: bool = False):
        if in_channels == 3:
            return
        self._in_channels = in_channels
        if self._out_channels[0] == 3:
            self._out_channels = [in_channels] + self._out_channels[1:]
        patch_first_conv(self, in_channels, pretrained=pretrained)


def patch_first_conv(model: nn.Module, new_in_channels: int, default_in_channels: int = 3, pretrained: bool = True):
    """SMP's `_utils.patch_first_conv`: the first Conv2d with 3 input channels gets `new_in_channels`.
    Without pretrained weights it is re-created (fresh init); with them, 1 channel = sum over RGB,
    otherwise channel i = RGB channel i % 3, all scaled by 3 / new_in_channels."""
    module = None
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == default_in_channels:
            module = m
            break
    assert module is not None
    weight = module.weight.detach()
    module.in_channels = new_in_channels
    if not pretrained:
        module.weight = nn.Parameter(torch.empty(module.out_channels, new_in_channels // module.groups, *module.kernel_size))
        module.reset_parameters()
    elif new_in_channels == 1:
        module.weight = nn.Parameter(weight.sum(1, keepdim=True))
    else:
        new_weight = torch.empty(module.out_channels, new_in_channels // module.groups, *module.kernel_size)
        for i in range(new_in_channels):
            new_weight[:, i] = weight[:, i % default_in_channels]
        module.weight = nn.Parameter(new_weight * (default_in_channels / new_in_channels))


def _indexed_features(encoder, x, features):
    """SMP's MobileNetV2 / VGG forward: `features` gets the outputs of `encoder.features[i]` for i in
    `_out_indexes`; the modules run until one more output than needed was produced, then the list is cut."""
    depth = 0
    for i, module in enumerate(encoder.features):
        x = module(x)
        if i in encoder._out_indexes:
            features.append(x)
            depth += 1
        if depth > encoder._depth:
            break
    return features[: encoder._depth + 1]


class ResNetEncoder(ResNet, _EncoderMixin):
    def __init__(self, out_channels, depth=5, **kwargs):
        super().__init__(**kwargs)
        self._init_mixin(out_channels, depth)
        del self.fc
        del self.avgpool

    def forward(self, x):
        features = [x]
        if self._depth >= 1:
            x = self.relu(self.bn1(self.conv1(x)))
            features.append(x)
        if self._depth >= 2:
            x = self.layer1(self.maxpool(x))
            features.append(x)
        if self._depth >= 3:
            x = self.layer2(x)
            features.append(x)
        if self._depth >= 4:
            x = self.layer3(x)
            features.append(x)
        if self._depth >= 5:
            x = self.layer4(x)
            features.append(x)
        return features


class MobileNetV2Encoder(MobileNetV2, _EncoderMixin):
    def __init__(self, out_channels, depth=5, **kwargs):
        super().__init__(**kwargs)
        self._init_mixin(out_channels, depth)
        self._out_indexes = [1, 3, 6, 13, len(self.features) - 1]
        del self.classifier

    def forward(self, x):
        return _indexed_features(self, x, [x])


class VGGEncoder(VGG, _EncoderMixin):
    def __init__(self, out_channels, config, batch_norm=False, depth=5):
        # torchvision's VGG.__init__ also builds a 120M-parameter classifier that SMP deletes at
        # once; build only the modules SMP keeps, in the same order (features, avgpool).
        nn.Module.__init__(self)
        self.features = make_layers(config, batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self._init_mixin(out_channels, depth)
        self._out_indexes = [i - 1 for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self._out_indexes.append(len(self.features) - 1)

    def forward(self, x):
        return _indexed_features(self, x, [])


ENCODERS = {
    "resnet18": {
        "cls": ResNetEncoder,
        "params": {"out_channels": [3, 64, 64, 128, 256, 512], "block": BasicBlock, "layers": [2, 2, 2, 2]},
        "weights": {"repo_id": "smp-hub/resnet18.imagenet", "revision": "3f2325ff978283d47aa6a1d6878ca20565622683"},
    },
    "resnet34": {
        "cls": ResNetEncoder,
        "params": {"out_channels": [3, 64, 64, 128, 256, 512], "block": BasicBlock, "layers": [3, 4, 6, 3]},
        "weights": {"repo_id": "smp-hub/resnet34.imagenet", "revision": "7a57b34f723329ff020b3f8bc41771163c519d0c"},
    },
    "resnet50": {
        "cls": ResNetEncoder,
        "params": {"out_channels": [3, 64, 256, 512, 1024, 2048], "block": Bottleneck, "layers": [3, 4, 6, 3]},
        "weights": {"repo_id": "smp-hub/resnet50.imagenet", "revision": "00cb74e366966d59cd9a35af57e618af9f88efe9"},
    },
    "mobilenet_v2": {
        "cls": MobileNetV2Encoder,
        "params": {"out_channels": [3, 16, 24, 32, 96, 1280]},
        "weights": {"repo_id": "smp-hub/mobilenet_v2.imagenet", "revision": "e67aa804e17f7b404b629127eabbd224c4e0690b"},
    },
    "vgg16": {
        "cls": VGGEncoder,
        "params": {"out_channels": [64, 128, 256, 512, 512, 512], "config": VGG16_CFG, "batch_norm": False},
        "weights": {"repo_id": "smp-hub/vgg16.imagenet", "revision": "49d74b799006ee252b86e25acd6f1fd8ac9a99c1"},
    },
    "vgg16_bn": {
        "cls": VGGEncoder,
        "params": {"out_channels": [64, 128, 256, 512, 512, 512], "config": VGG16_CFG, "batch_norm": True},
        "weights": {"repo_id": "smp-hub/vgg16_bn.imagenet", "revision": "2c186d02fb519e93219a99a1c2af6295aef0bf0d"},
    },
}


def get_encoder(name: str, in_channels: int = 3, depth: int = 5) -> nn.Module:
    """SMP's `get_encoder(name, in_channels, depth, weights=None)`."""
    if name not in ENCODERS:
        raise KeyError(f"Wrong encoder name `{name}`, supported encoders: {list(ENCODERS)}")
    spec = ENCODERS[name]
    encoder = spec["cls"](depth=depth, **spec["params"])
    encoder.set_in_channels(in_channels, pretrained=False)
    return encoder
