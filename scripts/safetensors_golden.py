"""Golden safetensors files for test/safetensors.test.ts.

A hand-written reference writer following the safetensors format as the reference library
(huggingface/safetensors, `prepare` in safetensors/src/tensor.rs) writes it:
  * 8-byte little-endian header length, then the header, then the data;
  * header: compact JSON, "__metadata__" first when present, then one entry per tensor
    {"dtype", "shape", "data_offsets"} in that field order, non-ASCII written as UTF-8;
    padded with spaces to a multiple of 8 bytes;
  * tensors sorted by dtype, descending in the reference's Dtype enum order (which lists dtypes
    in increasing alignment), then by name; data back to back in that order.
Half-precision values come from numpy (float16) and torch (bfloat16), independent of our code.

Run with /usr/bin/python3 (numpy + torch):  /usr/bin/python3 scripts/safetensors_golden.py
Writes test/fixtures/safetensors/{golden_all_dtypes,golden_smp_like}.safetensors and
golden_inputs.json (the inputs, floats as float32 bit patterns, so the test rebuilds them exactly).
"""
import json
import math
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "safetensors")

# The reference's Dtype enum order (increasing alignment); writers sort by it, descending.
DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
               "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
               "C64", "F64", "I64", "U64"]
ITEM = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
        "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
NP = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
      "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1"}


def f32(values):
    return np.array(values, dtype=np.float32)


def to_bytes(dtype, arr):
    if dtype == "F16":
        with np.errstate(over="ignore"):  # overflow to infinity is one of the cases
            return arr.astype(np.float32).astype("<f2").tobytes()
    if dtype == "BF16":
        t = torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return np.asarray(arr).astype(NP[dtype]).tobytes()


def write(path, tensors, metadata=None):
    """tensors: name -> (dtype, shape, numpy array)."""
    order = sorted(tensors, key=lambda n: (-DTYPE_ORDER.index(tensors[n][0]), n))
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    blobs = []
    offset = 0
    for name in order:
        dtype, shape, arr = tensors[name]
        data = to_bytes(dtype, arr)
        assert len(data) == int(np.prod(shape, dtype=np.int64)) * ITEM[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def bits(arr):
    return [int(b) for b in np.asarray(arr, dtype=np.float32).view(np.uint32)]


def describe(tensors, metadata):
    out = {"tensors": {}, "metadata": metadata}
    for name, (dtype, shape, arr) in tensors.items():
        if dtype in ("F32", "F16", "BF16"):
            out["tensors"][name] = {"dtype": dtype, "shape": shape, "f32bits": bits(arr)}
        elif dtype == "F64":
            out["tensors"][name] = {"dtype": dtype, "shape": shape, "f64": [float(v) for v in arr]}
        else:
            out["tensors"][name] = {"dtype": dtype, "shape": shape, "ints": [str(int(v)) for v in arr]}
    return out


# Float32 inputs that exercise half-precision rounding: ties, subnormals, overflow, signed zero,
# infinities and NaN.
HALF_INPUTS = f32([0.0, -0.0, 1.0, -2.5, 1 + 2**-11, 1 + 3 * 2**-11, 65504.0, 65519.0, 65520.0, 1e6,
                   2**-14, 2**-24, 2**-25, 3 * 2**-25, 2**-25 * 1.5, 1e-10, -(2**-20) * 1.75,
                   math.inf, -math.inf, math.nan, 0.1, -3.14159, 1 + 2**-8, 1 + 3 * 2**-8,
                   3.3895313892515355e38, 1e-40])

all_dtypes = {
    "z.f32": ("F32", [2, 3], f32([0.5, -1.25, 3.0e-7, 1e30, -0.0, 7.0])),
    "a.f32": ("F32", [1], f32([math.pi])),
    "half": ("F16", [len(HALF_INPUTS)], HALF_INPUTS),
    # NaN left out: torch's vectorised CPU path writes bfloat16 NaN as 0xffff, its scalar path
    # as 0x7fc0 (ours); both are NaN, but a golden file must not depend on which path ran.
    "brain": ("BF16", [len(HALF_INPUTS) - 1], HALF_INPUTS[~np.isnan(HALF_INPUTS)]),
    "double": ("F64", [3], np.array([math.e, -1e-300, 2.0 ** 70], dtype=np.float64)),
    "bn.num_batches_tracked": ("I64", [], np.array([123456], dtype=np.int64)),
    "big": ("I64", [3], np.array([-(2**62), 2**53 + 1, -1], dtype=np.int64)),
    "i32": ("I32", [2, 2], np.array([-(2**31), 2**31 - 1, 0, -7], dtype=np.int32)),
    "i16": ("I16", [3], np.array([-32768, 32767, 5], dtype=np.int16)),
    "i8": ("I8", [3], np.array([-128, 127, 0], dtype=np.int8)),
    "u8": ("U8", [3], np.array([0, 255, 9], dtype=np.uint8)),
    "u16": ("U16", [2], np.array([65535, 1], dtype=np.uint16)),
    "u32": ("U32", [2], np.array([4294967295, 2], dtype=np.uint32)),
    "flags": ("BOOL", [4], np.array([1, 0, 0, 1], dtype=np.uint8)),
    "empty": ("F32", [0, 3], f32([])),
    # Names that sort differently by UTF-16 code unit than by code point, and JSON escapes.
    "\uff5e": ("F32", [1], f32([1.0])),
    "\U0001f600": ("F32", [1], f32([2.0])),
    "é.weight": ("F32", [1], f32([3.0])),
    'quote"back\\slash\ttab\x01': ("F32", [1], f32([4.0])),
}
ALL_META = {"format": "pt"}

smp_like = {}
for block in ["encoder.bn1", "decoder.blocks.0.conv1.1"]:
    smp_like[f"{block}.weight"] = ("F32", [4], f32([1.0, 0.5, -0.25, 2.0]))
    smp_like[f"{block}.bias"] = ("F32", [4], f32([0.0, 0.1, 0.2, 0.3]))
    smp_like[f"{block}.running_mean"] = ("F32", [4], f32([0.01, -0.02, 0.03, -0.04]))
    smp_like[f"{block}.running_var"] = ("F32", [4], f32([1.0, 0.9, 1.1, 1.2]))
    smp_like[f"{block}.num_batches_tracked"] = ("I64", [], np.array([7], dtype=np.int64))
smp_like["encoder.conv1.weight"] = ("F32", [4, 3, 1, 1], f32(np.arange(12) / 8 - 0.75))
smp_like["segmentation_head.0.bias"] = ("F32", [2], f32([0.125, -0.125]))

os.makedirs(OUT, exist_ok=True)
write(os.path.join(OUT, "golden_all_dtypes.safetensors"), all_dtypes, ALL_META)
write(os.path.join(OUT, "golden_smp_like.safetensors"), smp_like)
with open(os.path.join(OUT, "golden_inputs.json"), "w") as f:
    json.dump({"all_dtypes": describe(all_dtypes, ALL_META), "smp_like": describe(smp_like, None)}, f, indent=1)
    f.write("\n")
print("wrote", OUT)
