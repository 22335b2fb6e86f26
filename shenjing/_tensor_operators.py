"""Tensor operators and method shortcuts (a mixin of ``Tensor``, kept apart for size).

Each one delegates to the differentiable function of the same meaning in ``shenjing.ops``
(``a + b`` is ``ops.add(a, b)``, ``x.sum(axis)`` is ``ops.sum(x, axis)``); none computes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tensor import Tensor

ops = None  # shenjing.ops, bound by tensor.py once Tensor exists (ops import Tensor)


class TensorOperators:
    """``Tensor``'s Python operators and NumPy-style methods, all delegating to ``ops``."""

    __slots__ = ()

    @property
    def T(self) -> "Tensor":
        """Reverse all axes (``x.transpose()``)."""
        return ops.transpose(self)

    # ------------------------------------------------------------------ operators
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __rpow__(self, o): return ops.pow(o, self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __eq__(self, o): return ops.equal(self, o)
    def __ne__(self, o): return ops.not_equal(self, o)
    def __lt__(self, o): return ops.less(self, o)
    def __le__(self, o): return ops.less_equal(self, o)
    def __gt__(self, o): return ops.greater(self, o)
    def __ge__(self, o): return ops.greater_equal(self, o)
    def __invert__(self): return ops.logical_not(self)
    def __and__(self, o): return ops.logical_and(self, o)
    def __or__(self, o): return ops.logical_or(self, o)

    __hash__ = object.__hash__  # defining __eq__ would otherwise make tensors unhashable

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return ops.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return ops.std(self, axis, keepdims, ddof)
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return ops.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return ops.all(self, axis, keepdims)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape): return ops.reshape(self, _shape_args(shape))
    view = reshape
    def flatten(self, start_axis=0, end_axis=-1): return ops.flatten(self, start_axis, end_axis)
    def transpose(self, *axes): return ops.transpose(self, _shape_args(axes) or None)
    def permute(self, *axes): return ops.transpose(self, _shape_args(axes))
    def swapaxes(self, a, b): return ops.swapaxes(self, a, b)
    def expand(self, *shape): return ops.broadcast_to(self, _shape_args(shape))
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def flip(self, axis=None): return ops.flip(self, axis)
    def split(self, sections, axis=0): return ops.split(self, sections, axis)

    # ------------------------------------------------------------------ elementwise
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def maximum(self, o): return ops.maximum(self, o)
    def minimum(self, o): return ops.minimum(self, o)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def relu(self): return ops.relu(self)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def matmul(self, o): return ops.matmul(self, o)


def _shape_args(args):
    """Accept both ``x.reshape(2, 3)`` and ``x.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)
