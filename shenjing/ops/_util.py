"""Small helpers shared by the ops: operand lifting, broadcasting reduction, axis handling."""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..backend import array_module
from ..tensor import Tensor


def lift(value, like: Tensor | None = None) -> Tensor:
    """Turn an operand into a Tensor without upcasting ``like``.

    Python scalars take ``like``'s dtype (a float scalar with an integer tensor gives the
    default float dtype), so ``x * 0.5`` stays float32 as in PyTorch.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        if like is None:
            return Tensor(value)
        dt = like.data.dtype
        if isinstance(value, bool):
            pass
        elif isinstance(value, numbers.Integral):
            if dt.kind == "b":
                dt = np.dtype(np.int64)
        elif isinstance(value, numbers.Real):
            if dt.kind != "f":
                dt = dtypes.get_default_dtype()
        else:
            raise TypeError(f"complex numbers are not supported, got {value!r}.")
        xp = array_module(like.data)
        if xp is np:
            return Tensor._wrap(np.asarray(value, dtype=dt))
        # on a GPU, filled in place by a kernel: asarray would copy from the host and wait
        # for the stream (a synchronisation on every `x * 0.5`)
        return Tensor._wrap(xp.full((), value, dtype=dt))
    if isinstance(value, np.ndarray) or type(value).__module__.startswith("cupy"):
        return Tensor._wrap(value)
    return Tensor(value)


def lift_pair(a, b):
    if isinstance(a, Tensor):
        a, b = a, lift(b, a)
    else:
        b = lift(b)
        a = lift(a, b)
    return _float_wins(a, b), _float_wins(b, a)


def _float_wins(x, other):
    # int + float32 keeps float32 (as PyTorch); NumPy would give float64 for int32/int64
    kx, ko = x.data.dtype.kind, other.data.dtype.kind
    if kx in "iub" and ko == "f":
        return Tensor._wrap(x.data.astype(other.data.dtype))
    return x


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def normalize_axis(axis, ndim: int):
    """Return a sorted tuple of non-negative axes (all axes when ``axis`` is None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Tensor):
        axis = axis.tolist()
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions.")
        out.append(int(a) % max(ndim, 1))
    return tuple(sorted(set(out)))


def expand_reduced(grad, shape, axes, keepdims: bool):
    """Broadcast the gradient of a reduction over ``axes`` back to the input ``shape``."""
    xp = array_module(grad)
    if not keepdims and axes:
        grad = xp.expand_dims(grad, axes)
    return xp.broadcast_to(grad, shape)
