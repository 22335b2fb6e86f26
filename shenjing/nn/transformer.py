"""Transformer encoder and decoder layers with PyTorch's arguments, sub-module names and
numerics (``batch_first=True`` by default here), so a torch ``state_dict`` loads as it is:

    layer.load_state_dict({k: v.numpy() for k, v in torch_layer.state_dict().items()})

Post-norm (``norm_first=False``, the original Transformer) and pre-norm:

    post:  x = norm1(x + SA(x));        x = norm2(x + FF(x))
    pre:   x = x + SA(norm1(x));        x = x + FF(norm2(x))
    FF(x) = linear2(dropout(activation(linear1(x))))

The decoder adds cross-attention on ``memory`` between the two (``multihead_attn``,
``norm2``; its feed-forward norm is ``norm3``).  Masks follow torch: boolean ``*_mask`` and
``*_key_padding_mask`` mark *masked* positions with True, float masks are added.
"""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from .. import ops
from .attention import MultiheadAttention, torch_state
from .containers import ModuleList
from .core import Dropout, Linear
from .module import Module
from .normalization import LayerNorm

_ACTIVATIONS = {"relu": ops.relu, "gelu": ops.gelu}


def generate_square_subsequent_mask(size, dtype="float32"):
    """(size, size) float mask, -inf above the diagonal: position i sees positions ≤ i
    (torch's ``nn.Transformer.generate_square_subsequent_mask``)."""
    return np.triu(np.full((size, size), -math.inf, dtype=dtype), k=1)


def _activation(activation):
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got "
                         f"{activation!r}.")
    return _ACTIVATIONS[activation]


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: arguments, feed-forward, copying."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                 batch_first, norm_first, bias, name, dtype, trainable):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        layer = type(self).__name__
        for what, value in (("d_model", d_model), ("nhead", nhead),
                            ("dim_feedforward", dim_feedforward)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{layer} expects a positive int for `{what}`, got {value!r}.")
        if d_model % nhead:
            raise ValueError(f"{layer}: d_model={d_model} must be divisible by nhead={nhead} "
                             "(each head gets d_model // nhead features); change one of them.")
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.dropout_rate, self.layer_norm_eps = float(dropout), float(layer_norm_eps)
        self.batch_first, self.norm_first, self.bias = bool(batch_first), bool(norm_first), \
            bool(bias)
        self.activation_name = activation if isinstance(activation, str) else None
        self.activation = _activation(activation)
        self._kw = dict(dtype=dtype, trainable=trainable)

    def _attention(self):
        return MultiheadAttention(self.d_model, self.nhead, dropout=self.dropout_rate,
                                  bias=self.bias, batch_first=True, **self._kw)

    def _feed_forward_layers(self):
        self.linear1 = Linear(self.d_model, self.dim_feedforward, bias=self.bias, **self._kw)
        self.dropout = Dropout(self.dropout_rate)
        self.linear2 = Linear(self.dim_feedforward, self.d_model, bias=self.bias, **self._kw)

    def _norm(self):
        return LayerNorm(self.d_model, eps=self.layer_norm_eps, bias=self.bias, **self._kw)

    def _ff_block(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    def _batch_first(self, *xs):
        """(L, B, E) inputs to (B, L, E) when ``batch_first=False`` (and back)."""
        return xs if self.batch_first else tuple(ops.swapaxes(x, 0, 1) for x in xs)

    @classmethod
    def from_torch(cls, module):
        """A copy of the matching ``torch.nn.Transformer*Layer`` (configuration and
        weights)."""
        sa = module.self_attn
        act = module.activation
        act = {"relu": "relu", "gelu": "gelu"}.get(getattr(act, "__name__", ""), act)
        layer = cls(sa.embed_dim, sa.num_heads, module.linear1.out_features,
                    dropout=module.dropout.p, activation=act, layer_norm_eps=module.norm1.eps,
                    batch_first=sa.batch_first, norm_first=module.norm_first,
                    bias=module.linear1.bias is not None)
        layer.load_state_dict(torch_state(module))
        return layer

    def get_config(self):
        if self.activation_name is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' has a callable activation, "
                             "which get_config cannot describe; use 'relu' or 'gelu'.")
        return {**super().get_config(), "d_model": self.d_model, "nhead": self.nhead,
                "dim_feedforward": self.dim_feedforward, "dropout": self.dropout_rate,
                "activation": self.activation_name, "layer_norm_eps": self.layer_norm_eps,
                "batch_first": self.batch_first, "norm_first": self.norm_first,
                "bias": self.bias}

    def extra_repr(self):
        return (f"d_model={self.d_model}, nhead={self.nhead}, "
                f"dim_feedforward={self.dim_feedforward}, norm_first={self.norm_first}")


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and feed-forward, each with a residual and a LayerNorm (torch's
    ``nn.TransformerEncoderLayer``).  ``forward(src, src_mask=None,
    src_key_padding_mask=None, is_causal=False)``; ``is_causal=True`` without ``src_mask``
    applies the causal mask itself.

    >>> layer = sj.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64)
    >>> layer(sj.randn(2, 10, 32)).shape
    (2, 10, 32)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, bias=True,
                 name=None, dtype=None, trainable=True):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, name, dtype, trainable)
        self.self_attn = self._attention()
        self._feed_forward_layers()
        self.norm1, self.norm2 = self._norm(), self._norm()
        self.dropout1, self.dropout2 = Dropout(self.dropout_rate), Dropout(self.dropout_rate)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        (x,) = self._batch_first(src)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self.dropout2(self._ff_block(self.norm2(x)))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self.dropout2(self._ff_block(x)))
        return self._batch_first(x)[0]

    def _sa_block(self, x, mask, padding, causal):
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                                need_weights=False, is_causal=causal)
        return self.dropout1(out)


