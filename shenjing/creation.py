"""Functions that make tensors.  Random ones draw from ``shenjing.random.generator()``.

Each takes ``device=`` ("cpu", "cuda", "cuda:N"): values are made on the host (random ones
by the host generator, so a seeded draw is the same on every device) and copied once.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .backend import array_module, to_device
from .device import device as _device
from .random import generator
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def _make(array, dtype, requires_grad, device=None):
    array = array if dtype is None else array.astype(dtypes.resolve(dtype), copy=False)
    if device is not None:
        array = to_device(array, _device(device))
    t = Tensor._wrap(array)
    return t.requires_grad_(True) if requires_grad else t


def _float(dtype):
    return dtypes.resolve(dtype) or dtypes.get_default_dtype()


def tensor(data, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, NumPy/CuPy arrays, scalars),
    on ``device`` (default: where ``data`` is; the CPU for lists and NumPy arrays).

    Python floats become float32 (the default); NumPy arrays keep their dtype.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with the array when no conversion is needed."""
    if isinstance(data, Tensor):
        return data.to(device, dtype) if device is not None else (
            data if dtype is None else data.astype(dtype))
    if (device is None and isinstance(data, np.ndarray)
            and (dtype is None or data.dtype == np.dtype(dtype))):
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    return Tensor._wrap(np.asarray(array))


def zeros(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of zeros."""
    return _make(np.zeros(_shape(shape), dtype=_float(dtype)), None, requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_shape(shape), dtype=_float(dtype)), None, requires_grad, device)


def empty(*shape, dtype=None, device=None) -> Tensor:
    return _make(np.empty(_shape(shape), dtype=_float(dtype)), None, False, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    """A tensor filled with ``fill_value`` (float dtype unless ``dtype`` says otherwise)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None and isinstance(fill_value, bool):
        dtype = dtypes.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = dtypes.int64
    return _make(np.full(shape, fill_value, dtype=_float(dtype)), None, requires_grad, device)


def _like(x, fill_value, dtype, requires_grad, device):
    """A tensor of ``x``'s shape filled with ``fill_value``, on ``x``'s device by default."""
    dt = dtypes.resolve(dtype) or x.dtype
    if device is None:
        xp = array_module(x.data) if isinstance(x, Tensor) else np
        return _make(xp.full(x.shape, fill_value, dtype=dt), None, requires_grad)
    return _make(np.full(x.shape, fill_value, dtype=dt), None, requires_grad, device)


def zeros_like(x, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Zeros shaped like ``x``, on ``x``'s device unless ``device`` says otherwise."""
    return _like(x, 0, dtype, requires_grad, device)


def ones_like(x, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Ones shaped like ``x``, on ``x``'s device unless ``device`` says otherwise."""
    return _like(x, 1, dtype, requires_grad, device)


def full_like(x, fill_value, dtype=None, device=None) -> Tensor:
    """``fill_value`` in ``x``'s shape, on ``x``'s device unless ``device`` says otherwise."""
    return _like(x, fill_value, dtype, False, device)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Evenly spaced values in [start, stop): integers stay int64, floats become float32."""
    if stop is None:
        start, stop = 0, start
    a = np.arange(start, stop, step)
    if dtype is None:
        dtype = dtypes.int64 if a.dtype.kind in "iu" else dtypes.get_default_dtype()
    return _make(a, dtype, requires_grad, device)


def linspace(start, stop, num, dtype=None, device=None) -> Tensor:
    """``num`` evenly spaced values from start to stop inclusive."""
    return _make(np.linspace(start, stop, num).astype(_float(dtype)), None, False, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Identity matrix (n × m)."""
    return _make(np.eye(n, m, dtype=_float(dtype)), None, requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples N(0, 1)."""
    dt = _float(dtype)
    return _make(generator().standard_normal(_shape(shape), dtype=np.float64).astype(dt),
                 None, requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _float(dtype)
    return _make(generator().random(_shape(shape)).astype(dt), None, requires_grad, device)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Random integers in [low, high) (int64)."""
    if high is None:
        low, high = 0, low
    size = (size,) if isinstance(size, int) else tuple(size)
    return _make(generator().integers(low, high, size=size).astype(
        dtypes.resolve(dtype) or dtypes.int64), None, False, device)


def normal(mean=0.0, std=1.0, size=(), dtype=None, device=None) -> Tensor:
    """Samples from N(mean, std²)."""
    size = (size,) if isinstance(size, int) else tuple(size)
    return _make(generator().normal(mean, std, size).astype(_float(dtype)), None, False, device)


def uniform(low=0.0, high=1.0, size=(), dtype=None, device=None) -> Tensor:
    """Samples from U[low, high)."""
    size = (size,) if isinstance(size, int) else tuple(size)
    return _make(generator().uniform(low, high, size).astype(_float(dtype)), None, False,
                 device)
