"""Multi-head attention, one implementation with two faces: Keras' ``MultiHeadAttention``
(``mha(query, value, key=None, attention_mask=None)``) and PyTorch's ``MultiheadAttention``
(``forward(query, key, value, key_padding_mask=None, ...)`` returning ``(output, weights)``).

    head_i = softmax(q W_qᵢ (k W_kᵢ)ᵀ/√d + mask) v W_vᵢ,   out = [head_1 … head_H] W_o

Weights are stored in torch's layout and under torch's names, so
``layer.load_state_dict(torch_mha.state_dict())`` copies a torch layer as it is:

    in_proj_weight (3·H·d, E)   rows [W_q; W_k; W_v], (out, in) like nn.Linear — when query,
                                key and value have one width and key_dim == value_dim
    q_proj_weight, k_proj_weight, v_proj_weight   otherwise (torch's kdim/vdim case)
    in_proj_bias (H·(2d + d_v),)   [b_q; b_k; b_v]
    out_proj.weight (E_out, H·d_v), out_proj.bias (E_out,)

A Keras kernel maps as ``query.kernel (E, H, d)`` → ``q_proj_weight = kernel.reshape(E, H·d).T``
(head h is features [h·d, (h+1)·d)) and ``attention_output.kernel (H, d_v, E_out)`` →
``out_proj.weight = kernel.reshape(H·d_v, E_out).T``.

Masks.  Keras' ``attention_mask`` (B, L, S): True/1 = attend.  torch's boolean
``attn_mask`` and ``key_padding_mask``: True = *masked*; float masks are added to the scores.
A query that may attend to no key gets zero output and weights (torch: NaN; Keras: a uniform
average).  The returned attention weights are the softmax before dropout and carry no
gradient (they are for inspection).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import ops
from ..backend import array_module
from ..ops._util import lift
from ..ops.attention import add_bias, mask_bias, multi_head_attention
from ..tensor import Tensor
from .core import Linear
from .module import Module


def _positive(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer} expects a positive int for `{what}`, got {value!r}.")
    return int(value)


def _linear(x, w, b):
    """x @ wᵀ + b for w in torch's (out, in) layout: one affine node."""
    return ops.affine(x, ops.transpose(w), b)


def _feature_dim(shape, what, layer):
    if shape is None or len(shape) != 3 or not isinstance(shape[-1], numbers.Integral):
        raise ValueError(f"{layer} expects {what} of shape (batch, time, features), got "
                         f"{shape}.")
    return int(shape[-1])