class TransformerDecoderLayer(_TransformerLayer):
    """Causal self-attention, cross-attention on ``memory`` and feed-forward, each with a
    residual and a LayerNorm (torch's ``nn.TransformerDecoderLayer``).
    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.  As in
    torch, the self-attention is causal only when asked: pass ``tgt_is_causal=True`` (no
    mask needed here) or a ``tgt_mask``.

    >>> layer = sj.nn.TransformerDecoderLayer(d_model=32, nhead=4, dim_feedforward=64)
    >>> layer(sj.randn(2, 7, 32), sj.randn(2, 10, 32), tgt_is_causal=True).shape
    (2, 7, 32)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, bias=True,
                 name=None, dtype=None, trainable=True):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, name, dtype, trainable)
        self.self_attn = self._attention()
        self.multihead_attn = self._attention()
        self._feed_forward_layers()
        self.norm1, self.norm2, self.norm3 = self._norm(), self._norm(), self._norm()
        self.dropout1, self.dropout2, self.dropout3 = (Dropout(self.dropout_rate)
                                                       for _ in range(3))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x, memory = self._batch_first(tgt, memory)
        sa = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        ca = (memory, memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *sa)
            x = x + self._mha_block(self.norm2(x), *ca)
            x = x + self.dropout3(self._ff_block(self.norm3(x)))
        else:
            x = self.norm1(x + self._sa_block(x, *sa))
            x = self.norm2(x + self._mha_block(x, *ca))
            x = self.norm3(x + self.dropout3(self._ff_block(x)))
        return self._batch_first(x)[0]

    def _sa_block(self, x, mask, padding, causal):
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                                need_weights=False, is_causal=causal)
        return self.dropout1(out)

    def _mha_block(self, x, memory, mask, padding, causal):
        out, _ = self.multihead_attn(x, memory, memory, attn_mask=mask,
                                     key_padding_mask=padding, need_weights=False,
                                     is_causal=causal)
        return self.dropout2(out)


def _stack(layer, num_layers, kind):
    """``num_layers`` independent layers: deep copies of a layer (as torch), or the results
    of calling a factory."""
    if isinstance(num_layers, bool) or not isinstance(num_layers, numbers.Integral) \
            or num_layers <= 0:
        raise ValueError(f"{kind} expects a positive int for num_layers, got {num_layers!r}.")
    if isinstance(layer, Module):
        return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])
    if callable(layer):
        return ModuleList([layer() for _ in range(num_layers)])
    raise TypeError(f"{kind} expects a layer (copied num_layers times) or a function that "
                    f"makes one, got {type(layer).__name__}.")


class TransformerEncoder(Module):
    """``num_layers`` encoder layers in sequence, then an optional ``norm`` (torch's
    ``nn.TransformerEncoder``; state_dict names ``layers.0.…``, ``norm.…``).
    ``encoder_layer`` is copied ``num_layers`` times, or called when it is a factory.

    >>> enc = sj.nn.TransformerEncoder(sj.nn.TransformerEncoderLayer(32, 4, 64), num_layers=2)
    >>> enc(sj.randn(2, 10, 32)).shape
    (2, 10, 32)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, name=None):
        super().__init__(name=name)
        self.layers = _stack(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` decoder layers in sequence, then an optional ``norm`` (torch's
    ``nn.TransformerDecoder``)."""

    def __init__(self, decoder_layer, num_layers, norm=None, name=None):
        super().__init__(name=name)
        self.layers = _stack(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)
