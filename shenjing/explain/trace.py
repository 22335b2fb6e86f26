"""Backpropagation, layer by layer: the numbers a hand computation writes down.

For each parameterised layer ``a = f(z)``, ``z = W·a_prev + b`` (Dense: ``z = x @ kernel +
bias``) the trace keeps

    z      the pre-activation            a     = f(z), the layer's output
    δ      = ∂L/∂z (the layer's "error")  ∂L/∂W = a_prevᵀ δ,  ∂L/∂b = Σ_batch δ
    update = what ``optimizer.step()`` would add to each parameter (SGD: -lr·∂L/∂W)

all read from one real forward and backward pass (nothing is re-derived by hand), so the
trace is exactly what training does.  The model's weights, gradients and optimizer state
are left untouched.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..backend import to_numpy
from ._common import (
    ForwardCapture,
    Preserved,
    as_tensor,
    fmt,
    grad_of,
    own_parameters,
    resolve_loss,
)


@dataclass
class LayerTrace:
    """One layer of a ``BackpropTrace``: arrays are NumPy copies."""

    name: str
    type: str
    z: np.ndarray
    a: np.ndarray
    delta: np.ndarray
    grads: dict
    updates: dict | None = None
    params: dict = field(default_factory=dict)  # the weights before the update

    def rows(self):
        """(quantity, array) pairs in reading order."""
        out = [("z", self.z), ("a", self.a), ("δ = ∂L/∂z", self.delta)]
        out += [(f"{k}", v) for k, v in self.params.items()]
        out += [(f"∂L/∂{k}", v) for k, v in self.grads.items()]
        if self.updates is not None:
            out += [(f"Δ{k} (update)", v) for k, v in self.updates.items()]
        return out


@dataclass
class BackpropTrace:
    """Result of ``trace``: ``loss`` (float), ``output`` (the model's prediction), ``layers``."""

    loss: float
    output: np.ndarray
    layers: list

    def __getitem__(self, key):
        """A layer by position or by name."""
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"no layer named {key!r}; layers: {[t.name for t in self.layers]}")
        return self.layers[key]

    def table(self, precision=4) -> str:
        """A plain-text table: one block per layer, one row per quantity."""
        lines = [f"loss = {self.loss:.{precision + 2}g}"]
        for t in self.layers:
            lines.append(f"{t.name} ({t.type})")
            rows = [(q, fmt(v, precision)) for q, v in t.rows()]
            width = max(len(q) for q, _ in rows)
            lines += [f"  {q.ljust(width)}  {v}" for q, v in rows]
        return "\n".join(lines)

    __str__ = table

    def to_markdown(self, precision=4) -> str:
        """A Markdown table: | layer | quantity | value |."""
        lines = [f"Loss: `{self.loss:.{precision + 2}g}`", "",
                 "| layer | quantity | value |", "|---|---|---|"]
        for t in self.layers:
            for q, v in t.rows():
                lines.append(f"| {t.name} | {q} | `{fmt(v, precision)}` |")
        return "\n".join(lines)

    def to_latex(self, precision=4) -> str:
        """A LaTeX ``align*`` block, matrices as ``bmatrix`` (large ones by shape and norm)."""
        names = {"z": "z", "a": "a", "δ = ∂L/∂z": r"\delta"}
        lines = [r"\begin{align*}", rf"L &= {self.loss:.{precision + 2}g} \\"]
        for i, t in enumerate(self.layers, 1):
            for q, v in t.rows():
                sym = names.get(q) or _latex_symbol(q)
                lines.append(rf"{sym}^{{[{i}]}} &= {_latex_array(v, precision)} \\")
        lines.append(r"\end{align*}")
        return "\n".join(lines)


def _latex_symbol(q):
    if q.startswith("∂L/∂"):
        return rf"\frac{{\partial L}}{{\partial \mathrm{{{q[4:]}}}}}"
    if q.startswith("Δ"):
        return rf"\Delta \mathrm{{{q[1:].split(' ')[0]}}}"
    return rf"\mathrm{{{q}}}"


def _latex_array(v, precision):
    a = np.atleast_2d(np.asarray(v, dtype=np.float64))
    if a.ndim > 2 or a.size > 64:
        return rf"\text{{shape {tuple(np.shape(v))}, norm {np.linalg.norm(a):.{precision}g}}}"
    body = r" \\ ".join(" & ".join(f"{x:.{precision}g}" for x in row) for row in a)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def trace(model, x, y, loss, optimizer=None) -> BackpropTrace:
    """One forward and backward pass of ``loss(model(x), y)``, recorded layer by layer.

    ``loss``: a name (``"mse"``) or ``sj.losses.Loss`` (called Keras-style,
    ``loss(y_true, y_pred)``), any callable ``loss(y_pred, y)`` (PyTorch order), or None for
    the model's compiled loss.  ``optimizer``: an ``sj.optim`` optimizer; each parameter's
    ``update`` is the change its ``step()`` would make now, computed on copies (weights and
    optimizer state are not changed).  Example:

    >>> model = sj.nn.Sequential([sj.nn.Dense(2, activation="relu"), sj.nn.Dense(1)])
    >>> t = sj.explain.trace(model, np.ones((1, 3)), np.zeros((1, 1)), "mse",
    ...                      sj.optim.SGD(lr=0.1))
    >>> t.layers[0].delta.shape, t.layers[0].grads["kernel"].shape
    ((1, 2), (3, 2))
    """
    loss_fn = resolve_loss(loss, model)
    x = as_tensor(x)
    y = as_tensor(y)
    with Preserved(model, x):
        with ForwardCapture(model) as cap:
            out = model(x)
            value = loss_fn(out, y)
        value.backward()
        layers = [_layer_trace(rec) for rec in cap.records]
        if optimizer is not None:
            _fill_updates(layers, cap.records, optimizer)
    return BackpropTrace(float(value.item()), to_numpy(out.data).copy(), layers)


def _layer_trace(rec):
    m = rec["module"]
    own = own_parameters(m)
    return LayerTrace(
        name=getattr(m, "name", rec["path"]), type=type(m).__name__,
        z=to_numpy(rec["z"].data).copy(), a=to_numpy(rec["a"].data).copy(),
        delta=grad_of(rec["z"]).copy(),
        grads={k: grad_of(p).copy() for k, p in own if p.requires_grad},
        params={k: to_numpy(p.data).copy() for k, p in own if p.requires_grad})


def _fill_updates(layers, records, opt):
    """What ``opt.step()`` would change now: ``update`` run on copies of weights and state."""
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    clip = opt.clipnorm is not None or opt.clipvalue is not None
    scale = 1.0
    if opt.global_clipnorm is not None and opt.param_groups:
        scale = opt._global_scale()
    for layer, rec in zip(layers, records):
        layer.updates = {}
        for k, p in own_parameters(rec["module"]):
            if not p.requires_grad:
                continue
            group = group_of.get(id(p), {**opt.defaults, "params": []})
            g = p.grad.data if p.grad is not None else np.zeros_like(p.data)
            g = opt._clip(g, scale) if clip or scale < 1.0 else g
            w = p.data.copy()
            opt.update(w, g, copy.deepcopy(opt.state.get(p, {})), group)
            layer.updates[k] = to_numpy(w - p.data)
