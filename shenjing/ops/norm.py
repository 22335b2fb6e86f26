"""Normalisation: batch, layer, group and instance norm, each one fused node.

All four share one primitive, ``Normalize``.  The input is viewed so that its statistics
are taken over a set of axes R of the view (n elements each):

    μ = mean_R x,   σ² = mean_R (x - μ)²,   x̂ = (x - μ)/√(σ² + ε),   y = γ·x̂ + β

and the backward is the closed form (gγ = g·γ, sums for dγ and dβ over the axes along
which γ is broadcast):

    dx = (gγ - mean_R gγ - x̂·mean_R(gγ·x̂)) / √(σ² + ε),   dγ = Σ g·x̂,   dβ = Σ g

With fixed statistics (batch norm in evaluation) μ and σ² are constants: dx = gγ/√(σ² + ε).
Fused because the composed graph (mean, sub, square, mean, sqrt, div, mul, add) keeps
five full-size intermediates for its backward and runs about 2x slower on the CPU.
"""
from __future__ import annotations

import math

from .. import amp
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import lift


def _rsum(a, axes):
    """Σ over ``axes`` with keepdims; axis 0 first, because NumPy adds whole contiguous
    slabs much faster than it reduces several strided axes at once."""
    if not axes:
        return a
    if len(axes) > 1 and axes[0] == 0:
        a = a.sum(axis=0, keepdims=True)
        axes = axes[1:]
    return a.sum(axis=axes, keepdims=True)


def _rdot(a, b, axes):
    """Σ a·b over ``axes`` with keepdims, without a full-size temporary.

    Over the last axis it is a batch of dot products (a (…, 1, L) @ (…, L, 1) matmul, about
    twice as fast as einsum), then a plain sum over the other axes."""
    last = a.ndim - 1
    if last in axes:
        d = (a[..., None, :] @ b[..., :, None])[..., 0]
        return _rsum(d, tuple(i for i in axes if i != last))
    idx = "abcdefgh"[:a.ndim]
    keep = "".join(c for i, c in enumerate(idx) if i not in axes)
    out = array_module(a).einsum(f"{idx},{idx}->{keep}", a, b)
    return out.reshape(tuple(1 if i in axes else s for i, s in enumerate(a.shape)))


def _update_running(running, mean, var, n):
    """running ← (1-m)·running + m·batch, in place; the variance enters unbiased (n/(n-1)).
    Per-sample statistics (instance norm) are averaged over the batch first."""
    rm, rv, m = running
    bm = mean.reshape(-1, rm.size).mean(axis=0).reshape(rm.shape).astype(rm.dtype)
    bv = var.reshape(-1, rv.size).mean(axis=0).reshape(rv.shape) * (n / (n - 1))
    rm[...] = m * bm + (1 - m) * rm
    rv[...] = m * bv.astype(rv.dtype) + (1 - m) * rv


def _closed_form(g, t, mg, mgx, k):
    """dx = (g - mg - t·mgx)·k, written over the scratch array ``t`` (no allocation)."""
    t *= mgx
    t += mg
    array_module(g).subtract(g, t, out=t)
    t *= k
    return t


def _grads_fixed(g, xv, mean, inv, w, pax, need):
    """Fixed statistics: y is affine in x, so dx = g·γ/√(σ² + ε)."""
    dx = g * (inv if w is None else inv * w) if need[0] else None
    dw = _rdot(g, (xv - mean) * inv, pax) if need[1] else None
    db = _rsum(g, pax) if need[2] else None
    return dx, dw, db


