"""Numerical gradient check: autograd against central finite differences, in float64.

For a function ``f`` with (possibly non-scalar) output, a fixed random projection ``R``
turns it into the scalar ``L = Σ f(x)·R``.  For each element ``xᵢ`` of each checked input

    analytic  dL/dxᵢ   from one ``backward()``
    numeric   (L(x + ε·eᵢ) - L(x - ε·eᵢ)) / 2ε

must agree within ``|analytic - numeric| ≤ atol + rtol·|numeric|``.  Check away from kinks
(relu at 0, abs at 0, max at ties): there the two sides legitimately disagree.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .. import autograd, dtypes
from ..backend import to_numpy
from ..tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with finite differences."""


@dataclass
class InputCheck:
    """The comparison for one checked input (or parameter)."""

    name: str
    shape: tuple
    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple  # the element furthest outside the tolerance
    analytic: float
    numeric: float


@dataclass
class GradcheckReport:
    """Result of ``gradcheck``: ``ok`` and one ``InputCheck`` per checked input."""

    ok: bool
    entries: list = field(default_factory=list)
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3
    notes: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (f"gradcheck {'passed' if self.ok else 'FAILED'} "
                f"(eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g})")
        cols = ("input", "shape", "max abs err", "max rel err", "worst index",
                "analytic", "numeric", "")
        rows = [cols] + [(e.name, str(e.shape), f"{e.max_abs_error:.3e}",
                          f"{e.max_rel_error:.3e}", str(e.worst_index), f"{e.analytic:.6g}",
                          f"{e.numeric:.6g}", "ok" if e.ok else "MISMATCH")
                         for e in self.entries]
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                          for r in rows]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _as_input(value):
    """Float data becomes a float64 leaf that requires grad; everything else passes through."""
    if isinstance(value, Tensor):
        arr = to_numpy(value.data)
    elif isinstance(value, (np.ndarray, list, float, np.floating)):
        arr = np.asarray(value)
    else:
        return value, False
    if arr.dtype.kind != "f":
        return Tensor(arr), False
    return Tensor(arr.astype(np.float64), requires_grad=True), True


def _named_parameters(module):
    """(name, parameter) pairs, each parameter once (shared weights are listed once)."""
    if hasattr(module, "named_parameters"):
        pairs = list(module.named_parameters())
    else:
        pairs = [(f"param[{i}]", p) for i, p in enumerate(module.parameters())]
    seen = set()
    return [(n, p) for n, p in pairs if id(p) not in seen and not seen.add(id(p))]


def _projected(fn, xs, r):
    with autograd.no_grad():
        return float(np.sum(to_numpy(fn(*xs).data) * r))


def _compare(name, x, fn, xs, r, eps, atol, rtol):
    analytic = (np.zeros(x.shape) if x.grad is None else to_numpy(x.grad.data)).astype(np.float64)
    numeric = np.empty_like(analytic)
    data = x.data
    for i in np.ndindex(*x.shape):
        orig = data[i]
        data[i] = orig + eps
        plus = _projected(fn, xs, r)
        data[i] = orig - eps
        minus = _projected(fn, xs, r)
        data[i] = orig
        numeric[i] = (plus - minus) / (2 * eps)
    err = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    rel = np.divide(err, scale, out=np.zeros_like(err), where=scale > 0)  # in [0, 2]
    if not x.shape or not err.size:
        worst = ()
    else:
        worst = np.unravel_index(np.argmax(err / (atol + rtol * np.abs(numeric))), x.shape)
        worst = tuple(int(i) for i in worst)
    ok = bool(np.all(err <= atol + rtol * np.abs(numeric)))
    return InputCheck(name, tuple(x.shape), ok, float(err.max(initial=0.0)),
                      float(rel.max(initial=0.0)), worst,
                      float(analytic[worst]) if err.size else 0.0,
                      float(numeric[worst]) if err.size else 0.0)


