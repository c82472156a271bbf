"""Deterministic pseudo-random weights for every state_dict entry, from its key and shape alone.

The same formula is implemented in TypeScript (test/smpWeights.ts); both give bit-identical
float32 values, so numerical tests need no weight files.

  seed  = FNV-1a 32-bit hash of the key's UTF-8 bytes
  u_i   = the i-th output (i = 1, 2, ...) of mulberry32(seed), i.e. a uint32 / 2**32, in row-major
          order of the PyTorch shape
  value = float64 arithmetic below, rounded to float32 once

  kind (from the key and the set of keys):
    <p>.running_mean                     u - 0.5               ∈ [-0.5, 0.5)
    <p>.running_var                      0.5 + u               ∈ [0.5, 1.5)
    <p>.weight  with <p>.running_mean    0.5 + u  (BN gamma)   ∈ [0.5, 1.5)
    <p>.bias    with <p>.running_mean    u - 0.5  (BN beta)    ∈ [-0.5, 0.5)
    <p>.weight  (rank ≥ 2)               sqrt(6 / fan_in) * (2u - 1), fan_in = prod(shape[1:])
    <p>.bias    (otherwise)              0.1 * (2u - 1)        ∈ [-0.1, 0.1)
    <p>.num_batches_tracked              0 (int64)
"""
from __future__ import annotations

import math

import numpy as np

MASK = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & MASK
    return h


def mulberry32_uniform(seed: int, n: int) -> np.ndarray:
    """The first n outputs of mulberry32(seed) as float64 in [0, 1) (vectorised: its state is a counter).
    uint32 numpy arithmetic wraps modulo 2**32, as Math.imul and `| 0` do."""
    with np.errstate(over="ignore"):
        a = np.arange(1, n + 1, dtype=np.uint32) * np.uint32(0x6D2B79F5) + np.uint32(seed)
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t ^= t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))
        r = t ^ (t >> np.uint32(14))
    return r.astype(np.float64) * (1.0 / 4294967296.0)


def weight_kind(key: str, shape: tuple[int, ...], keys: set[str]) -> str:
    prefix, _, param = key.rpartition(".")
    if param == "running_mean":
        return "bn.running_mean"
    if param == "running_var":
        return "bn.running_var"
    if param == "num_batches_tracked":
        return "bn.num_batches_tracked"
    is_norm = f"{prefix}.running_mean" in keys
    if param == "weight":
        if is_norm:
            return "bn.weight"
        if len(shape) >= 2:
            return "weight"
    if param == "bias":
        return "bn.bias" if is_norm else "bias"
    raise ValueError(f"no deterministic-weight rule for key {key} with shape {list(shape)}")


def deterministic_value(key: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """float32 array of `shape` (int64 zeros for num_batches_tracked)."""
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    if kind == "bn.num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    u = mulberry32_uniform(fnv1a32(key), n)
    if kind in ("bn.running_mean", "bn.bias"):
        v = u - 0.5
    elif kind in ("bn.running_var", "bn.weight"):
        v = 0.5 + u
    elif kind == "weight":
        fan_in = int(np.prod(shape[1:]))
        v = math.sqrt(6.0 / fan_in) * (2.0 * u - 1.0)
    elif kind == "bias":
        v = 0.1 * (2.0 * u - 1.0)
    else:
        raise ValueError(kind)
    return v.astype(np.float32).reshape(shape)


def deterministic_state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    keys = set(shapes)
    return {k: deterministic_value(k, s, weight_kind(k, s, keys)) for k, s in shapes.items()}


def fill_deterministic(module) -> None:
    """Overwrites every parameter and buffer of a torch module with the formula's values."""
    import torch

    sd = module.state_dict()
    values = deterministic_state_dict({k: tuple(v.shape) for k, v in sd.items()})
    with torch.no_grad():
        for k, t in sd.items():
            t.copy_(torch.from_numpy(values[k]))


def deterministic_input(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A fixture input: U[-1, 1) from the same generator, seeded by the fixture's name."""
    n = int(np.prod(shape))
    u = mulberry32_uniform(fnv1a32(f"input:{name}"), n)
    return (2.0 * u - 1.0).astype(np.float32).reshape(shape)
