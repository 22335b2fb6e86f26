"""Reductions over axes (an int, a tuple, or None for all), with ``keepdims``."""
from __future__ import annotations

from .. import dtypes
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import expand_reduced, lift, normalize_axis


class Sum(Function):
    """z = Σ x over axes;  dz/dx = 1 (the gradient is broadcast back)."""

    def forward(self, x, axes, keepdims):
        self.saved = (x.shape, axes, keepdims)
        return x.sum(axis=axes, keepdims=keepdims)

    def backward(self, g):
        shape, axes, keepdims = self.saved
        return expand_reduced(g, shape, axes, keepdims)


class Mean(Function):
    """z = (1/n) Σ x over axes;  dz/dx = 1/n."""

    def forward(self, x, axes, keepdims):
        n = 1
        for a in axes:
            n *= x.shape[a]
        self.saved = (x.shape, axes, keepdims, n)
        return x.mean(axis=axes, keepdims=keepdims)

    def backward(self, g):
        shape, axes, keepdims, n = self.saved
        return expand_reduced(g / g.dtype.type(n), shape, axes, keepdims)


class Extremum(Function):
    """z = max (or min) over axes.  Ties share the gradient equally, as ``torch.amax``."""

    def forward(self, x, axes, keepdims, largest):
        out = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        self.saved = (x, out, axes, keepdims)
        return out if keepdims else out.squeeze(axis=axes)

    def backward(self, g):
        x, out, axes, keepdims = self.saved
        mask = x == out
        count = mask.sum(axis=axes, keepdims=True)
        g = expand_reduced(g, out.shape, axes, keepdims) if not keepdims else g
        return g * mask / count.astype(g.dtype)


class LogSumExp(Function):
    """z = m + ln Σ e^(x-m) with m = max x (no overflow);  dz/dx = softmax(x)."""

    def forward(self, x, axes, keepdims):
        xp = array_module(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(x - m)
        s = e.sum(axis=axes, keepdims=True)
        out = xp.log(s) + m
        self.saved = (e / s, axes, keepdims)
        return out if keepdims else out.squeeze(axis=axes)

    def backward(self, g):
        p, axes, keepdims = self.saved
        return expand_reduced(g, p.shape, axes, keepdims) * p


def _float(x):
    return x if x.data.dtype.kind == "f" else Tensor._wrap(
        x.data.astype(dtypes.get_default_dtype()))


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum over ``axis`` (int, tuple or None for all)."""
    x = lift(x)
    return Sum.apply(x, axes=normalize_axis(axis, x.ndim), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    x = _float(lift(x))
    return Mean.apply(x, axes=normalize_axis(axis, x.ndim), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Largest value over ``axis`` (like ``np.max`` / ``torch.amax``)."""
    x = lift(x)
    return Extremum.apply(x, axes=normalize_axis(axis, x.ndim), keepdims=keepdims, largest=True)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Smallest value over ``axis`` (like ``np.min`` / ``torch.amin``)."""
    x = lift(x)
    return Extremum.apply(x, axes=normalize_axis(axis, x.ndim), keepdims=keepdims, largest=False)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance Σ(x-x̄)²/(n-ddof).  ``ddof=0`` as NumPy/Keras; PyTorch's default is ``ddof=1``."""
    x = _float(lift(x))
    axes = normalize_axis(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims) / (n - ddof)


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation √var (see ``var`` for ``ddof``)."""
    from .elementwise import sqrt  # noqa: PLC0415

    return sqrt(var(x, axis, keepdims, ddof))


def logsumexp(x, axis=None, keepdims=False):
    """ln Σ exp(x) over ``axis``, computed without overflow."""
    x = _float(lift(x))
    return LogSumExp.apply(x, axes=normalize_axis(axis, x.ndim), keepdims=keepdims)


def _plain(name):
    def reduce(x, axis=None, keepdims=False):
        x = lift(x)
        ax = axis if axis is None or isinstance(axis, int) else tuple(axis)
        return Tensor._wrap(getattr(array_module(x.data), name)(x.data, axis=ax,
                                                                 keepdims=keepdims))

    reduce.__name__ = name
    reduce.__doc__ = f"``{name}`` over ``axis`` (not differentiable)."
    return reduce


argmax = _plain("argmax")
argmin = _plain("argmin")
any = _plain("any")  # noqa: A001
all = _plain("all")  # noqa: A001