class MultiHeadAttention(Module):
    """Keras' multi-head attention: ``mha(query, value, key=None, attention_mask=None,
    return_attention_scores=False, use_causal_mask=False, training=None)``.

    ``num_heads`` heads of size ``key_dim`` for queries and keys, ``value_dim`` (default
    ``key_dim``) for values; the output has ``output_shape`` features (default: the
    query's).  Inputs are (batch, time, features); weights are built on the first call.
    ``attention_mask`` (B, L, S) or (L, S): True/1 = attend.  With
    ``return_attention_scores`` the call returns ``(output, weights (B, H, L, S))``.

    >>> mha = sj.nn.MultiHeadAttention(num_heads=4, key_dim=8)
    >>> x = sj.randn(2, 10, 32)
    >>> mha(x, x, use_causal_mask=True).shape
    (2, 10, 32)
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        layer = type(self).__name__
        self.num_heads = _positive(num_heads, "num_heads", layer)
        self.key_dim = _positive(key_dim, "key_dim", layer)
        self.value_dim = self.key_dim if value_dim is None else \
            _positive(value_dim, "value_dim", layer)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout < 1:
            raise ValueError(f"{layer} expects dropout in [0, 1), got {dropout!r}.")
        self.dropout, self.use_bias = float(dropout), bool(use_bias)
        if isinstance(output_shape, (tuple, list)) and len(output_shape) == 1:
            output_shape = output_shape[0]
        self.output_shape_ = None if output_shape is None else \
            _positive(output_shape, "output_shape", layer)
        # declared in torch's state_dict order; build() fills the ones it needs
        self.in_proj_weight = self.q_proj_weight = self.k_proj_weight = None
        self.v_proj_weight = self.in_proj_bias = self.out_proj = None
        self._dims = None

    # ------------------------------------------------------------------ building
    def __call__(self, query, *args, **kwargs):
        tensors = {}

        def as_tensor(x):  # one Tensor per distinct input, so `query is value` survives
            if x is None or id(x) in tensors:
                return tensors.get(id(x))
            t = lift(x)
            if t.dtype.kind == "f" and t.dtype != self.dtype:  # inputs follow the layer
                t = ops.cast(t, self.dtype)
            return tensors.setdefault(id(x), t)

        query = as_tensor(query)
        args = [as_tensor(a) if i < 2 else a for i, a in enumerate(args)]
        kwargs = {k: as_tensor(v) if k in ("value", "key") else v for k, v in kwargs.items()}
        if not self.built:
            value = args[0] if args else kwargs.get("value")
            key = args[1] if len(args) > 1 else kwargs.get("key")
            key = value if key is None else key
            shapes = [tuple(t.shape) if t is not None else None for t in (query, value, key)]
            self._build(shapes)
        return super().__call__(query, *args, **kwargs)

    def build(self, input_shape):
        """``input_shape``: the query's shape, or [query, value, key] shapes."""
        shapes = list(input_shape) if isinstance(input_shape, list) else [input_shape]
        shapes += [shapes[-1]] * (3 - len(shapes))
        layer = f"{type(self).__name__} '{self.name}'"
        dq, dv, dk = (_feature_dim(s, w, layer) for s, w in zip(shapes, ("query", "value",
                                                                          "key")))
        self._create(dq, dk, dv, self.output_shape_ or dq)

    def _create(self, dq, dk, dv, out_dim):
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        if dq == dk == dv and kd == vd:
            self.in_proj_weight = self.add_weight((3 * h * kd, dq), "glorot_uniform",
                                                  name="in_proj_weight")
        else:
            self.q_proj_weight = self.add_weight((h * kd, dq), "glorot_uniform",
                                                 name="q_proj_weight")
            self.k_proj_weight = self.add_weight((h * kd, dk), "glorot_uniform",
                                                 name="k_proj_weight")
            self.v_proj_weight = self.add_weight((h * vd, dv), "glorot_uniform",
                                                 name="v_proj_weight")
        if self.use_bias:
            self.in_proj_bias = self.add_weight((h * (2 * kd + vd),), "zeros",
                                                name="in_proj_bias")
        self.out_proj = Linear(h * vd, out_dim, bias=self.use_bias, dtype=self.dtype,
                               trainable=self.trainable)
        if self.use_bias:  # torch zeroes the output bias
            self.out_proj.bias.data[...] = 0
        self._dims = (dq, dk, dv)

    # ------------------------------------------------------------------ computing
    def forward(self, query, value, key=None, attention_mask=None,
                return_attention_scores=False, use_causal_mask=False, training=None):
        key = value if key is None else key
        self._check_inputs(query, key, value)
        bias = self._mask(attention_mask, "attention_mask", "attend", query, key)
        training = self.training if training is None else bool(training)
        out, weights = self._attend(query, key, value, bias, use_causal_mask, training,
                                    return_attention_scores)
        return (out, weights) if return_attention_scores else out

    def _attend(self, query, key, value, bias, causal, training, need_weights):
        """Project, attend over the heads (one fused node), project back."""
        inputs = self._project(query, key, value)
        res = multi_head_attention(inputs, self.num_heads, bias=bias, causal=causal,
                                   dropout=self.dropout, training=training,
                                   return_weights=need_weights,
                                   scale=1 / math.sqrt(self.key_dim))
        out, weights = res if need_weights else (res, None)
        return self.out_proj(out), weights

    def _project(self, query, key, value):
        """The q, k, v projections, as few affine nodes as the inputs allow: one for
        self-attention (a packed q|k|v output), two when key is value."""
        w, b, e = self.in_proj_weight, self.in_proj_bias, self.num_heads * self.key_dim
        if w is not None and query is key and key is value:
            return [_linear(query, w, b)]
        if w is not None and key is value:
            return [_linear(query, w[:e], None if b is None else b[:e]),
                    _linear(key, w[e:], None if b is None else b[e:])]
        ws = (w[:e], w[e:2 * e], w[2 * e:]) if w is not None else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        bs = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        return [_linear(x, wi, bi) for x, wi, bi in zip((query, key, value), ws, bs)]

    def _check_inputs(self, query, key, value):
        layer = f"{type(self).__name__} '{self.name}'"
        for what, x, d in zip(("query", "key", "value"), (query, key, value), self._dims):
            if x.ndim != 3 or x.shape[-1] != d:
                raise ValueError(f"{layer} expects {what} of shape (batch, time, {d}), got "
                                 f"{tuple(x.shape)}.")
        if not query.shape[0] == key.shape[0] == value.shape[0] or \
                key.shape[1] != value.shape[1]:
            raise ValueError(f"{layer}: query {tuple(query.shape)}, key {tuple(key.shape)} and "
                             f"value {tuple(value.shape)} must share the batch size, and key "
                             "and value the time length.")

    def _mask(self, mask, what, true_means, query, key):
        """A (L, S), (B, L, S) or (B, H, L, S) mask as a bias broadcastable to the scores."""
        if mask is None:
            return None
        m = mask.data if isinstance(mask, Tensor) else mask
        m = m if hasattr(m, "dtype") else np.asarray(m)
        if true_means == "attend" and m.dtype.kind in "iuf":  # Keras: 1 = attend, 0 = not
            m = m != 0
        b, length, source, h = query.shape[0], query.shape[1], key.shape[1], self.num_heads
        shape = tuple(m.shape)
        if len(shape) == 3 and shape[0] == b * h and b * h != b:  # torch's (B·H, L, S)
            m = m.reshape(b, h, *shape[1:])
        elif len(shape) == 3:
            m = m[:, None]
        ok = m.ndim in (2, 4) and m.shape[-2:] == (length, source) and (
            m.ndim == 2 or m.shape[0] in (1, b) and m.shape[1] in (1, h))
        if not ok:
            raise ValueError(f"{type(self).__name__} '{self.name}': {what} of shape {shape} "
                             f"does not match the attention scores (batch, heads, queries, "
                             f"keys) = {(b, h, length, source)}; expected (queries, keys) = "
                             f"{(length, source)} or (batch, queries, keys) = "
                             f"{(b, length, source)}.")
        return mask_bias(m, query.dtype, true_means, what, array_module(query.data))

    # ------------------------------------------------------------------ description
    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "output_shape": self.output_shape_}

    def extra_repr(self):
        return (f"num_heads={self.num_heads}, key_dim={self.key_dim}, "
                f"value_dim={self.value_dim}, dropout={self.dropout}")


