"""Losses with PyTorch's names and arguments: ``f(input, target, ..., reduction="mean")``.

Each matches ``torch.nn.functional`` (values and gradients); the deprecated ``size_average``
and ``reduce`` arguments are left out, so the arguments after them are keyword-only.  Unlike
PyTorch, a target whose shape differs from the input's raises instead of broadcasting.

>>> loss = sj.losses.cross_entropy(logits, labels)        # logits (N, C), labels (N,) ints
>>> loss.backward()
"""
from __future__ import annotations

from .. import ops
from ..backend import array_module
from ..tensor import Tensor
from ._common import check_labels, check_same_shape, operand, prediction, raw, to_labels

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "huber_loss", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, fn):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}.")


def _pair(input, target, fn, reduction):  # noqa: A002 - PyTorch's argument name
    _check_reduction(reduction, fn)
    x = prediction(input)
    y = operand(target, x)
    check_same_shape(fn, x, y)
    return x, y


def _reduce(loss, reduction, denominator=None):
    """"none": as is; "sum": Σ; "mean": Σ / denominator (the element count by default)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if denominator is None else loss.sum() / denominator


def _elementwise_weight(loss, weight, x, reduction, fn, mean_over_weight):
    """Multiply by a per-element ``weight`` of the input's shape (PyTorch's rule for
    mse/l1/huber); the mean is Σwℓ/Σw for mse and l1, Σwℓ/n for huber."""
    if weight is None:
        return _reduce(loss, reduction)
    w = operand(weight, x)
    if w.shape != x.shape:
        raise ValueError(f"{fn}: weight shape {w.shape} and input shape {x.shape} differ; "
                         "they must be equal.")
    loss = loss * w
    return _reduce(loss, reduction, w.sum() if mean_over_weight else None)


def mse_loss(input, target, *, reduction="mean", weight=None):  # noqa: A002
    """Mean squared error: ℓ = (x - y)²."""
    x, y = _pair(input, target, "mse_loss", reduction)
    d = x - y
    return _elementwise_weight(d * d, weight, x, reduction, "mse_loss", True)


def l1_loss(input, target, *, reduction="mean", weight=None):  # noqa: A002
    """Mean absolute error: ℓ = |x - y| (gradient 0 where x = y, as PyTorch)."""
    x, y = _pair(input, target, "l1_loss", reduction)
    return _elementwise_weight(ops.abs(x - y), weight, x, reduction, "l1_loss", True)


def _huber(a, delta):
    # ½a² for a < δ, else δ(a - ½δ), written as ½q² + δ(a - q) with q = min(a, δ): one
    # branch-free expression whose gradient is right on both sides of the kink.
    q = ops.minimum(a, delta)
    return q * q * 0.5 + (a - q) * delta


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    """Huber loss: ℓ = ½d² if |d| < δ else δ(|d| - ½δ), with d = x - y."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}.")
    x, y = _pair(input, target, "huber_loss", reduction)
    return _elementwise_weight(_huber(ops.abs(x - y), delta), weight, x, reduction,
                               "huber_loss", False)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):  # noqa: A002
    """Smooth L1: ℓ = ½d²/β if |d| < β else |d| - ½β, with d = x - y (β = 0: L1)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}.")
    x, y = _pair(input, target, "smooth_l1_loss", reduction)
    a = ops.abs(x - y)
    return _reduce(a if beta == 0 else _huber(a, beta) / beta, reduction)


def _log_floored(p):
    """ln p floored at -100 as PyTorch's BCE does, so p = 0 gives a finite loss; the
    gradient is 0 where the floor applies (and never 0·∞)."""
    positive = p.data > 0
    if bool(positive.all()):
        return ops.clip(ops.log(p), min=-100.0)
    lg = ops.log(ops.where(positive, p, 1.0))
    return ops.clip(ops.where(positive, lg, -100.0), min=-100.0)


def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):  # noqa: A002
    """Binary cross-entropy on probabilities: ℓ = -w[y ln x + (1-y) ln(1-x)], logs ≥ -100."""
    x, y = _pair(input, target, "binary_cross_entropy", reduction)
    if x.size:
        lo, hi = float(x.data.min()), float(x.data.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"binary_cross_entropy expects probabilities in [0, 1], got "
                             f"values in [{lo:.4g}, {hi:.4g}]; for logits use "
                             "binary_cross_entropy_with_logits.")
    loss = -(y * _log_floored(x) + (1 - y) * _log_floored(1 - x))
    return _reduce(loss if weight is None else loss * operand(weight, x), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, *,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """Binary cross-entropy on logits, stable for any x:
    ℓ = w[(1-y)x + (1 + (p-1)y)·softplus(-x)]  (= softplus(x) - xy without ``pos_weight`` p)."""
    x, y = _pair(input, target, "binary_cross_entropy_with_logits", reduction)
    if pos_weight is None:
        loss = ops.softplus(x) - x * y
    else:
        p = operand(pos_weight, x)
        loss = (1 - y) * x + ((p - 1) * y + 1) * ops.softplus(-x)
    return _reduce(loss if weight is None else loss * operand(weight, x), reduction)


def _classes_last(x, labels, fn):
    """Logits (N, C, d1, ...) → (N·d1·..., C) with labels (N, d1, ...) → (N·d1·...,).
    Also (C,) with a scalar label (one unbatched sample).  Returns (x2, y, label shape)."""
    if x.ndim == 0:
        raise ValueError(f"{fn} expects input of shape (N, C), got a scalar.")
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"{fn}: class-index target shape {labels.shape} does not fit input "
                         f"shape {x.shape}; expected target shape {expected}.")
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    if x.ndim > 2:
        x = ops.transpose(x, (0, *range(2, x.ndim), 1))
    return ops.reshape(x, (-1, n_classes)), labels.reshape(-1), labels.shape


def _class_weight(weight, like, n_classes, fn):
    """The per-class ``weight`` as a constant array (PyTorch does not differentiate it)."""
    if weight is None:
        return None
    w = raw(weight, like).astype(like.dtype, copy=False)
    if w.shape != (n_classes,):
        raise ValueError(f"{fn}: weight must have one entry per class, shape "
                         f"({n_classes},), got {w.shape}.")
    return w


def _reduce_classes(per, y, w, ignore_index, reduction, shape):
    """PyTorch's class-index reduction: "mean" divides by the summed weight of the targets
    that are not ignored (their count without ``weight``)."""
    if reduction == "none":
        return ops.reshape(per, shape)
    if reduction == "sum":
        return per.sum()
    valid = y != ignore_index
    denominator = valid.sum() if w is None else w[y[valid]].sum()
    return per.sum() / float(denominator)


def cross_entropy(input, target, weight=None, *, ignore_index=-100,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits: ℓᵢ = -Σ_c w_c qᵢc ln softmax(xᵢ)_c.

    ``target`` holds class indices (N,) for ``input`` (N, C) — or (N, d1, ...) for
    (N, C, d1, ...) — with q the one-hot label, or class probabilities of the input's shape.
    Label smoothing ε mixes q with the uniform distribution: q ← (1-ε)q + ε/C.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], "
                         f"got {label_smoothing}.")
    x = prediction(input)
    t = raw(target, x)
    if t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"cross_entropy got float targets of shape {t.shape} for input of "
                             f"shape {x.shape}: probability targets must have the input's "
                             "shape; class-index targets must be integers "
                             "(e.g. target.astype('int64')).")
        return _cross_entropy_probs(x, operand(target, x), weight, reduction, label_smoothing)
    x2, y, shape = _classes_last(x, to_labels(t, x, "cross_entropy"), "cross_entropy")
    w = _class_weight(weight, x2, x2.shape[1], "cross_entropy")
    per = ops.softmax_cross_entropy(x2, y, weight=w, ignore_index=ignore_index)
    if label_smoothing > 0:
        eps, n_classes = label_smoothing, x2.shape[1]
        logp = ops.log_softmax(x2, axis=1)
        smooth = -(logp if w is None else logp * w).sum(axis=1)
        valid = Tensor._wrap((y != ignore_index).astype(x2.dtype))
        per = per * (1 - eps) + smooth * valid * (eps / n_classes)
    return _reduce_classes(per, y, w, ignore_index, reduction, shape)


def _cross_entropy_probs(x, q, weight, reduction, eps):
    check_same_shape("cross_entropy", x, q)
    axis = 0 if x.ndim == 1 else 1
    n_classes = x.shape[axis]
    if eps > 0:
        q = q * (1 - eps) + eps / n_classes
    logp = ops.log_softmax(x, axis=axis)
    if weight is not None:
        w = _class_weight(weight, x, n_classes, "cross_entropy")
        logp = logp * Tensor._wrap(w.reshape((n_classes,) + (1,) * (x.ndim - axis - 1)))
    return _reduce(-(q * logp).sum(axis=axis), reduction)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities: ℓᵢ = -w_yᵢ · xᵢ[yᵢ].

    Shapes as ``cross_entropy`` with class indices; labels equal to ``ignore_index`` count
    neither in the loss nor in the mean.
    """
    _check_reduction(reduction, "nll_loss")
    x = prediction(input)
    x2, y, shape = _classes_last(x, to_labels(target, x, "nll_loss"), "nll_loss")
    check_labels(y, x2.shape[1], ignore_index)
    w = _class_weight(weight, x2, x2.shape[1], "nll_loss")
    xp = array_module(y)
    valid = y != ignore_index
    safe = xp.where(valid, y, 0)
    scale = valid.astype(x2.dtype) if w is None else valid * w[safe]
    picked = ops.getitem(x2, (xp.arange(y.shape[0]), safe))
    per = -picked * Tensor._wrap(scale.astype(x2.dtype, copy=False))
    return _reduce_classes(per, y, w, ignore_index, reduction, shape)
