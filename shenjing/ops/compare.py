"""Comparisons and logic: results are boolean tensors outside the graph."""
from __future__ import annotations

import operator

from ..backend import array_module
from ..tensor import Tensor
from ._util import lift_pair


def _compare(op, doc):
    def compare(a, b):
        a, b = lift_pair(a, b)
        return Tensor._wrap(op(a.data, b.data))

    compare.__doc__ = doc
    return compare


equal = _compare(operator.eq, "a == b elementwise (boolean, not differentiable).")
not_equal = _compare(operator.ne, "a != b elementwise.")
less = _compare(operator.lt, "a < b elementwise.")
less_equal = _compare(operator.le, "a <= b elementwise.")
greater = _compare(operator.gt, "a > b elementwise.")
greater_equal = _compare(operator.ge, "a >= b elementwise.")
logical_and = _compare(operator.and_, "a & b elementwise.")
logical_or = _compare(operator.or_, "a | b elementwise.")


def logical_not(x):
    """~x for boolean tensors."""
    return Tensor._wrap(array_module(x.data).logical_not(x.data))


def isnan(x):
    return Tensor._wrap(array_module(x.data).isnan(x.data))


def isfinite(x):
    return Tensor._wrap(array_module(x.data).isfinite(x.data))


def allclose(a, b, rtol=1e-5, atol=1e-8):
    a, b = lift_pair(a, b)
    return bool(array_module(a.data).allclose(a.data, b.data, rtol=rtol, atol=atol))
