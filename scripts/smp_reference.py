"""Regenerates the segmentation_models.pytorch (SMP) reference data under test/fixtures/smp/.

    /usr/bin/python3 scripts/smp_reference.py [--check]

Needs torch + torchvision only (SMP is re-implemented in scripts/smpref/ from its source). Every
weight comes from the deterministic formula in scripts/smpref/weights.py (mirrored in
test/smpWeights.ts), so the tests rebuild the weights from (key, shape) and only inputs and
outputs are stored. All runs are float32, eval mode, one thread; the output is byte-identical from
run to run (`--check` regenerates into a temporary directory and compares).

Writes:
  counts.json            SMP parameter / buffer / key counts (all, and used by the forward pass)
                         for every encoder and Unet / UnetPlusPlus × depth 3..5 × in_channels 1, 3, 4
  keys.json              every encoder's state_dict keys with shapes and the depth from which the
                         forward pass uses them; per fixture model, the decoder / head keys
  manifest.json          the fixtures: SMP config, shapes, max|output| per output, files
  fixtures/*.safetensors NCHW `input`, `output` (models) or `features.{i}` (encoders)
  checkpoints/<name>/    config.json + model.safetensors.gz (gzip of the exact bytes SMP's
                         save_pretrained writes) + io.safetensors (input, output)
  first_conv.safetensors patch_first_conv reference (pretrained 3-channel weight → 1, 2, 4, 5 channels)
"""
from __future__ import annotations

import os

# OpenBLAS reads these when it loads; the reference runs with the library defaults.
for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_var, None)

import argparse  # noqa: E402
import filecmp  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smpref import st_format  # noqa: E402
from smpref.analysis import counts, used_keys  # noqa: E402
from smpref.encoders import ENCODERS, IMAGENET, get_encoder, patch_first_conv  # noqa: E402
from smpref.models import MODEL_CLASSES  # noqa: E402
from smpref.weights import deterministic_input, deterministic_state_dict, fill_deterministic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "smp"

ENCODER_NAMES = list(ENCODERS)
# Module path of the first convolution (SMP's patch_first_conv target; its weight's dim 1 is in_channels).
FIRST_CONV = {
    "resnet18": "encoder.conv1",
    "resnet34": "encoder.conv1",
    "resnet50": "encoder.conv1",
    "mobilenet_v2": "encoder.features.0.0",
    "vgg16": "encoder.features.0",
    "vgg16_bn": "encoder.features.0",
}
DEFAULT_DECODER = [256, 128, 64, 32, 16]


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=False) + "\n"


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(obj))


def nchw(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy().astype(np.float32))


