"""Gradient flow: is a deep network learning in every layer, or do its gradients vanish
or explode on the way back?

One forward and backward pass of ``loss(model(x), y)``; for each layer with weights (in
call order) ``gradient_flow`` reports

    grad_norm      ‖∂L/∂W‖₂ of the layer's main weight (kernel / weight; else its first)
    weight_norm    ‖W‖₂
    update_ratio   lr·‖∂L/∂W‖ / ‖W‖   (the relative SGD step; ~1e-3 is the usual healthy size)
    dead_fraction  ReLU layers: the fraction of units (features, or channels of NCHW maps)
                   whose ReLU output is 0 for every sample of the batch
    saturated_fraction  sigmoid / tanh layers: the fraction of activations in the flat
                   regions, |tanh| > 0.99 or sigmoid outside [0.01, 0.99], averaged over
                   the batch and units

The verdict (thresholds are module constants):

    "exploding"  some gradient norm is not finite or exceeds EXPLODING_NORM (1e3),
                 or the loss is not finite
    "vanishing"  ‖g_first‖ / ‖g_last‖ < VANISHING_RATIO (1e-3): the first layer gets a
                 thousandth of the last one's gradient, or every norm < TINY_NORM (1e-8)
    "healthy"    otherwise
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ops
from ..backend import to_numpy
from ..nn import activations as acts
from ..nn.core import Activation
from ._common import ForwardCapture, Preserved, as_tensor, own_parameters, resolve_loss

EXPLODING_NORM = 1e3
VANISHING_RATIO = 1e-3
TINY_NORM = 1e-8
_KINDS = {id(ops.relu): "relu", id(ops.sigmoid): "sigmoid", id(ops.tanh): "tanh"}
_MODULE_KINDS = {acts.ReLU: "relu", acts.Sigmoid: "sigmoid", acts.Tanh: "tanh"}


@dataclass
class FlowRow:
    """One layer of a ``FlowReport``."""

    name: str
    type: str
    param: str
    grad_norm: float
    weight_norm: float
    update_ratio: float
    activation: str | None = None
    dead_fraction: float | None = None
    saturated_fraction: float | None = None


@dataclass
class FlowReport:
    """``layers`` (``FlowRow``s, input side first), ``verdict``, ``reason``, ``loss``, ``lr``."""

    layers: list
    verdict: str
    reason: str
    loss: float
    lr: float

    def summary(self) -> str:
        """One line: the verdict and why."""
        return f"{self.verdict}: {self.reason}"

    def __str__(self) -> str:
        head = ("layer", "param", "‖∂L/∂W‖", "‖W‖", "lr·‖g‖/‖W‖", "act", "dead", "saturated")
        rows = [head] + [(r.name, r.param, f"{r.grad_norm:.3e}", f"{r.weight_norm:.3e}",
                          f"{r.update_ratio:.2e}", r.activation or "-", _pct(r.dead_fraction),
                          _pct(r.saturated_fraction)) for r in self.layers]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([self.summary(), *lines])

    def plot(self, path=None):
        """Bars of gradient norm and update ratio per layer (log scale); a matplotlib Figure
        (Agg canvas, no pyplot state), saved as PNG when ``path`` is given."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        fig = Figure(figsize=(max(6, 0.35 * len(self.layers) + 3), 5.5))
        FigureCanvasAgg(fig)
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        idx = np.arange(len(self.layers))
        ax1.bar(idx, [max(r.grad_norm, 1e-30) for r in self.layers], color="tab:blue")
        ax1.set_yscale("log")
        ax1.set_ylabel("‖∂L/∂W‖")
        ax1.set_title(self.summary(), fontsize=9)
        ax2.bar(idx, [max(r.update_ratio, 1e-30) for r in self.layers], color="tab:orange")
        ax2.set_yscale("log")
        ax2.axhline(1e-3, color="gray", linestyle="--", linewidth=1)
        ax2.set_ylabel(f"lr·‖g‖/‖W‖ (lr={self.lr:g})")
        ax2.set_xticks(idx, [r.name for r in self.layers], rotation=60, ha="right",
                       fontsize=7)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, format="png", dpi=100)
        return fig


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def _kind(fn):
    """"relu", "sigmoid", "tanh" or None for an activation function or layer."""
    if fn is None:
        return None
    kind = _KINDS.get(id(fn)) or _MODULE_KINDS.get(type(fn))
    if kind is None and isinstance(fn, Activation):  # Activation("relu")
        kind = _KINDS.get(id(fn.activation))
    return kind


def dead_fraction(a):
    """Fraction of units (axis 1 of NCHW maps, last axis otherwise) that are 0 for every
    sample: ``mean_u [ max_n,pos |a[n, u, pos]| == 0 ]``."""
    a = np.abs(np.asarray(a))
    axis = 1 if a.ndim > 2 else a.ndim - 1
    per_unit = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1).max(axis=1)
    return float(np.mean(per_unit == 0))


