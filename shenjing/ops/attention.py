"""Scaled dot-product attention as one fused node.

    S = q kᵀ·scale + bias,   P = softmax(S) along the keys,   out = P v

and, with g = dL/dout, the backward (FlashAttention's rowsum trick: Σₛ dP⊙P = Σₑ g⊙out,
a sum over Ev values instead of S):

    dv = Pᵀ g,   dP = g vᵀ,   dS = P ⊙ (dP - Σₑ g⊙out),   dq = dS k·scale,   dk = dSᵀ q·scale

One node instead of seven (matmul, transpose, mul, add, softmax, dropout, matmul): the
composed graph keeps three score-sized intermediates for its backward and runs about 1.5x
slower.  The multi-head layers call it on the projections' raw (B, T, H·D) layout, so the
split into heads and the merge back are strided views inside the node, not graph nodes.

Masks, one convention: every mask becomes an additive bias (boolean masks: 0 where True,
-∞ where False).  A row whose keys are all masked attends to nothing: its weights and
output are 0 and it passes no gradient (PyTorch gives NaN there).  Masks are constants:
no gradient flows into a float mask.
"""
from __future__ import annotations

import math

import numpy as np

from .. import amp
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import lift, unbroadcast
from .nn import dropout_mask

# (B, T, n·H·D) inputs: one packed q|k|v projection, q and a packed k|v, or q, k, v apart
_PARTS = {1: (3,), 2: (1, 2), 3: (1, 1, 1)}