class MultiheadAttention(MultiHeadAttention):
    """PyTorch's ``nn.MultiheadAttention`` (``batch_first=True`` by default here):
    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None)``.

    Heads of size ``embed_dim // num_heads``.  ``key_padding_mask`` (B, S) and a boolean
    ``attn_mask`` ((L, S) or (B·num_heads, L, S)) mark *masked* positions with True, as in
    torch; float masks are added.  ``is_causal=True`` without ``attn_mask`` applies the
    causal mask (torch requires the mask too and treats the flag as a hint).  Weights are
    averaged over heads (B, L, S) unless ``average_attn_weights=False`` (B, H, L, S).

    >>> mha = sj.nn.MultiheadAttention(32, 4)
    >>> x = sj.randn(2, 10, 32)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((2, 10, 32), (2, 10, 10))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=True, name=None,
                 dtype=None, trainable=True):
        embed_dim = _positive(embed_dim, "embed_dim", "MultiheadAttention")
        num_heads = _positive(num_heads, "num_heads", "MultiheadAttention")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by "
                             f"num_heads={num_heads} (each head gets embed_dim // num_heads "
                             "features); change one of them.")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are "
                                      "not supported.")
        super().__init__(num_heads, embed_dim // num_heads, dropout=dropout, use_bias=bias,
                         output_shape=embed_dim, name=name, dtype=dtype, trainable=trainable)
        self.embed_dim, self.batch_first = embed_dim, bool(batch_first)
        self.kdim = embed_dim if kdim is None else _positive(kdim, "kdim", "MultiheadAttention")
        self.vdim = embed_dim if vdim is None else _positive(vdim, "vdim", "MultiheadAttention")
        self._create(embed_dim, self.kdim, self.vdim, embed_dim)
        self.built = True

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        if not self.batch_first:  # (L, B, E): swap once per distinct tensor
            seen = {}
            query, key, value = (seen.setdefault(id(t), ops.swapaxes(t, 0, 1))
                                 for t in (query, key, value))
        self._check_inputs(query, key, value)
        bias = self._mask(attn_mask, "attn_mask", "masked", query, key)
        if key_padding_mask is not None:
            kpm = key_padding_mask
            kpm = kpm.data if isinstance(kpm, Tensor) else kpm if hasattr(kpm, "dtype") else \
                np.asarray(kpm)
            b, s = query.shape[0], key.shape[1]
            if tuple(kpm.shape) != (b, s):
                raise ValueError(f"MultiheadAttention '{self.name}': key_padding_mask of shape "
                                 f"{tuple(kpm.shape)} does not match (batch, keys) = "
                                 f"{(b, s)}.")
            kpm = mask_bias(kpm, query.dtype, "masked", "key_padding_mask",
                            array_module(query.data))
            bias = add_bias(bias, kpm.reshape(b, 1, 1, s))
        causal = bool(is_causal) and attn_mask is None
        out, weights = self._attend(query, key, value, bias, causal, self.training,
                                    need_weights)
        if not self.batch_first:
            out = ops.swapaxes(out, 0, 1)
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        return out, weights

    @classmethod
    def from_torch(cls, module):
        """A copy of a ``torch.nn.MultiheadAttention`` (configuration and weights)."""
        layer = cls(module.embed_dim, module.num_heads, dropout=module.dropout,
                    bias=module.in_proj_bias is not None, kdim=module.kdim, vdim=module.vdim,
                    batch_first=module.batch_first)
        layer.load_state_dict(torch_state(module))
        return layer

    def get_config(self):
        config = {k: v for k, v in super().get_config().items()
                  if k not in ("key_dim", "value_dim", "use_bias", "output_shape")}
        return {**config, "embed_dim": self.embed_dim, "bias": self.use_bias,
                "kdim": self.kdim, "vdim": self.vdim, "batch_first": self.batch_first}

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def torch_state(module):
    """A torch module's ``state_dict`` as NumPy arrays (for ``load_state_dict``)."""
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
