"""Drawings: the autograd graph behind a tensor, and a model's layer architecture.

Both return a ``GraphDrawing`` holding Graphviz DOT source (``.dot``); ``.save(path)``
writes ``.dot`` text, or ``.svg`` / ``.png`` through the ``dot`` program.  Without
Graphviz installed, SVG/PNG requests fall back to writing the DOT text (with a warning
that says how to render it).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass

from ..autograd import no_grad
from ..creation import zeros
from ..tensor import Tensor
from ._common import first_tensor


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shape(t):
    return str(tuple(int(d) for d in t)) if isinstance(t, tuple) else str(t)


@dataclass
class GraphDrawing:
    """DOT source of a graph; ``save`` renders it.  ``nodes``: how many boxes it has."""

    dot: str
    nodes: int = 0

    def __str__(self):
        return self.dot

    def save(self, path):
        """Write ``path``: ``.dot``/``.gv`` as text, ``.svg``/``.png``/``.pdf`` via Graphviz.

        Returns the path written (``<stem>.dot`` when Graphviz is missing)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lower().lstrip(".")
        if fmt in ("dot", "gv", ""):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.dot)
            return path
        exe = shutil.which("dot")
        if exe is None:
            fallback = os.path.splitext(path)[0] + ".dot"
            warnings.warn(f"Graphviz's `dot` program was not found, so {path!r} cannot be "
                          f"rendered; wrote the DOT source to {fallback!r} instead. Install "
                          f"Graphviz and run `dot -T{fmt} {fallback} -o {path}`.",
                          RuntimeWarning, stacklevel=2)
            return self.save(fallback)
        subprocess.run([exe, f"-T{fmt}", "-o", path], input=self.dot.encode("utf-8"),
                       check=True, capture_output=True)
        return path

    def _repr_svg_(self):  # inline display in Jupyter when Graphviz is present
        exe = shutil.which("dot")
        if exe is None:
            return None
        return subprocess.run([exe, "-Tsvg"], input=self.dot.encode("utf-8"),
                              capture_output=True, check=True).stdout.decode("utf-8")


def graph(tensor, params=None) -> GraphDrawing:
    """The autograd graph that produced ``tensor``: op nodes (Function class name and output
    shape) back to the leaves (parameters by name when ``params`` maps names to tensors,
    e.g. ``dict(model.named_parameters())``; other leaves as "input"/"const" with shape).

    >>> x = sj.tensor([1.0, 2.0], requires_grad=True)
    >>> g = sj.explain.graph((x * x).sum(), params={"x": x})
    >>> "Mul" in g.dot and '"x' in g.dot
    True
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"graph expects a Tensor, got {type(tensor).__name__}.")
    names = {id(t): n for n, t in (params or {}).items()}
    lines, ids, stack = [], {}, [tensor]

    def node_id(t):
        if id(t) not in ids:
            ids[id(t)] = f"n{len(ids)}"
            lines.append(f"  {ids[id(t)]} [{_node_attrs(t, names)}];")
            stack.append(t)
        return ids[id(t)]

    node_id(tensor)  # pushes it
    seen = set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t.grad_fn is None:
            continue
        seen.add(id(t))
        for p in t.grad_fn.parents:
            lines.append(f"  {node_id(p)} -> {ids[id(t)]};")
    head = ["digraph autograd {", "  rankdir=BT;",
            '  node [fontname="Helvetica", fontsize=10];']
    return GraphDrawing("\n".join(head + lines + ["}"]), len(ids))


def _label(*lines):
    """A quoted DOT label, one line per argument."""
    return "\\n".join(_quote(x)[1:-1] for x in lines).join('""')


def _node_attrs(t, names):
    shape = _shape(tuple(t.shape))
    if t.grad_fn is not None:
        return (f"label={_label(t.grad_fn.name, shape)}, shape=box, style=filled, "
                'fillcolor="#dbe8f7"')
    if id(t) in names:
        return (f"label={_label(names[id(t)], shape)}, shape=ellipse, style=filled, "
                'fillcolor="#fde2b8"')
    kind = "input" if t.requires_grad or t.size > 1 else "const"
    return f"label={_label(kind, shape)}, shape=ellipse"


def plot_model(model, path=None, input_shape=None) -> GraphDrawing:
    """The layer architecture: one box per layer (name, type, output shape), edges in call
    order.  With ``input_shape`` (without the batch axis) a zero sample is run through the
    model first; otherwise the shapes of the last call are shown.  ``path``: also save it
    (.dot, .svg or .png).

    >>> model = sj.nn.Sequential([sj.nn.Dense(8, activation="relu"), sj.nn.Dense(2)])
    >>> print(sj.explain.plot_model(model, input_shape=(4,)).dot)   # doctest: +SKIP
    """
    leaves = [m for m in model.modules() if m is not model and not list(m.children())]
    leaves = leaves or [model]
    order = _call_order(model, leaves, input_shape)
    lines = ["digraph model {", "  rankdir=TB;",
             '  node [shape=record, fontname="Helvetica", fontsize=10];']
    ids = {}
    for m, shape in order:
        if id(m) not in ids:
            ids[id(m)] = f"l{len(ids)}"
            label = f"{m.name}: {type(m).__name__}|output {_shape(shape)}"
            lines.append(f"  {ids[id(m)]} [label={_quote('{' + label + '}')}];")
    for (a, _), (b, _) in zip(order, order[1:]):
        lines.append(f"  {ids[id(a)]} -> {ids[id(b)]};")
    drawing = GraphDrawing("\n".join(lines + ["}"]), len(ids))
    if path is not None:
        drawing.save(path)
    return drawing


def _call_order(model, leaves, input_shape):
    """[(layer, output shape)] in call order (from hooks on a zero forward), or the
    definition order with each layer's last output shape."""
    if input_shape is None:
        return [(m, m.output_shape) for m in leaves]
    shape = tuple(input_shape)
    shape = shape[1:] if shape and shape[0] is None else shape
    calls, handles = [], []
    for m in leaves:
        def hook(mod, inputs, out):
            t = first_tensor(out)
            calls.append((mod, tuple(t.shape) if t is not None else None))
        handles.append(m.register_forward_hook(hook))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(zeros((1, *shape), dtype=getattr(model, "dtype", None)))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return calls