def _run(fn, xs, checked, eps, atol, rtol, raise_exception):
    """checked: list of (name, leaf tensor) whose gradients are compared."""
    out = fn(*xs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}.")
    r = np.random.default_rng(0).standard_normal(out.shape)
    notes = []
    if out.dtype != np.float64:
        notes.append(f"fn returned dtype {out.dtype}; finite differences need float64 "
                     "throughout, so errors may be rounding, not a wrong gradient.")
    for _, x in checked:
        x.grad = None
    if out.requires_grad:
        out.backward(Tensor(r.astype(out.dtype)))
    else:
        notes.append("fn's output does not require grad: analytic gradients taken as zero.")
    entries = [_compare(n, x, fn, xs, r, eps, atol, rtol) for n, x in checked]
    report = GradcheckReport(all(e.ok for e in entries), entries, eps, atol, rtol, notes)
    if raise_exception and not report.ok:
        raise GradcheckError(str(report))
    return report


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, wrt=None):
    """Compare ``fn``'s autograd gradients with central finite differences, in float64.

    ``inputs`` is a sequence of Tensors / arrays / Python values.  Floating ones are copied
    to float64 leaves with ``requires_grad=True`` and checked (or only those at positions
    ``wrt``); integer data (labels, indices) and other values pass through unchecked.  When
    ``fn`` is a Module, its parameters are checked too (temporarily cast to float64).
    Non-scalar outputs are reduced as ``Σ fn(*inputs)·R`` with a fixed random ``R``.

    Returns a ``GradcheckReport``; raises ``GradcheckError`` (with the report's table) when
    a gradient mismatches and ``raise_exception`` is true.

    >>> sj.explain.gradcheck(lambda a, b: a * b + sj.exp(a), [sj.randn(3), sj.randn(3)]).ok
    True
    """
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable, got {type(fn).__name__}.")
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = [inputs]
    converted = [_as_input(v) for v in inputs]
    xs = [x for x, _ in converted]
    floats = [i for i, (_, is_float) in enumerate(converted) if is_float]
    picks = floats if wrt is None else [int(i) for i in np.atleast_1d(wrt)]
    checked = []
    for i in picks:
        if not converted[i][1]:
            raise ValueError(f"gradcheck: input {i} is not floating-point data and cannot "
                             "be checked; leave it out of `wrt`.")
        checked.append((f"input[{i}]", xs[i]))
    if not hasattr(fn, "parameters"):
        with _float64_default():
            return _run(fn, xs, checked, eps, atol, rtol, raise_exception)
    return _run_module(fn, xs, checked, eps, atol, rtol, raise_exception)


def _run_module(module, xs, checked, *args):
    """Check a Module: build it (layers create weights on the first call, in the user's
    dtype), cast its parameters to float64 for the check, then restore data and grads."""
    with autograd.no_grad():
        module(*xs)
    params = [(n, p) for n, p in _named_parameters(module) if p.requires_grad]
    saved = [(p, p.data, p.grad) for _, p in params]
    try:
        for _, p in params:
            p.data = to_numpy(p.data).astype(np.float64)
        with _float64_default():
            return _run(module, xs, checked + params, *args)
    finally:
        for p, data, grad in saved:
            p.data, p.grad = data, grad


@contextmanager
def _float64_default():
    """Tensors that ``fn`` creates internally are float64 too while checking."""
    prev = dtypes.get_default_dtype()
    dtypes.set_default_dtype(np.float64)
    try:
        yield
    finally:
        dtypes.set_default_dtype(prev)


def gradcheck_module(model, x, y, loss_fn, **kwargs):
    """``gradcheck`` of ``loss_fn(model(x), y)`` with respect to ``x`` and every parameter.

    ``y`` (labels or targets) is not checked.  Keyword arguments go to ``gradcheck``.
    """

    y_ = y
    if isinstance(y, (Tensor, np.ndarray)):
        arr = to_numpy(y.data) if isinstance(y, Tensor) else y
        y_ = Tensor(arr.astype(np.float64)) if arr.dtype.kind == "f" else y

    class _Loss:
        def __call__(self, x_):
            return loss_fn(model(x_), y_)

        def named_parameters(self):
            return _named_parameters(model)

        def parameters(self):
            return [p for _, p in _named_parameters(model)]

    return gradcheck(_Loss(), [x], **kwargs)
