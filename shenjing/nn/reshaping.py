"""Spatial reshaping layers for (N, C, H, W) inputs, Keras names: ZeroPadding2D,
UpSampling2D, Cropping2D.  (``Flatten`` and ``Reshape`` live in ``core.py``.)

``padding`` / ``cropping`` take Keras' three forms: an int (all four sides), a pair
(symmetric height, symmetric width), or ((top, bottom), (left, right)).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..backend import device_of
from ..tensor import Tensor
from ._constant_cache import device_constant
from .conv import check_rank, ntuple
from .module import Module


def _sides(value, what, layer):
    """Keras' int / pair / pair-of-pairs as ((top, bottom), (left, right))."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) == 2 and all(isinstance(v, numbers.Integral) for v in items):
        items = ((items[0], items[0]), (items[1], items[1]))
    try:
        sides = tuple(ntuple(v, 2, what, layer, minimum=0) for v in items)
    except ValueError:
        sides = ()
    if len(sides) != 2:
        raise ValueError(f"{layer} expects `{what}` as an int, a pair of ints or "
                         f"((top, bottom), (left, right)), got {value!r}.")
    return sides


class ZeroPadding2D(Module):
    """Pad height and width with zeros.

    >>> sj.nn.ZeroPadding2D(((1, 0), (2, 2)))(sj.randn(1, 3, 4, 4)).shape
    (1, 3, 5, 8)
    """

    def __init__(self, padding=1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.padding = _sides(padding, "padding", "ZeroPadding2D")

    def forward(self, x):
        check_rank(self, tuple(x.shape), 2)
        (top, bottom), (left, right) = self.padding
        return ops.pad2d(x, (left, right, top, bottom))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}

    def extra_repr(self):
        return f"padding={self.padding}"


class Cropping2D(Module):
    """Remove rows and columns at the borders of height and width.

    >>> sj.nn.Cropping2D(((1, 1), (2, 0)))(sj.randn(1, 3, 6, 6)).shape
    (1, 3, 4, 4)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.cropping = _sides(cropping, "cropping", "Cropping2D")

    def forward(self, x):
        check_rank(self, tuple(x.shape), 2)
        (top, bottom), (left, right) = self.cropping
        h, w = x.shape[2:]
        if top + bottom >= h or left + right >= w:
            raise ValueError(f"Cropping2D '{self.name}' cannot crop {self.cropping} from "
                             f"input of shape {tuple(x.shape)}: nothing would be left.")
        return x[:, :, top:h - bottom, left:w - right]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}

    def extra_repr(self):
        return f"cropping={self.cropping}"


def _bilinear_matrix(n, scale, dtype):
    """(n·scale, n) host interpolation matrix, half-pixel centres (align_corners=False):
    output o samples the input at (o + ½)/scale - ½, clamped to the edges."""
    src = np.maximum((np.arange(n * scale) + 0.5) / scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = src - i0
    m = np.zeros((n * scale, n))
    rows = np.arange(n * scale)
    np.add.at(m, (rows, i0), 1 - frac)
    np.add.at(m, (rows, i1), frac)
    return m.astype(dtype)


class UpSampling2D(Module):
    """Repeat rows and columns ``size`` times ("nearest"), or interpolate ("bilinear", as
    Keras and torch's ``interpolate(mode="bilinear", align_corners=False)``).

    >>> sj.nn.UpSampling2D(2)(sj.randn(1, 3, 4, 4)).shape
    (1, 3, 8, 8)
    """

    def __init__(self, size=2, interpolation="nearest", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.size = ntuple(size, 2, "size", "UpSampling2D")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D expects interpolation 'nearest' or 'bilinear', "
                             f"got {interpolation!r}.")
        self.interpolation = interpolation

    def forward(self, x):
        check_rank(self, tuple(x.shape), 2)
        if self.interpolation == "nearest":
            return ops.upsample(x, self.size)
        if x.dtype.kind != "f":
            x = ops.cast(x, self.dtype)
        ah = self._interpolation(x, x.shape[2], self.size[0])
        aw = self._interpolation(x, x.shape[3], self.size[1])
        return ops.matmul(ops.matmul(ah, x), ops.transpose(aw))

    def _interpolation(self, x, n, scale):
        """The bilinear matrix for an axis of ``n`` pixels on x's device and dtype (made and
        copied once per size, device and dtype)."""
        m = device_constant(self, ("bilinear", n, scale, x.dtype), device_of(x.data),
                            lambda: _bilinear_matrix(n, scale, x.dtype))
        return Tensor._wrap(m)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation!r}"
