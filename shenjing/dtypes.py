"""Dtypes: float32 by default, float64 kept where asked, integers and bools for labels/masks.

Promotion follows NumPy between arrays, but Python scalars never upcast a tensor
(``x * 0.5`` stays float32), matching PyTorch.
"""
from __future__ import annotations

import numpy as np

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype given to float data created without an explicit dtype (float32)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Set the default float dtype (float32 or float64)."""
    global _default_float
    dtype = np.dtype(dtype)
    if dtype not in (float32, float64, float16):
        raise ValueError(f"default dtype must be a float dtype, got {dtype}.")
    _default_float = dtype


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def resolve(dtype):
    """Normalise a user dtype spelling ("float32", np.float32, sj.float32) to np.dtype or None."""
    return None if dtype is None else np.dtype(dtype)