def _split_heads(arrays, h):
    """The (B, T, n·H·D) inputs as q, k, v views of shape (B, H, T, D), no copies."""
    views = []
    for a, n in zip(arrays, _PARTS[len(arrays)]):
        b, t, f = a.shape
        a = a.reshape(b, t, n, h, f // (n * h))
        views += [a[:, :, i].transpose(0, 2, 1, 3) for i in range(n)]
    return views


def _merge_heads(grads, scales, arrays, h):
    """Gradients (B, H, T, D) times their ``scales``, back into the inputs' layout: the
    scaling rides on the one strided copy the merge needs anyway."""
    xp, out, it = array_module(arrays[0]), [], iter(zip(grads, scales))
    for a, n in zip(arrays, _PARTS[len(arrays)]):
        b, t, f = a.shape
        parts = [next(it) for _ in range(n)]
        if any(p is None for p, _ in parts):
            out.append(None)
            continue
        d = xp.empty((b, t, n, h, f // (n * h)), a.dtype)
        for i, (p, sc) in enumerate(parts):
            xp.multiply(p.transpose(0, 2, 1, 3), sc, out=d[:, :, i])
        out.append(d.reshape(a.shape))
    return out


def _softmax_rows(s, masked):
    """P = softmax(s) along the last axis, in place.  With a mask, rows that are all -∞
    get P = 0 instead of 0/0 (their max is taken as 0, their sum as 1)."""
    xp = array_module(s)
    m = s.max(axis=-1, keepdims=True)
    if masked:
        m[~xp.isfinite(m)] = 0
    s -= m
    xp.exp(s, out=s)
    z = s.sum(axis=-1, keepdims=True)
    if masked:
        z[z == 0] = 1
    s *= 1 / z
    return s


class Attention(Function):
    """out = dropout(softmax(q kᵀ·scale + bias)) v over the last two axes, one node.

    Inputs: q (…, L, E), k (…, S, E), v (…, S, Ev) when ``heads`` is None (batch axes
    broadcast); otherwise 1-3 arrays of shape (B, T, n·H·D) in the projections' layout
    (see ``_PARTS``), and the output is (B, L, H·Dv).  ``bias`` (a constant array
    broadcastable to the scores) is added before the softmax; ``sink``, a list, receives
    the attention weights P.
    """

    def forward(self, *arrays, heads, scale, bias, dropout, sink):
        xp = array_module(arrays[0])
        q, k, v = arrays if heads is None else _split_heads(arrays, heads)
        s = (q * q.dtype.type(scale)) @ k.swapaxes(-1, -2)
        if bias is not None and s.shape == np.broadcast_shapes(s.shape, bias.shape):
            s += bias
        elif bias is not None:  # the mask adds batch axes (v's, in plain layout)
            s = s + bias
        p = _softmax_rows(s, bias is not None)
        if sink is not None:
            sink.append(p.copy())
        dm = None
        if dropout:  # inverted dropout on the weights; the scaled mask is kept for backward
            dm = dropout_mask(p.shape, dropout, p.dtype, xp)
        pd = p if dm is None else p * dm
        o = pd @ v
        self.saved = (q, k, v, p, pd, dm, o, heads, scale, arrays)
        if heads is None:
            return o
        b, h, length, dv = o.shape
        return o.transpose(0, 2, 1, 3).reshape(b, length, h * dv)

    def backward(self, g):
        q, k, v, p, pd, dm, o, heads, scale, arrays = self.saved
        if heads is not None:
            b, length, _ = g.shape
            g = g.reshape(b, length, heads, -1).transpose(0, 2, 1, 3)
        need_q, need_k, need_v = self._needs()
        dv = pd.swapaxes(-1, -2) @ g if need_v else None
        dq = dk = None
        if need_q or need_k:
            ds = g @ v.swapaxes(-1, -2)
            if dm is not None:
                ds *= dm
            ds -= array_module(g).einsum("...e,...e->...", g, o)[..., None]
            ds *= p  # dS = P ⊙ (dP - Σₑ g⊙out)
            dq = ds @ k if need_q else None
            dk = ds.swapaxes(-1, -2) @ q if need_k else None
        sc, one = g.dtype.type(scale), g.dtype.type(1)
        if heads is not None:
            return tuple(_merge_heads((dq, dk, dv), (sc, sc, one), arrays, heads))
        for d in (dq, dk):
            if d is not None:
                d *= sc
        return tuple(None if d is None else unbroadcast(d, a.shape)
                     for d, a in zip((dq, dk, dv), arrays))

    def _needs(self):
        """Whether q, k, v need gradients, whichever input array holds each."""
        n = self.needs_grad
        owner = {1: (0, 0, 0), 2: (0, 1, 1), 3: (0, 1, 2)}[len(n)]
        return tuple(n[i] for i in owner)


# ---------------------------------------------------------------------- masks


def causal_bias(length, source_length, dtype, xp=np):
    """(L, S) additive mask: 0 where key j ≤ query i (top-left aligned, as torch), else -∞."""
    keep = xp.tril(xp.ones((length, source_length), dtype=bool))
    return xp.where(keep, xp.zeros((), dtype), xp.full((), -math.inf, dtype))


def mask_bias(mask, dtype, true_means="attend", what="mask", xp=None):
    """A mask as an additive bias array of ``dtype`` (on ``xp``'s device): boolean masks
    give 0 / -∞ (True attends, or is masked when ``true_means="masked"``, torch's
    nn.MultiheadAttention convention); float masks are added as they are.  None stays
    None."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else mask
    xp = xp or (array_module(m) if hasattr(m, "dtype") else np)
    m = xp.asarray(m)
    if m.dtype.kind == "b":
        attend = m if true_means == "attend" else ~m
        return xp.where(attend, xp.zeros((), dtype), xp.full((), -math.inf, dtype))
    if m.dtype.kind == "f":
        return m.astype(dtype, copy=False)
    raise TypeError(f"{what} must be boolean (True = {true_means}) or float (added to the "
                    f"scores), got dtype {m.dtype}.")


def check_bias(bias, scores_shape, what="mask"):
    """Raise a clear error when ``bias`` does not broadcast to ``scores_shape``."""
    if bias is None:
        return None
    try:
        ok = np.broadcast_shapes(bias.shape, scores_shape) == tuple(scores_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{what} of shape {tuple(bias.shape)} does not broadcast to the "
                         f"attention scores' shape {tuple(scores_shape)} (…, queries, keys); "
                         "give it shape (queries, keys) or one that broadcasts to the scores.")
    return bias


def add_bias(a, b):
    """The sum of two optional biases (None when both are None)."""
    return b if a is None else a if b is None else a + b


# ---------------------------------------------------------------------- public ops


def _float_inputs(tensors, op):
    tensors = list(amp.cast_inputs(*(lift(t) for t in tensors)))
    dt = tensors[0].dtype
    for name, t in zip("qkv", tensors):
        if t.dtype.kind != "f":
            raise TypeError(f"{op} expects floating-point {name}, got dtype {t.dtype}.")
        if t.dtype != dt:
            raise TypeError(f"{op}: q has dtype {dt} but {name} has dtype {t.dtype}; cast "
                            "them to one dtype.")
    return tensors


def scaled_dot_product_attention(q, k, v, mask=None, causal=False, dropout=0.0,
                                 training=True, return_weights=False, scale=None):
    """softmax(q kᵀ/√E + mask) v for q (…, L, E), k (…, S, E), v (…, S, Ev) → (…, L, Ev).

    ``mask`` broadcasts to (…, L, S): boolean with True = attend (the convention of
    ``torch.nn.functional.scaled_dot_product_attention`` and Keras; torch's
    ``nn.MultiheadAttention`` reads a boolean ``attn_mask`` the other way round), or float,
    added to the scores (-inf masks).  ``causal`` lets query i see keys j ≤ i.  A query
    whose keys are all masked gets zero output and weights (torch: NaN).  ``dropout``
    drops attention weights when ``training``.  ``return_weights`` also returns P
    (…, L, S), before dropout and without gradient.  One fused graph node.

    >>> q = sj.randn(2, 4, 5, 8)                     # (batch, heads, length, features)
    >>> sj.ops.scaled_dot_product_attention(q, q, q, causal=True).shape
    (2, 4, 5, 8)
    """
    op = "scaled_dot_product_attention"
    q, k, v = _float_inputs((q, k, v), op)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op} expects q (…, L, E), k (…, S, E), v (…, S, Ev) with at least "
                         f"2 dimensions, got shapes {q.shape}, {k.shape}, {v.shape}.")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: q (…, L, E) and k (…, S, E) must share E, k and v (…, S, Ev) "
                         f"must share S; got shapes {q.shape}, {k.shape}, {v.shape}.")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch axes of q, k, v do not broadcast; got shapes "
                         f"{q.shape}, {k.shape}, {v.shape}.") from None
    length, source = q.shape[-2], k.shape[-2]
    xp = array_module(q.data)
    bias = check_bias(mask_bias(mask, q.dtype, xp=xp), (*batch, length, source))
    if causal:
        bias = add_bias(bias, causal_bias(length, source, q.dtype, xp))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return _run((q, k, v), None, scale, bias, _rate(dropout, training, op), return_weights)


def _rate(dropout, training, op):
    if not 0 <= dropout < 1:
        raise ValueError(f"{op}: dropout must be in [0, 1), got {dropout}.")
    return float(dropout) if training else 0.0


def _run(tensors, heads, scale, bias, dropout, return_weights):
    sink = [] if return_weights else None
    out = Attention.apply(*tensors, heads=heads, scale=scale, bias=bias, dropout=dropout,
                          sink=sink)
    return (out, Tensor._wrap(sink[0])) if return_weights else out


def multi_head_attention(inputs, num_heads, bias=None, causal=False, dropout=0.0,
                         training=True, return_weights=False, scale=None):
    """Attention over ``num_heads`` heads of projected inputs in (batch, time, features)
    layout, without graph nodes for the head split and merge.

    ``inputs``: one tensor (B, L, 3·H·D) holding q|k|v side by side (self-attention), two
    (q (B, L, H·D) and k|v (B, S, 2·H·D)), or three (q, k (B, S, H·D), v (B, S, H·Dv)).
    Head h of q is its features [h·D, (h+1)·D), as in torch.  ``bias`` is an additive mask
    broadcastable to (B, H, L, S) (see ``mask_bias``).  Returns (B, L, H·Dv), and the
    weights (B, H, L, S) when ``return_weights``.
    """
    op = "multi_head_attention"
    tensors = _float_inputs(inputs, op)
    if len(tensors) not in _PARTS or any(t.ndim != 3 for t in tensors):
        raise ValueError(f"{op} expects 1-3 inputs of shape (batch, time, features), got "
                         f"shapes {[t.shape for t in tensors]}.")
    parts = _PARTS[len(tensors)]
    for t, n in zip(tensors, parts):
        if t.shape[-1] % (n * num_heads):
            raise ValueError(f"{op}: {t.shape[-1]} features do not split into {n} x "
                             f"{num_heads} heads (input shape {t.shape}).")
    b, length = tensors[0].shape[:2]
    source = tensors[-1].shape[1]
    qk_dims = [t.shape[-1] // n for t, n in zip(tensors, parts)][:2]
    if len({t.shape[0] for t in tensors}) > 1 or len(set(qk_dims)) > 1 or (
            len(tensors) == 3 and tensors[1].shape[1] != source):
        raise ValueError(f"{op}: inputs disagree on batch size, key length or query/key "
                         f"features, got shapes {[t.shape for t in tensors]}.")
    bias = check_bias(bias, (b, num_heads, length, source), "attention mask")
    if causal:
        bias = add_bias(bias, causal_bias(length, source, tensors[0].dtype,
                                          array_module(tensors[0].data)))
    d = tensors[0].shape[-1] // (parts[0] * num_heads)
    scale = 1 / math.sqrt(d) if scale is None else float(scale)
    return _run(tensors, num_heads, scale, bias, _rate(dropout, training, op), return_weights)