def _grads_shared(g, xc, inv, w, axes, pax, n, need):
    """γ constant over each statistics group (batch, instance norm): one pair of
    reductions Σg, Σg·x̂ = Σg·(x - μ)/σ serves dx, dγ and dβ, and γ moves out of the
    closed form, which runs on the scratch xc = x - μ (x̂·m = xc·(m/σ))."""
    sg, sgx = _rsum(g, axes), _rdot(g, xc, axes) * inv
    extra = tuple(a for a in pax if a not in axes)
    dw = _rsum(sgx, extra) if need[1] else None
    db = _rsum(sg, extra) if need[2] else None
    dx = None
    if need[0]:
        n = g.dtype.type(n)
        dx = _closed_form(g, xc, sg / n, sgx * inv / n, inv if w is None else inv * w)
    return dx, dw, db


def _grads_varying(g, xc, inv, w, axes, pax, n, need):
    """γ varies inside a statistics group (layer, group norm): the closed form on g·γ."""
    xhat = xc
    xhat *= inv
    dw = _rdot(g, xhat, pax) if need[1] else None
    db = _rsum(g, pax) if need[2] else None
    dx = None
    if need[0]:
        gw, n = (g if w is None else g * w), g.dtype.type(n)
        dx = _closed_form(gw, xhat, _rsum(gw, axes) / n, _rdot(gw, xhat, axes) / n, inv)
    return dx, dw, db


class Normalize(Function):
    """y = γ·(x - μ)/√(σ² + ε) + β with μ, σ² over ``axes`` of ``x.reshape(view)``.

    Inputs: x, then γ and/or β as flagged by ``affine``; both are reshaped to ``pshape``
    (broadcastable against ``view``).  ``stats=(μ, σ²)`` fixes the statistics (shape
    broadcastable against ``view``); otherwise they come from the batch and, when
    ``running=(mean, var, momentum)`` is given, update those arrays in place.
    """

    saves_output = False

    def forward(self, x, *wb, view, axes, pshape, affine, eps, stats=None, running=None):
        xp = array_module(x)
        w = wb[0].reshape(pshape) if affine[0] else None
        b = wb[-1].reshape(pshape) if affine[1] else None
        xv = x.reshape(view)
        n = math.prod(view[a] for a in axes)
        eps = x.dtype.type(eps)
        if stats is not None:
            mean, var = stats
            inv = 1 / xp.sqrt(var + eps)
            scale = inv if w is None else inv * w
            y = xv * scale
            y += -mean * scale if b is None else b - mean * scale
            self.saved = (xv, mean, inv, w, view, axes, pshape, n, True)
            return y.reshape(x.shape)
        # x is saved, not x̂: it is alive anyway (the parent tensor), so only y is allocated
        # here and backward rebuilds x - μ in the array that becomes dx.
        mean = _rsum(xv, axes) / x.dtype.type(n)
        y = xv - mean
        var = _rdot(y, y, axes) / x.dtype.type(n)
        if running is not None:
            _update_running(running, mean, var, n)
        inv = 1 / xp.sqrt(var + eps)
        y *= inv if w is None else inv * w
        if b is not None:
            y += b
        self.saved = (xv, mean, inv, w, view, axes, pshape, n, False)
        return y.reshape(x.shape)

    def backward(self, g):
        xv, mean, inv, w, view, axes, pshape, n, fixed = self.saved
        need = self._needs()
        shape, g = g.shape, g.reshape(view)
        pax = tuple(i for i, s in enumerate(pshape) if s == 1)  # γ, β broadcast along these
        if fixed:
            dx, dw, db = _grads_fixed(g, xv, mean, inv, w, pax, need)
        elif all(pshape[a] == 1 for a in axes):
            dx, dw, db = _grads_shared(g, xv - mean, inv, w, axes, pax, n, need)
        else:
            dx, dw, db = _grads_varying(g, xv - mean, inv, w, axes, pax, n, need)
        grads = [None if dx is None else dx.reshape(shape)]
        if w is not None:
            grads.append(dw.reshape(self.parents[1].shape) if need[1] else None)
        if len(self.needs_grad) > len(grads):
            grads.append(db.reshape(self.parents[-1].shape) if need[2] else None)
        return tuple(grads)

    def _needs(self):
        # needs_grad lists x, then γ and β only where present
        needs = self.needs_grad
        w = self.saved[3] is not None
        return needs[0], w and needs[1], len(needs) > 1 + w and needs[-1]


