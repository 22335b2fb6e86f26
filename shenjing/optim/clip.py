"""Gradient clipping in the PyTorch style: call between ``loss.backward()`` and ``step()``.

Both functions *rebind* ``p.grad`` to a new tensor; they never write into gradient arrays,
which may be shared between tensors.  (Keras-style ``clipnorm=`` / ``clipvalue=`` /
``global_clipnorm=`` on an optimizer do the same inside ``step()``.)
"""
from __future__ import annotations

import math

from ..backend import array_module
from ..tensor import Tensor


def _with_grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

        total = ‖(‖g_1‖_p, ‖g_2‖_p, ...)‖_p        (p = norm_type; inf: max |g|)
        g ← g · min(1, max_norm / (total + 1e-6))

    Returns ``total`` (before clipping) as a 0-d tensor, as ``torch.nn.utils`` does.

    >>> loss.backward()
    >>> sj.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
    >>> opt.step()
    """
    params = _with_grads(parameters)
    p_ = float(norm_type)
    if not (p_ > 0):
        raise ValueError(f"clip_grad_norm_: `norm_type` must be > 0 or inf, got {norm_type!r}.")
    if not params:
        return Tensor(0.0)
    norms = [_norm(p.grad.data, p_) for p in params]
    total = max(norms) if p_ == math.inf else sum(n ** p_ for n in norms) ** (1.0 / p_)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is {total}, so clipping is "
            "impossible; pass error_if_nonfinite=False to skip this check (gradients are then "
            "scaled by a NaN or 0 factor).")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # a NaN total scales by NaN, as torch
        for p in params:
            p.grad = Tensor._wrap(p.grad.data * coef)
    return Tensor(total, dtype=params[0].grad.dtype)


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient element to ``[-clip_value, clip_value]``.

    >>> sj.optim.clip_grad_value_(model.parameters(), 0.5)
    """
    for p in _with_grads(parameters):
        g = p.grad.data
        p.grad = Tensor._wrap(array_module(g).clip(g, -clip_value, clip_value))


def _norm(g, p):
    xp = array_module(g)
    if p == math.inf:
        return float(xp.abs(g).max()) if g.size else 0.0
    if p == 2.0:
        return float(xp.vdot(g, g)) ** 0.5
    return float((xp.abs(g) ** p).sum()) ** (1.0 / p)
