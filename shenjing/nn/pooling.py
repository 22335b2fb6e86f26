"""Pooling layers, channels first, Keras names: MaxPooling1D/2D, AveragePooling1D/2D,
GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D, and AdaptiveAveragePooling2D (PyTorch's
AdaptiveAvgPool2d).

``padding="same"`` follows Keras: ⌈n / stride⌉ outputs per axis, the padding split with the
extra row at the end; max pooling pads with -inf (never the maximum) and average pooling
divides each window by the number of real input values it covers (TensorFlow's rule).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import device_of
from ..tensor import Tensor
from ._constant_cache import device_constant
from .conv import check_rank, ntuple, pad_spatial, same_pads
from .module import Module


class _Pooling(Module):
    """Windowed max or mean over the spatial axes of (N, C, *spatial)."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        who, n = type(self).__name__, self.rank
        self.pool_size = ntuple(pool_size, n, "pool_size", who)
        self.strides = self.pool_size if strides is None else ntuple(strides, n, "strides", who)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who} expects padding 'valid' or 'same', got {padding!r}.")
        self.padding = padding.lower()

    def forward(self, x):
        check_rank(self, tuple(x.shape), self.rank)
        pads = [(0, 0)] * self.rank
        if self.padding == "same":
            pads = [same_pads(n, k, s) for n, k, s in zip(x.shape[2:], self.pool_size,
                                                          self.strides)]
        if any(k > n + b + a for k, n, (b, a) in zip(self.pool_size, x.shape[2:], pads)):
            raise ValueError(f"{type(self).__name__} '{self.name}': pool_size "
                             f"{self.pool_size} is larger than the input's spatial size "
                             f"{tuple(x.shape[2:])} (input shape {tuple(x.shape)}); use a "
                             "smaller pool_size or padding='same'.")
        return self._pool(x, pads)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}

    def extra_repr(self):
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


class _MaxPooling(_Pooling):
    def _pool(self, x, pads):
        fn = ops.max_pool2d if self.rank == 2 else ops.max_pool1d
        if all(b == a for b, a in pads):  # the op pads symmetrically with -inf itself
            return fn(x, self.pool_size, self.strides, tuple(b for b, _ in pads))
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        return fn(pad_spatial(x, pads, value=low), self.pool_size, self.strides)


class _AveragePooling(_Pooling):
    def _pool(self, x, pads):
        fn = ops.avg_pool2d if self.rank == 2 else ops.avg_pool1d
        if all(b == a for b, a in pads):
            return fn(x, self.pool_size, self.strides, tuple(b for b, _ in pads),
                      count_include_pad=False)
        y = fn(pad_spatial(x, pads), self.pool_size, self.strides)
        key = ("avg_scale", *x.shape[2:], str(y.dtype))
        scale = device_constant(self, key, device_of(y.data),
                                lambda: self._edge_scale(x.shape[2:], y.shape[2:], pads, y.dtype))
        return y * Tensor._wrap(scale)

    def _edge_scale(self, in_sizes, out_sizes, pads, dtype):
        """Window size / real (unpadded) values per output, on the host: y was divided by
        the full window, so edge outputs of an asymmetrically padded input are rescaled."""
        counts = [[min(o * s - b + k, n) - max(o * s - b, 0) for o in range(m)]
                  for n, k, s, (b, _), m in zip(in_sizes, self.pool_size, self.strides,
                                                pads, out_sizes)]
        scale = np.asarray(float(np.prod(self.pool_size)), dtype=np.float64)
        for c in counts:
            scale = scale[..., None] / np.asarray(c, dtype=np.float64)
        return scale.astype(dtype)


class MaxPooling2D(_MaxPooling):
    """Max over pool_size windows of (N, C, H, W); strides default to pool_size.

    >>> sj.nn.MaxPooling2D()(sj.randn(1, 3, 28, 28)).shape
    (1, 3, 14, 14)
    """


class MaxPooling1D(_MaxPooling):
    """Max over windows of length pool_size of (N, C, L).

    >>> sj.nn.MaxPooling1D(3, padding="same")(sj.randn(2, 4, 10)).shape
    (2, 4, 4)
    """

    rank = 1


class AveragePooling2D(_AveragePooling):
    """Mean over pool_size windows of (N, C, H, W); "same" padding is not counted.

    >>> sj.nn.AveragePooling2D(3, strides=2, padding="same")(sj.randn(1, 3, 7, 7)).shape
    (1, 3, 4, 4)
    """


class AveragePooling1D(_AveragePooling):
    """Mean over windows of length pool_size of (N, C, L)."""

    rank = 1


class _GlobalPooling(Module):
    """Reduce all spatial axes: (N, C, *spatial) → (N, C), or (N, C, 1, ...) with keepdims."""

    rank = 2

    def __init__(self, keepdims=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.keepdims = bool(keepdims)

    def forward(self, x):
        check_rank(self, tuple(x.shape), self.rank)
        return self._reduce(x, axis=tuple(range(2, 2 + self.rank)), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over H and W: (N, C, H, W) → (N, C).

    >>> sj.nn.GlobalAveragePooling2D()(sj.randn(2, 8, 4, 4)).shape
    (2, 8)
    """

    _reduce = staticmethod(ops.mean)


class GlobalAveragePooling1D(GlobalAveragePooling2D):
    """Mean over L: (N, C, L) → (N, C)."""

    rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over H and W: (N, C, H, W) → (N, C); the gradient goes to the maxima."""

    _reduce = staticmethod(ops.max)


class GlobalMaxPooling1D(GlobalMaxPooling2D):
    """Max over L: (N, C, L) → (N, C)."""

    rank = 1


class AdaptiveAveragePooling2D(Module):
    """Average-pool (N, C, H, W) to a fixed ``output_size`` (int or (OH, OW); None keeps an
    axis) whatever the input size: PyTorch's AdaptiveAvgPool2d; window i of an axis covers
    [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).

    >>> sj.nn.AdaptiveAveragePooling2D((2, 3))(sj.randn(1, 8, 7, 7)).shape
    (1, 8, 2, 3)
    """

    def __init__(self, output_size, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else \
            (output_size, output_size)
        if len(sizes) != 2 or not all(s is None or (isinstance(s, int) and s > 0)
                                      for s in sizes):
            raise ValueError(f"AdaptiveAveragePooling2D expects output_size to be a positive "
                             f"int or a pair of positive ints (or None), got {output_size!r}.")
        self.output_size = sizes

    def forward(self, x):
        check_rank(self, tuple(x.shape), 2)
        return ops.adaptive_avg_pool2d(x, self.output_size)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}

    def extra_repr(self):
        return f"output_size={self.output_size}"