class EncoderOnly(torch.nn.Module):
    """Wraps an encoder under the `encoder.` prefix, so its keys are the model's."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        return self.encoder(x)


def build_encoder(name, depth, in_channels=3, weights=True):
    m = EncoderOnly(get_encoder(name, in_channels=in_channels, depth=depth)).eval()
    if weights:
        fill_deterministic(m)
    return m


def build_model(cfg: dict, weights=True):
    args = {k: v for k, v in cfg.items() if not k.startswith("_")}
    m = MODEL_CLASSES[cfg["_model_class"]](**args).eval()
    if weights:
        fill_deterministic(m)
    return m


def probe_size(depth: int) -> int:
    return max(32, 2**depth)


# ---------------------------------------------------------------------------------------------
# counts.json and keys.json
# ---------------------------------------------------------------------------------------------


def make_counts():
    encoders, models = [], []
    for name in ENCODER_NAMES:
        for depth in (3, 4, 5):
            for c in (1, 3, 4):
                m = build_encoder(name, depth, c, weights=False)
                x = torch.from_numpy(deterministic_input("probe", (1, c, probe_size(depth), probe_size(depth))))
                used = used_keys(m, m, x)
                encoders.append({"encoder": name, "encoder_depth": depth, "in_channels": c,
                                 "out_channels": m.encoder.out_channels, **counts(m, used)})
                for cls in ("Unet", "UnetPlusPlus"):
                    cfg = {"_model_class": cls, "encoder_name": name, "encoder_depth": depth,
                           "encoder_weights": None, "decoder_channels": DEFAULT_DECODER[:depth],
                           "in_channels": c, "classes": 1}
                    mm = build_model(cfg, weights=False)
                    x = torch.from_numpy(deterministic_input("probe", (1, c, probe_size(depth), probe_size(depth))))
                    used = used_keys(mm, mm, x)
                    models.append({"model": cls, "encoder": name, "encoder_depth": depth, "in_channels": c,
                                   "classes": 1, "decoder_channels": cfg["decoder_channels"], **counts(mm, used)})
    # The architecture notes' example (SMP keeps the unused layer4 of a depth-4 ResNet).
    cfg = {"_model_class": "Unet", "encoder_name": "resnet50", "encoder_depth": 4, "encoder_weights": None,
           "decoder_channels": [128, 64, 32, 16], "in_channels": 3, "classes": 1}
    mm = build_model(cfg, weights=False)
    used = used_keys(mm, mm, torch.from_numpy(deterministic_input("probe", (1, 3, 32, 32))))
    models.append({"model": "Unet", "encoder": "resnet50", "encoder_depth": 4, "in_channels": 3, "classes": 1,
                   "decoder_channels": [128, 64, 32, 16], **counts(mm, used)})
    return {
        "description": (
            "segmentation_models.pytorch counts (scripts/smp_reference.py). params = SMP's parameters() "
            "(all nn.Parameters, including those the forward pass never uses) = Keras trainable; bn_buffers = "
            "BatchNorm running_mean + running_var values = Keras non-trainable; keys = len(state_dict()) "
            "(one num_batches_tracked per BatchNorm, bn_layers of them). used_* = the same restricted to what the "
            "forward pass uses (autograd); used_mapped_keys = used keys without num_batches_tracked = the keys a "
            "TF.js model holding only used weights maps. Models use decoder_channels = [256,128,64,32,16][:depth] "
            "and classes 1 unless listed."
        ),
        "encoders": encoders,
        "models": models,
    }


def make_keys():
    out = {}
    for name in ENCODER_NAMES:
        first_used = {}
        for depth in (5, 4, 3, 2, 1):
            m = build_encoder(name, depth, weights=False)
            x = torch.from_numpy(deterministic_input("probe", (1, 3, 32, 32)))
            for k in used_keys(m, m, x):
                first_used[k] = depth
        m = build_encoder(name, 5, weights=False)
        out[name] = {
            "first_conv": FIRST_CONV[name],
            "keys": [[k, list(v.shape), first_used.get(k)] for k, v in m.state_dict().items()],
        }
    return out


# ---------------------------------------------------------------------------------------------
# Numerical fixtures
# ---------------------------------------------------------------------------------------------


def model_cfg(cls, encoder, depth=5, decoder_channels=None, in_channels=3, classes=1, **extra):
    cfg = {"_model_class": cls, "encoder_name": encoder, "encoder_depth": depth, "encoder_weights": None,
           "decoder_channels": decoder_channels or [24, 16, 12, 8, 8][:depth], "decoder_use_norm": "batchnorm",
           "decoder_interpolation": "nearest", "in_channels": in_channels, "classes": classes, "activation": None}
    cfg.update(extra)
    return cfg


def fixture_list():
    enc = []
    for name in ENCODER_NAMES:
        enc.append((f"encoder-{name}-d5-32x32", name, 5, (1, 3, 32, 32)))
        enc.append((f"encoder-{name}-d3-19x13", name, 3, (1, 3, 19, 13)))
    # in_channels other than 3 (the first conv is built for them)
    enc.append(("encoder-resnet18-in1-d3-24x24", "resnet18", 3, (1, 1, 24, 24)))
    enc.append(("encoder-mobilenet_v2-in4-d4-32x32", "mobilenet_v2", 4, (1, 4, 32, 32)))
    enc.append(("encoder-vgg16_bn-in4-d3-16x16", "vgg16_bn", 3, (1, 4, 16, 16)))
    models = []
    for i, name in enumerate(ENCODER_NAMES):
        classes = 1 + i % 2
        models.append((f"unet-{name}-d5", model_cfg("Unet", name, classes=classes), (2, 3, 32, 32)))
        models.append((f"unetplusplus-{name}-d5", model_cfg("UnetPlusPlus", name, classes=classes), (2, 3, 32, 32)))
    models += [
        # Unet accepts any H × W: odd, non-square sizes (the decoder resizes to each skip's size).
        ("unet-resnet34-45x37", model_cfg("Unet", "resnet34"), (1, 3, 45, 37)),
        ("unet-mobilenet_v2-37x45", model_cfg("Unet", "mobilenet_v2", classes=2), (1, 3, 37, 45)),
        ("unet-vgg16_bn-45x37", model_cfg("Unet", "vgg16_bn"), (1, 3, 45, 37)),
        # encoder_depth 3 and 4
        ("unet-resnet34-d3", model_cfg("Unet", "resnet34", depth=3, decoder_channels=[16, 12, 8]), (1, 3, 28, 36)),
        ("unet-resnet50-d4", model_cfg("Unet", "resnet50", depth=4, decoder_channels=[24, 16, 12, 8]), (1, 3, 32, 32)),
        ("unet-vgg16-d4", model_cfg("Unet", "vgg16", depth=4, decoder_channels=[24, 16, 12, 8]), (1, 3, 32, 32)),
        ("unetplusplus-resnet18-d4", model_cfg("UnetPlusPlus", "resnet18", depth=4, decoder_channels=[24, 16, 12, 8]), (1, 3, 32, 48)),
        ("unetplusplus-mobilenet_v2-d3", model_cfg("UnetPlusPlus", "mobilenet_v2", depth=3, decoder_channels=[16, 12, 8]), (1, 3, 24, 40)),
        ("unetplusplus-vgg16_bn-d3", model_cfg("UnetPlusPlus", "vgg16_bn", depth=3, decoder_channels=[16, 12, 8]), (1, 3, 24, 16)),
        # input channels other than 3
        ("unet-resnet18-in1", model_cfg("Unet", "resnet18", in_channels=1), (1, 1, 32, 32)),
        ("unet-vgg16_bn-in4-d4", model_cfg("Unet", "vgg16_bn", depth=4, decoder_channels=[24, 16, 12, 8], in_channels=4), (1, 4, 32, 32)),
        ("unetplusplus-mobilenet_v2-in4", model_cfg("UnetPlusPlus", "mobilenet_v2", in_channels=4, classes=2), (1, 4, 32, 32)),
        ("unetplusplus-resnet18-in1-d3", model_cfg("UnetPlusPlus", "resnet18", depth=3, decoder_channels=[16, 12, 8], in_channels=1), (1, 1, 16, 24)),
        # decoder without BatchNorm (the decoder convs get biases)
        ("unet-resnet18-nonorm", model_cfg("Unet", "resnet18", decoder_use_norm=False), (1, 3, 32, 32)),
        ("unetplusplus-mobilenet_v2-nonorm-d4", model_cfg("UnetPlusPlus", "mobilenet_v2", depth=4, decoder_channels=[24, 16, 12, 8], decoder_use_norm=False), (1, 3, 32, 32)),
        # bilinear decoder upsampling (align_corners=False), at non-2× ratios for Unet
        ("unet-resnet34-bilinear-45x37", model_cfg("Unet", "resnet34", decoder_interpolation="bilinear", classes=2), (1, 3, 45, 37)),
        ("unetplusplus-resnet18-bilinear", model_cfg("UnetPlusPlus", "resnet18", decoder_interpolation="bilinear"), (1, 3, 32, 32)),
        # head activations
        ("unet-mobilenet_v2-sigmoid", model_cfg("Unet", "mobilenet_v2", activation="sigmoid"), (1, 3, 32, 32)),
        ("unetplusplus-resnet34-softmax2d-d3", model_cfg("UnetPlusPlus", "resnet34", depth=3, decoder_channels=[16, 12, 8], classes=3, activation="softmax2d"), (1, 3, 16, 16)),
    ]
    return enc, models


def max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a)))


def decoder_keys(model, used):
    return [[k, list(v.shape), k in used] for k, v in model.state_dict().items()
            if not k.startswith("encoder.") and not k.endswith(".num_batches_tracked")]


def dead_prefixes(model, used):
    """Module paths whose every key the forward pass leaves unused (the coarsest such prefixes)."""
    sd = list(model.state_dict())
    dead = [k for k in sd if k not in used]
    prefixes = []
    for k in dead:
        parts = k.split(".")
        best = None
        for n in range(1, len(parts)):
            p = ".".join(parts[:n]) + "."
            if all(x not in used for x in sd if x.startswith(p)):
                best = p
                break
        best = best or k
        if best not in prefixes:
            prefixes.append(best)
    return prefixes


def make_fixtures(out: Path):
    enc, models = fixture_list()
    entries, model_keys = [], {}
    (out / "fixtures").mkdir(parents=True, exist_ok=True)
    for name, encoder, depth, shape in enc:
        m = build_encoder(encoder, depth, shape[1])
        x = torch.from_numpy(deterministic_input(name, shape))
        with torch.no_grad():
            feats = [nchw(f) for f in m(x)]
        tensors = {"input": nchw(x), **{f"features.{i}": f for i, f in enumerate(feats)}}
        (out / "fixtures" / f"{name}.safetensors").write_bytes(st_format.serialize(tensors))
        entries.append({
            "name": name, "kind": "encoder", "file": f"fixtures/{name}.safetensors",
            "config": {"encoder_name": encoder, "encoder_depth": depth, "in_channels": shape[1]},
            "input_shape": list(shape), "feature_shapes": [list(f.shape) for f in feats],
            "max_abs": [max_abs(f) for f in feats],
        })
    for name, cfg, shape in models:
        m = build_model(cfg)
        x = torch.from_numpy(deterministic_input(name, shape))
        with torch.no_grad():
            y = nchw(m(x))
        (out / "fixtures" / f"{name}.safetensors").write_bytes(st_format.serialize({"input": nchw(x), "output": y}))
        used = used_keys(m, m, x)
        c = counts(m, used)
        entries.append({
            "name": name, "kind": "model", "file": f"fixtures/{name}.safetensors", "config": cfg,
            "input_shape": list(shape), "output_shape": list(y.shape), "max_abs": [max_abs(y)],
            "counts": c, "dead_prefixes": dead_prefixes(m, used),
        })
        model_keys[name] = decoder_keys(m, used)
    return entries, model_keys


# ---------------------------------------------------------------------------------------------
# SMP checkpoints (save_pretrained layout)
# ---------------------------------------------------------------------------------------------

CHECKPOINTS = [
    # encoder_weights "imagenet" is SMP's default and what most saved configs carry; the weights
    # in the file replace them, so an importer must not fetch anything for it.
    ("unet-resnet18-d3", {"_model_class": "Unet", "encoder_name": "resnet18", "encoder_depth": 3,
                          "encoder_weights": "imagenet", "decoder_channels": [32, 16, 8]}, (2, 3, 40, 48)),
    ("unet-mobilenet_v2-d3", {"_model_class": "Unet", "encoder_name": "mobilenet_v2", "encoder_depth": 3,
                              "encoder_weights": None, "decoder_channels": [32, 16, 8], "in_channels": 1,
                              "classes": 2}, (2, 1, 36, 44)),
    ("unetplusplus-mobilenet_v2-d3", {"_model_class": "UnetPlusPlus", "encoder_name": "mobilenet_v2",
                                      "encoder_depth": 3, "encoder_weights": None, "decoder_channels": [32, 16, 8],
                                      "in_channels": 4, "classes": 3, "decoder_interpolation": "bilinear"},
     (2, 4, 32, 40)),
    ("unetplusplus-resnet18-d3", {"_model_class": "UnetPlusPlus", "encoder_name": "resnet18", "encoder_depth": 3,
                                  "encoder_weights": None, "decoder_channels": [32, 16, 8], "decoder_use_norm": True,
                                  "activation": "sigmoid"}, (2, 3, 32, 24)),
]


def bf16_grid(a: np.ndarray) -> np.ndarray:
    """float32 → nearest bfloat16 value (ties to even), as float32; int arrays unchanged."""
    if a.dtype != np.float32:
        return a
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def smp_config_json(model, model_class: str) -> str:
    cfg = dict(model.config)
    cfg["_model_class"] = model_class
    return json.dumps(cfg, sort_keys=True, indent=2)


def make_checkpoints(out: Path):
    entries = []
    for name, cfg, shape in CHECKPOINTS:
        m = build_model(cfg)
        x = torch.from_numpy(deterministic_input(name, shape))
        used = used_keys(m, m, x)
        # Used weights: the formula's values rounded to bfloat16 precision (still float32, F32 in the
        # file; half the bytes are zero, so the gzip is half the size); weights SMP keeps but never
        # uses: zero; num_batches_tracked: 0 as in a fresh model.
        sd = m.state_dict()
        values = deterministic_state_dict({k: tuple(v.shape) for k, v in sd.items()})
        with torch.no_grad():
            for k, t in sd.items():
                t.copy_(torch.from_numpy(bf16_grid(values[k])) if k in used else torch.zeros_like(t))
            y = nchw(m(x))
        tensors = {k: v.detach().numpy() for k, v in m.state_dict().items()}
        blob = st_format.serialize(tensors)
        assert all(np.array_equal(v, tensors[k]) for k, v in st_format.deserialize(blob).items())
        d = out / "checkpoints" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text(smp_config_json(m, cfg["_model_class"]))
        (d / "model.safetensors.gz").write_bytes(gzip.compress(blob, compresslevel=9, mtime=0))
        (d / "io.safetensors").write_bytes(st_format.serialize({"input": nchw(x), "output": y}))
        entries.append({
            "name": name, "dir": f"checkpoints/{name}", "config": json.loads(smp_config_json(m, cfg["_model_class"])),
            "input_shape": list(shape), "output_shape": list(y.shape), "max_abs": [max_abs(y)],
            "model_safetensors_bytes": len(blob), "model_safetensors_sha256": hashlib.sha256(blob).hexdigest(),
            "keys": len(tensors), "used_keys": len([k for k in tensors if k in used]),
            "dead_prefixes": dead_prefixes(m, used),
        })
    return entries


def make_first_conv(out: Path):
    """patch_first_conv with pretrained weights, for MobileNetV2's stem (same rule for every encoder)."""
    key = "encoder.features.0.0.weight"
    source = deterministic_state_dict({key: (32, 3, 3, 3)})[key]
    tensors = {"source": source}
    for c in (1, 2, 4, 5):
        conv = torch.nn.Conv2d(3, 32, 3, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(source))
        holder = torch.nn.Sequential(conv)
        patch_first_conv(holder, c, pretrained=True)
        tensors[f"in{c}"] = nchw(holder[0].weight)
    (out / "first_conv.safetensors").write_bytes(st_format.serialize(tensors))
    return {
        "file": "first_conv.safetensors", "key": key,
        "rule": ("SMP _utils.patch_first_conv with pretrained weights. in1 = float32 sum over the 3 input "
                 "channels in order ((c0 + c1) + c2); inN (N != 1) channel i = source channel i % 3, times "
                 "float32(3 / N) in float32"),
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
    }


