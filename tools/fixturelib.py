"""Shared helpers for the scripts that write PyTorch parity fixtures.

Fixtures are safetensors files (written here without the safetensors package, which
Debian does not ship): a little-endian u64 header length, a JSON header, raw bytes.

Big models are not committed with their weights: both sides fill every parameter and
buffer from formula_value(name, shape), so only inputs and expected outputs are
stored. The C twin is tu_formula_weights() in tests/testutil.c; keep them identical.
"""
import json
import math
import struct

import numpy as np

MASK64 = (1 << 64) - 1


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 arrays."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def formula_uniform(name: str, n: int) -> np.ndarray:
    """n values in [-1, 1), exactly as the C side computes them (float64)."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) ^ (i * np.uint64(0x9E3779B97F4A7C15))
        z = _mix(z)
    top = (z >> np.uint64(40)).astype(np.float64)  # 24 bits
    return top / 8388608.0 - 1.0


def formula_value(name: str, shape) -> np.ndarray:
    """The deterministic value of a parameter or buffer, as float32."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = formula_uniform(name, n)
    if name.endswith("running_var"):
        v = 0.75 + 0.25 * u
    elif name.endswith("running_mean"):
        v = 0.1 * u
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = u * math.sqrt(6.0 / fan_in)
    elif name.endswith("weight"):
        v = 1.0 + 0.1 * u
    else:
        v = 0.1 * u
    return v.astype(np.float32).reshape(shape)


def fill_formula(model):
    """Overwrite every parameter and float buffer of a torch model by formula."""
    import torch

    with torch.no_grad():
        for name, t in list(model.state_dict(keep_vars=True).items()):
            if name.endswith("num_batches_tracked"):
                continue
            t.copy_(torch.from_numpy(formula_value(name, tuple(t.shape))))


def save_safetensors(path, tensors: dict, metadata: dict = None, metadata_first=False):
    """tensors: name -> numpy array (float32 / int64). Written atomically.
    metadata_first: "__metadata__" leads the header, as cnn_safetensors_save writes it."""
    import os

    header = {}
    if metadata and metadata_first:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64",
                 np.dtype("float64"): "F64", np.dtype("int32"): "I32"}[arr.dtype]
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata and not metadata_first:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def state_dict_numpy(model):
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}
