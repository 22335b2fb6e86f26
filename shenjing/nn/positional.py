"""Position information for attention, which by itself ignores order: the fixed sinusoidal
encoding of "Attention Is All You Need" and a learned table (keras-hub's PositionEmbedding,
added to the inputs here).  Both add to (batch, time, features) inputs; ``start_index``
offsets the positions (decoding one step at a time)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..backend import device_of
from ..tensor import Tensor
from . import init
from ._constant_cache import device_constant
from .module import Module


def _positive(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer} expects a positive int for `{what}`, got {value!r}.")
    return int(value)


def sinusoidal_table(length, d_model, dtype="float32"):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    rates = np.exp(-np.log(10000.0) * np.arange(0, d_model, 2) / d_model)
    angles = pos * rates
    pe = np.empty((length, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, :d_model // 2])
    return pe.astype(dtype)


def _window(layer, x, start_index, limit, features):
    """Check (batch, time, features) input against the table; the positions' slice."""
    if x.ndim != 3 or x.shape[-1] != features:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' expects inputs of shape "
                         f"(batch, time, {features}), got {tuple(x.shape)}.")
    start = int(start_index)
    if start < 0 or start + x.shape[1] > limit:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' holds {limit} positions, but "
                         f"inputs of length {x.shape[1]} starting at {start} need "
                         f"{start + x.shape[1]}; raise the layer's length.")
    return slice(start, start + x.shape[1])


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal encoding (Vaswani et al. 2017) to (batch, time, d_model)
    inputs: y[b, t] = x[b, t] + PE[start_index + t].  No weights; the table is not saved (it
    is copied to the inputs' device and dtype once, then reused).

    >>> pe = sj.nn.SinusoidalPositionalEncoding(max_len=100, d_model=16)
    >>> pe(sj.zeros(2, 10, 16)).shape
    (2, 10, 16)
    """

    def __init__(self, max_len, d_model, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        layer = type(self).__name__
        self.max_len = _positive(max_len, "max_len", layer)
        self.d_model = _positive(d_model, "d_model", layer)
        self._table = sinusoidal_table(self.max_len, self.d_model, self.dtype)

    def forward(self, x, start_index=0):
        window = _window(self, x, start_index, self.max_len, self.d_model)
        dtype = x.dtype if x.dtype.kind == "f" else self._table.dtype
        table = device_constant(self, ("table", dtype), device_of(x.data),
                                lambda: self._table.astype(dtype, copy=False))
        return x + Tensor._wrap(table[window])

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len, "d_model": self.d_model}

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}"


class PositionalEmbedding(Module):
    """Adds a learned table ``position_embeddings`` (sequence_length, output_dim) to
    (batch, time, output_dim) inputs: y[b, t] = x[b, t] + table[start_index + t].
    ``output_dim`` defaults to the inputs' last axis (then the table is built on the first
    call).  Initialised glorot-uniform, as keras-hub's PositionEmbedding.

    >>> pos = sj.nn.PositionalEmbedding(sequence_length=50, output_dim=16)
    >>> pos(sj.randn(2, 10, 16)).shape
    (2, 10, 16)
    """

    def __init__(self, sequence_length, output_dim=None, initializer="glorot_uniform",
                 name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        layer = type(self).__name__
        self.sequence_length = _positive(sequence_length, "sequence_length", layer)
        self.output_dim = None if output_dim is None else \
            _positive(output_dim, "output_dim", layer)
        self.initializer = init.get(initializer)
        self.position_embeddings = None
        if self.output_dim is not None:
            self._build((None, None, self.output_dim))

    def build(self, input_shape):
        if not input_shape or not isinstance(input_shape[-1], numbers.Integral):
            raise ValueError(f"PositionalEmbedding '{self.name}' needs inputs (batch, time, "
                             f"features) with known features, got shape {input_shape}.")
        self.output_dim = int(input_shape[-1])
        self.position_embeddings = self.add_weight(
            (self.sequence_length, self.output_dim), self.initializer,
            name="position_embeddings")

    def forward(self, x, start_index=0):
        window = _window(self, x, start_index, self.sequence_length, self.output_dim)
        table = self.position_embeddings
        if window != slice(0, self.sequence_length):
            table = table[window]
        if x.dtype != table.dtype:
            x = ops.cast(x, table.dtype)
        return x + table

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "output_dim": self.output_dim, "initializer": init.serialize(self.initializer)}

    def extra_repr(self):
        return f"sequence_length={self.sequence_length}, output_dim={self.output_dim}"