def generate(out: Path):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "counts.json", make_counts())
    fixtures, model_keys = make_fixtures(out)
    keys = {"description": (
        "encoders: every state_dict key of the encoder (in_channels 3; dim 1 of `<first_conv>.weight` is in_channels), "
        "its PyTorch shape and the smallest encoder_depth at which the forward pass uses it (null: never). "
        "models: per model fixture, the decoder and head keys (without num_batches_tracked) with shape and "
        "whether the forward pass uses them."), "encoders": make_keys(), "models": model_keys}
    write_json(out / "keys.json", keys)
    checkpoints = make_checkpoints(out)
    manifest = {
        "description": (
            "Reference outputs of segmentation_models.pytorch (SMP commit 5006616) modules re-implemented in "
            "scripts/smpref, float32, eval mode. Tensors are NCHW. Weights: the deterministic formula of "
            "scripts/smpref/weights.py / test/smpWeights.ts applied to each state_dict key and PyTorch shape "
            "(fixtures). Checkpoints store their weights: the formula's values rounded to bfloat16 precision for "
            "the keys the forward pass uses, zero for those SMP keeps but never uses (dead_prefixes), "
            "num_batches_tracked 0; model.safetensors.gz is the gzip of the exact bytes SMP's save_pretrained "
            "writes (size and sha256 given). Tolerance: max|tf - torch| <= 1e-3 * max_abs."),
        "preprocessing": {name: IMAGENET for name in ENCODER_NAMES},
        "pretrained": {name: ENCODERS[name]["weights"] for name in ENCODER_NAMES},
        "fixtures": fixtures,
        "checkpoints": checkpoints,
        "first_conv": make_first_conv(out),
    }
    write_json(out / "manifest.json", manifest)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    args = ap.parse_args()
    if not args.check:
        if OUT.exists():
            shutil.rmtree(OUT)
        generate(OUT)
        total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
        print(f"wrote {OUT.relative_to(ROOT)}: {total} bytes")
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        a = sorted(p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file())
        b = sorted(p.relative_to(OUT) for p in OUT.rglob("*") if p.is_file())
        diff = [str(p) for p in a if p not in b or not filecmp.cmp(Path(tmp) / p, OUT / p, shallow=False)]
        diff += [str(p) for p in b if p not in a]
        if diff:
            print("differs:", *diff, sep="\n  ")
            sys.exit(1)
        print(f"identical: {len(a)} files")


if __name__ == "__main__":
    main()