def saturated_fraction(a, kind):
    """Fraction of activations in the flat region: |a| > 0.99 (tanh), a ∉ [0.01, 0.99]
    (sigmoid)."""
    a = np.asarray(a)
    flat = np.abs(a) > 0.99 if kind == "tanh" else (a < 0.01) | (a > 0.99)
    return float(flat.mean())


def gradient_flow(model, x, y, loss, lr=1e-3) -> FlowReport:
    """Gradient and weight norms, update ratios, dead ReLUs and saturated units per layer,
    and a verdict ("vanishing", "exploding", "healthy"; thresholds in the module docstring).

    ``loss`` as in ``trace`` (a name, an ``sj.losses.Loss``, ``fn(y_pred, y)`` or None for
    the compiled loss).  The model's gradients and running statistics are left as found.

    >>> model = sj.nn.Sequential([sj.nn.Dense(8, activation="relu") for _ in range(3)] +
    ...                          [sj.nn.Dense(1)])
    >>> report = sj.explain.gradient_flow(model, np.ones((4, 3)), np.zeros((4, 1)), "mse")
    >>> report.verdict in ("vanishing", "exploding", "healthy")
    True
    """
    loss_fn = resolve_loss(loss, model)
    x, y = as_tensor(x), as_tensor(y)
    with Preserved(model, x):
        act_modules = [m for m in model.modules() if m is not model and
                       not own_parameters(m) and _kind(m) is not None]
        with ForwardCapture(model) as cap, ForwardCapture(model, act_modules) as act_cap:
            value = loss_fn(model(x), y)
        value.backward()
        rows = _rows(cap.records, act_cap.records, lr)
    verdict, reason = _verdict(rows, float(value.item()))
    return FlowReport(rows, verdict, reason, float(value.item()), float(lr))


def _rows(records, act_records, lr):
    """One FlowRow per parameterised layer; a stand-alone activation layer called after it
    (``Dense(64), ReLU()``) counts as that layer's activation."""
    following = {}
    order = sorted([(i, r, False) for i, r in enumerate(records)] +
                   [(i, r, True) for i, r in enumerate(act_records)],
                   key=lambda t: t[1]["seq"])
    last = None
    for _, rec, is_act in order:
        if not is_act:
            last = id(rec)
        elif last is not None and last not in following:
            following[last] = rec
    return [_row(rec, following.get(id(rec)), lr) for rec in records]


def _row(rec, act_rec, lr):
    m = rec["module"]
    own = [(k, p) for k, p in own_parameters(m) if p.requires_grad] or own_parameters(m)
    key, p = next(((k, q) for k, q in own if q.ndim >= 2), own[0])
    g = np.zeros(p.shape) if p.grad is None else to_numpy(p.grad.data).astype(np.float64)
    gn = float(np.linalg.norm(g))
    wn = float(np.linalg.norm(to_numpy(p.data).astype(np.float64)))
    row = FlowRow(rec["path"] if not getattr(m, "name", None) else m.name, type(m).__name__,
                  key, gn, wn, lr * gn / wn if wn > 0 else float("inf"))
    kind, a = _kind(m.__dict__.get("activation")), rec["a"]
    if kind is None and act_rec is not None:
        kind, a = _kind(act_rec["module"]), act_rec["a"]
    row.activation = kind
    if kind == "relu":
        row.dead_fraction = dead_fraction(to_numpy(a.data))
    elif kind in ("sigmoid", "tanh"):
        row.saturated_fraction = saturated_fraction(to_numpy(a.data), kind)
    return row


def _verdict(rows, loss):
    if not rows:
        return "healthy", "no layer with weights"
    norms = np.array([r.grad_norm for r in rows])
    if not np.isfinite(loss) or not np.all(np.isfinite(norms)):
        return "exploding", "a gradient norm or the loss is not finite"
    if norms.max() > EXPLODING_NORM:
        worst = rows[int(norms.argmax())]
        return "exploding", (f"‖∂L/∂W‖ of {worst.name} is {norms.max():.3g} > "
                             f"{EXPLODING_NORM:g}")
    if norms.max() < TINY_NORM:
        return "vanishing", f"every gradient norm is below {TINY_NORM:g}"
    ratio = norms[0] / norms[-1] if norms[-1] > 0 else float("inf")
    text = (f"first/last gradient-norm ratio {ratio:.2e} ({rows[0].name} "
            f"{norms[0]:.2e}, {rows[-1].name} {norms[-1]:.2e}) over {len(rows)} layers")
    if ratio < VANISHING_RATIO:
        return "vanishing", f"{text} < {VANISHING_RATIO:g}"
    return "healthy", text
