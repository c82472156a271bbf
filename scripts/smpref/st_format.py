"""safetensors, byte for byte as `safetensors.torch.save_file` (Rust `serialize`) writes it:
u64 little-endian header length, compact JSON header (tensors ordered by dtype, larger dtypes first
— I64 before F32 — then by name; optional `__metadata__` first), space-padded to a multiple of 8,
then the tensors' little-endian bytes back to back in header order."""
from __future__ import annotations

import json
import struct

import numpy as np

# Rust `Dtype` declaration order (the writer sorts by it, descending).
_DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
_NUMPY = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("int32"): "I32",
          np.dtype("float16"): "F16", np.dtype("float64"): "F64", np.dtype("uint8"): "U8"}
_FROM = {v: k for k, v in _NUMPY.items()}


def serialize(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    items = []
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        arr = arr if arr.flags.c_contiguous else arr.copy()  # (ascontiguousarray would make 0-d arrays 1-d)
        items.append((name, _NUMPY[arr.dtype], arr))
    items.sort(key=lambda it: (-_DTYPE_ORDER.index(it[1]), it[0].encode("utf-8")))
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, dtype, arr in items:
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(blobs)


def deserialize(data: bytes) -> dict[str, np.ndarray]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a : base + b], dtype=_FROM[info["dtype"]].newbyteorder("<")).reshape(info["shape"])
    return out
