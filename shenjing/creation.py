"""Functions that make tensors.  Random ones draw from ``shenjing.random.generator()``."""
from __future__ import annotations

import numpy as np

from . import dtypes
from .random import generator
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def _make(array, dtype, requires_grad):
    t = Tensor._wrap(array if dtype is None else array.astype(dtypes.resolve(dtype), copy=False))
    return t.requires_grad_(True) if requires_grad else t


def _float(dtype):
    return dtypes.resolve(dtype) or dtypes.get_default_dtype()


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, NumPy arrays, scalars).

    Python floats become float32 (the default); NumPy arrays keep their dtype.
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def as_tensor(data, dtype=None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array when no conversion is needed."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.astype(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        return Tensor._wrap(data)
    return Tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    return Tensor._wrap(np.asarray(array))


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of zeros."""
    return _make(np.zeros(_shape(shape), dtype=_float(dtype)), None, requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_shape(shape), dtype=_float(dtype)), None, requires_grad)


def empty(*shape, dtype=None) -> Tensor:
    return Tensor._wrap(np.empty(_shape(shape), dtype=_float(dtype)))


def full(shape, fill_value, dtype=None, requires_grad=False) -> Tensor:
    """A tensor filled with ``fill_value`` (float dtype unless ``dtype`` says otherwise)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None and isinstance(fill_value, bool):
        dtype = dtypes.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = dtypes.int64
    return _make(np.full(shape, fill_value, dtype=_float(dtype)), None, requires_grad)


def zeros_like(x, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(x.shape, dtype=dtypes.resolve(dtype) or x.dtype), None, requires_grad)


def ones_like(x, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.ones(x.shape, dtype=dtypes.resolve(dtype) or x.dtype), None, requires_grad)


def full_like(x, fill_value, dtype=None) -> Tensor:
    return Tensor._wrap(np.full(x.shape, fill_value, dtype=dtypes.resolve(dtype) or x.dtype))


def arange(start, stop=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    """Evenly spaced values in [start, stop): integers stay int64, floats become float32."""
    if stop is None:
        start, stop = 0, start
    a = np.arange(start, stop, step)
    if dtype is None:
        dtype = dtypes.int64 if a.dtype.kind in "iu" else dtypes.get_default_dtype()
    return _make(a, dtype, requires_grad)


def linspace(start, stop, num, dtype=None) -> Tensor:
    """``num`` evenly spaced values from start to stop inclusive."""
    return Tensor._wrap(np.linspace(start, stop, num).astype(_float(dtype)))


def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    """Identity matrix (n × m)."""
    return _make(np.eye(n, m, dtype=_float(dtype)), None, requires_grad)


def randn(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal samples N(0, 1)."""
    dt = _float(dtype)
    return _make(generator().standard_normal(_shape(shape), dtype=np.float64).astype(dt),
                 None, requires_grad)


def rand(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _float(dtype)
    return _make(generator().random(_shape(shape)).astype(dt), None, requires_grad)


def randint(low, high=None, size=(), dtype=None) -> Tensor:
    """Random integers in [low, high) (int64)."""
    if high is None:
        low, high = 0, low
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor._wrap(generator().integers(low, high, size=size).astype(
        dtypes.resolve(dtype) or dtypes.int64))


def normal(mean=0.0, std=1.0, size=(), dtype=None) -> Tensor:
    """Samples from N(mean, std²)."""
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor._wrap(generator().normal(mean, std, size).astype(_float(dtype)))


def uniform(low=0.0, high=1.0, size=(), dtype=None) -> Tensor:
    """Samples from U[low, high)."""
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor._wrap(generator().uniform(low, high, size).astype(_float(dtype)))
