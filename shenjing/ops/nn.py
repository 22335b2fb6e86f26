"""Softmax, log-softmax, the fused softmax cross-entropy and dropout."""
from __future__ import annotations

import numpy as np  # the host module and dtypes only (no compute)

from .. import amp, random
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import lift


def _log_softmax(x, axis):
    # log softmax(x) = x - max - ln Σ e^(x - max): no exp of a large number
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """s = eˣ/Σeˣ along ``axis``;  dx = s ⊙ (g - Σ g⊙s)."""

    def forward(self, x, axis):
        s = array_module(x).exp(_log_softmax(x, axis))
        self.saved = (s, axis)
        return s

    def backward(self, g):
        s, axis = self.saved
        return s * (g - (g * s).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``;  dx = g - softmax(x)·Σg."""

    def forward(self, x, axis):
        out = _log_softmax(x, axis)
        self.saved = (out, axis)
        return out

    def backward(self, g):
        out, axis = self.saved
        return g - array_module(g).exp(out) * g.sum(axis=axis, keepdims=True)


class SoftmaxCrossEntropy(Function):
    """Per-sample loss ℓᵢ = -w_yᵢ·log softmax(xᵢ)[yᵢ] for logits x (N, C) and labels y (N,).

    One node for the pair, because the gradient simplifies to (softmax(x) - onehot(y))·w_y —
    cheaper and more accurate than chaining log-softmax and a gather.  Rows whose label
    equals ``ignore_index`` get zero loss and zero gradient.
    """

    def forward(self, x, labels, weight, ignore_index):
        xp = array_module(x)
        logp = _log_softmax(x, 1)
        valid = labels != ignore_index
        safe = xp.where(valid, labels, 0)
        rows = xp.arange(x.shape[0])
        w = valid.astype(x.dtype)
        if weight is not None:
            w = w * weight[safe]
        self.saved = (logp, rows, safe, w)
        return -logp[rows, safe] * w

    def backward(self, g):
        logp, rows, safe, w = self.saved
        xp = array_module(logp)
        dx = xp.exp(logp)
        dx[rows, safe] -= 1
        return dx * (g * w)[:, None]


def softmax(x, axis=-1):
    """Normalised exponentials along ``axis`` (sums to 1)."""
    (x,) = amp.upcast_inputs(lift(x))  # float32 under autocast, as torch
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed stably."""
    (x,) = amp.upcast_inputs(lift(x))
    return LogSoftmax.apply(x, axis=axis)


def softmax_cross_entropy(logits, labels, weight=None, ignore_index=-100):
    """Per-sample cross-entropy of integer ``labels`` (N,) under ``logits`` (N, C).

    Returns shape (N,); reduce it with ``mean``/``sum``.  Labels must lie in [0, C).
    """
    (logits,) = amp.upcast_inputs(lift(logits))
    y = labels.data if isinstance(labels, Tensor) else labels
    xp = array_module(logits.data)
    y = xp.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"class labels must be integers, got dtype {y.dtype}.")
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"cross-entropy expects logits (N, C) and labels (N,), got "
                         f"{logits.shape} and {y.shape}.")
    n_classes = logits.shape[1]
    valid = y[y != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= n_classes):
        bad = int(valid.min()) if valid.min() < 0 else int(valid.max())
        raise ValueError(f"label {bad} is outside the class range [0, {n_classes - 1}] "
                         f"for logits with {n_classes} classes.")
    w = None if weight is None else xp.asarray(
        weight.data if isinstance(weight, Tensor) else weight).astype(logits.dtype, copy=False)
    return SoftmaxCrossEntropy.apply(logits, labels=y, weight=w, ignore_index=ignore_index)


def dropout_mask(shape, p, dtype, xp, generator=None):
    """The inverted-dropout multiplier: 1/(1-p) where kept, 0 where dropped, as ``dtype``
    on ``xp``'s device.

    Keep-draws are uint16 integers u ~ U{0, ..., 65535} from ``shenjing.random.generator()``
    (or ``generator``), kept where u ≥ k with k = round(p·65536): about 2x faster than
    comparing float32 uniforms, and P(keep) = 1 - k/65536 differs from 1 - p by at most
    0.5/65536 (the grid's rounding; exact when p is a multiple of 2⁻¹⁶, e.g. 0.5 or 0.25).
    The scale stays exactly 1/(1-p).  On a GPU (no ``generator``) the draws are float32
    uniforms made on the device (``shenjing.random.device_generator``), kept where u ≥ p."""
    if generator is None and xp is not np:  # on a GPU: drawn there (random.device_generator)
        u = random.device_generator(xp).random(shape, dtype=np.float32)
        mask = (u >= np.float32(p)).astype(dtype)
    else:
        rng = random.generator() if generator is None else generator
        keep = rng.integers(0, 65536, size=shape, dtype="uint16") >= round(p * 65536)
        mask = xp.asarray(keep, dtype=dtype)  # a new array: scaled in place, no second one
    mask *= xp.dtype(dtype).type(1 / (1 - p))
    return mask


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p),
    so the expected value is unchanged and evaluation needs no rescaling.

    The mask (``dropout_mask``) is drawn from ``shenjing.random.generator()`` unless a NumPy
    ``generator`` is given (a seeded ``nn.Dropout(seed=...)`` passes its own)."""
    if not 0 <= p < 1:
        if p == 1:
            return x * 0
        raise ValueError(f"dropout probability must be in [0, 1), got {p}.")
    if not training or p == 0:
        return x
    x = lift(x)
    mask = dropout_mask(x.shape, p, x.dtype, array_module(x.data), generator)
    return x * Tensor._wrap(mask)