# ---------------------------------------------------------------------- checks


def _float_input(x, op):
    (x,) = amp.upcast_inputs(lift(x))  # float32 under autocast, as torch
    if x.dtype.kind != "f":
        raise TypeError(f"{op} expects floating-point input, got dtype {x.dtype}.")
    return x


def _param(p, name, op, x, size, shape=None):
    """γ or β as a Tensor of ``size`` elements (``shape`` when given) and x's dtype."""
    if p is None:
        return None
    p = lift(p)
    if (shape is not None and tuple(p.shape) != shape) or (shape is None and p.size != size):
        want = shape if shape is not None else f"({size},)"
        raise ValueError(f"{op}: {name} has shape {tuple(p.shape)} but the input "
                         f"{tuple(x.shape)} needs {want}.")
    if p.dtype != x.dtype:
        raise TypeError(f"{op}: {name} has dtype {p.dtype} but the input has dtype "
                        f"{x.dtype}; cast one of them (e.g. weight.astype('{x.dtype}')).")
    return p


def _buffer(r, name, op, x, size):
    """A running statistic as the raw array it is updated in (shared, not copied)."""
    if r is None:
        return None
    a = r.data if isinstance(r, Tensor) else r
    if not hasattr(a, "dtype") or a.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a float array or Tensor, got "
                        f"{type(r).__name__}.")
    if a.size != size:
        raise ValueError(f"{op}: {name} has {a.size} elements but the input "
                         f"{tuple(x.shape)} has {size} channels (axis 1).")
    return a


def _apply(x, weight, bias, **options):
    params = [p for p in (weight, bias) if p is not None]
    return Normalize.apply(x, *params, affine=(weight is not None, bias is not None),
                           **options)


def _channels_first(x, op, min_ndim=2):
    if x.ndim < min_ndim:
        raise ValueError(f"{op} expects input of shape (N, C, *) with at least {min_ndim} "
                         f"dimensions, got shape {tuple(x.shape)}.")
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


# ---------------------------------------------------------------------- public ops


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation per channel (axis 1) of (N, C), (N, C, L) or (N, C, H, W) inputs.

    y = γ·(x - μ)/√(σ² + ε) + β, with μ, σ² over every axis but 1.  Training uses the
    batch statistics (biased σ²) and updates ``running_mean``/``running_var`` (arrays or
    Tensors, changed in place; None for no tracking) as
    running ← (1 - momentum)·running + momentum·batch, the variance unbiased (n/(n-1)).
    Evaluation (``training=False``) uses the running statistics.

    >>> rm, rv = np.zeros(3, "float32"), np.ones(3, "float32")
    >>> y = sj.batch_norm(sj.randn(8, 3, 4, 4), rm, rv, training=True)
    """
    op = "batch_norm"
    x = _float_input(x, op)
    n, c, length = _channels_first(x, op)
    rm = _buffer(running_mean, "running_mean", op, x, c)
    rv = _buffer(running_var, "running_var", op, x, c)
    weight = _param(weight, "weight", op, x, c)
    bias = _param(bias, "bias", op, x, c)
    layout = dict(view=(n, c, length), axes=(0, 2), pshape=(1, c, 1), eps=eps)
    if not training:
        if rm is None or rv is None:
            raise ValueError("batch_norm in evaluation mode (training=False) needs "
                             "running_mean and running_var; pass training=True to "
                             "normalise with the batch statistics instead.")
        stats = (rm.reshape(1, c, 1).astype(x.dtype, copy=False),
                 rv.reshape(1, c, 1).astype(x.dtype, copy=False))
        return _apply(x, weight, bias, stats=stats, **layout)
    if n * length <= 1:
        raise ValueError(f"batch_norm in training needs more than one value per channel, "
                         f"got input shape {tuple(x.shape)}; use a larger batch or "
                         "training=False.")
    if (rm is None) != (rv is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither.")
    running = None if rm is None else (rm, rv, _momentum(momentum, op))
    return _apply(x, weight, bias, running=running, **layout)


def _momentum(momentum, op):
    if momentum is None:
        raise ValueError(f"{op}: momentum=None (a cumulative average) needs a batch count "
                         "the function does not keep; pass momentum=1/num_batches_tracked "
                         "(what a layer does), or a float in [0, 1].")
    if not 0 <= momentum <= 1:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}.")
    return float(momentum)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last ``len(normalized_shape)`` axes of ``x``.

    y = γ·(x - μ)/√(σ² + ε) + β, μ and σ² (biased) per sample over those axes;
    γ, β have shape ``normalized_shape`` (elementwise affine).

    >>> y = sj.layer_norm(sj.randn(2, 5, 16), (16,))
    """
    op = "layer_norm"
    x = _float_input(x, op)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or k > x.ndim or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"layer_norm over normalized_shape {shape} expects input whose last "
                         f"{k} dimensions are {shape}, got shape {tuple(x.shape)}.")
    size = math.prod(shape)
    weight = _param(weight, "weight", op, x, size, shape)
    bias = _param(bias, "bias", op, x, size, shape)
    rows = math.prod(x.shape[:x.ndim - k])
    return _apply(x, weight, bias, view=(rows, size), axes=(1,), pshape=(1, size), eps=eps)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of (N, C, *) inputs: channels split into ``num_groups`` groups,
    μ and σ² (biased) per sample and group, then a per-channel affine γ, β of shape (C,).

    >>> y = sj.group_norm(sj.randn(2, 6, 4, 4), 3)
    """
    op = "group_norm"
    x = _float_input(x, op)
    n, c, length = _channels_first(x, op)
    if not isinstance(num_groups, int) or num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups!r} must be a positive int that "
                         f"divides the {c} channels of the input {tuple(x.shape)}.")
    weight = _param(weight, "weight", op, x, c)
    bias = _param(bias, "bias", op, x, c)
    g = num_groups
    return _apply(x, weight, bias, view=(n, g, c // g, length), axes=(2, 3),
                  pshape=(1, g, c // g, 1), eps=eps)


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalisation: μ, σ² per sample and channel over the spatial axes of
    (N, C, *) inputs, per-channel affine.  With running statistics, the batch average of
    the per-sample statistics updates them (as ``batch_norm``); ``use_input_stats=False``
    normalises with the running statistics instead.

    >>> y = sj.instance_norm(sj.randn(2, 3, 8, 8))
    """
    op = "instance_norm"
    x = _float_input(x, op)
    n, c, length = _channels_first(x, op, 3)
    rm = _buffer(running_mean, "running_mean", op, x, c)
    rv = _buffer(running_var, "running_var", op, x, c)
    weight = _param(weight, "weight", op, x, c)
    bias = _param(bias, "bias", op, x, c)
    layout = dict(view=(n, c, 1, length), axes=(2, 3), pshape=(1, c, 1, 1), eps=eps)
    if (rm is None) != (rv is None):
        raise ValueError(f"{op}: pass both running_mean and running_var, or neither.")
    if not use_input_stats:
        if rm is None:
            raise ValueError(f"{op} with use_input_stats=False needs running_mean and "
                             "running_var.")
        stats = (rm.reshape(layout["pshape"]).astype(x.dtype, copy=False),
                 rv.reshape(layout["pshape"]).astype(x.dtype, copy=False))
        return _apply(x, weight, bias, stats=stats, **layout)
    if length <= 1:
        raise ValueError(f"{op} needs more than one spatial value per channel, got input "
                         f"shape {tuple(x.shape)}.")
    running = None if rm is None else (rm, rv, _momentum(momentum, op))
    return _apply(x, weight, bias, running=running, **layout)
