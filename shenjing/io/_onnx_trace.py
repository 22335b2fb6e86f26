"""Tracing for ONNX export: run the model once and record every op (``Function.apply``).

The export runs the forward pass twice, on batches of two sizes (``BATCHES``), with every
op call recorded together with the innermost layer that made it.  Comparing the two runs
tells which numbers depend on the batch size (a ``Reshape`` target, a ``view``), and which
constants are real constants: a value that changes between the runs but was not produced
by a recorded op was computed outside shenjing's ops (raw NumPy on ``.data``) and cannot be
exported faithfully, so the converters refuse it instead of baking in a wrong value.

Nothing here imports ONNX.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..autograd import Function, no_grad
from ..nn.module import Module
from ..tensor import Tensor

BATCHES = (3, 5)  # two small, distinct batch sizes (1 would hide broadcasting)


class OnnxExportError(NotImplementedError):
    """The model holds something the ONNX exporter cannot express; the message names it."""


class Call:
    """One recorded op: its Function class, Tensor inputs, keyword options and output."""

    __slots__ = ("fn", "inputs", "options", "output", "layer")

    def __init__(self, fn, inputs, options, output, layer):
        self.fn, self.inputs, self.options = fn, inputs, options
        self.output, self.layer = output, layer


def layer_label(module):
    """``Conv2D 'conv2d_1'`` for error messages (None: the model's own code)."""
    if module is None:
        return "the model's forward"
    return f"{type(module).__name__} '{getattr(module, 'name', '?')}'"


@contextlib.contextmanager
def _recording(calls):
    """Patch ``Function.apply`` and ``Module.__call__`` so every op call is appended to
    ``calls`` with the innermost layer running it (restored on exit, even on errors)."""
    apply_orig = Function.__dict__["apply"]
    call_orig = Module.__call__
    stack = []

    def apply(cls, *inputs, **options):
        out = apply_orig.__func__(cls, *inputs, **options)
        calls.append(Call(cls, inputs, options, out, stack[-1] if stack else None))
        return out

    def call(self, *args, **kwargs):
        stack.append(self)
        try:
            return call_orig(self, *args, **kwargs)
        finally:
            stack.pop()

    Function.apply = classmethod(apply)
    Module.__call__ = call
    try:
        yield
    finally:
        Function.apply = apply_orig
        Module.__call__ = call_orig


@contextlib.contextmanager
def _eval_with_grads(model):
    """Evaluation mode, and every parameter requiring a gradient, for the trace: ops only
    record (and ``getitem`` only goes through its op) on tensors that need gradients."""
    modes = [(m, m.training) for m in model.modules()]
    params = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    try:
        for p, _ in params:
            if p.data.dtype.kind == "f":
                p.requires_grad_(True)
        yield
    finally:
        for p, flag in params:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.training = mode


class Trace:
    """One forward pass: the input Tensor, the recorded calls, the output(s)."""

    def __init__(self, x, calls, outputs):
        self.x, self.calls, self.outputs = x, calls, outputs
        self.batch = x.shape[0]


def _run(model, x):
    t = Tensor._wrap(x)
    if x.dtype.kind == "f":
        t.requires_grad_(True)
    calls = []
    with _recording(calls), _eval_with_grads(model):
        out = model(t)
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outputs:
        if not isinstance(o, Tensor):
            raise OnnxExportError(f"the model returned a {type(o).__name__}; ONNX export "
                                  "needs a Tensor or a tuple/list of Tensors.")
    return Trace(t, calls, outputs)


def batch_of(example, n, perturb):
    """``n`` rows cycled from ``example`` (float rows nudged when ``perturb``, so values
    computed from the data outside the ops differ between the two runs)."""
    rows = example[np.arange(n) % example.shape[0]]
    if perturb and rows.dtype.kind == "f":
        noise = np.random.default_rng(0).standard_normal(rows.shape) * 1e-3
        rows = rows + noise.astype(rows.dtype) * (np.abs(rows).mean() + 1)
    return np.ascontiguousarray(rows)


def _build(model, example):
    """Create lazily built weights first (building is not part of the graph)."""
    if all(m.built for m in model.modules()):
        return
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(Tensor._wrap(batch_of(example, 1, False)))
    finally:
        for m, mode in modes:
            m.training = mode


def trace_twice(model, example):
    """Two traces of ``model`` on batches of ``BATCHES`` rows built from ``example``."""
    _build(model, example)
    first = _run(model, batch_of(example, BATCHES[0], False))
    second = _run(model, batch_of(example, BATCHES[1], True))
    a, b = first.calls, second.calls
    same = len(a) == len(b) and all(c.fn is d.fn for c, d in zip(a, b))
    if not same or len(first.outputs) != len(second.outputs):
        where = next((i for i, (c, d) in enumerate(zip(a, b)) if c.fn is not d.fn),
                     min(len(a), len(b)))
        longer = a if where < len(a) else b
        layer = layer_label(longer[where].layer) if where < len(longer) else "the outputs"
        raise OnnxExportError(f"the forward pass runs different ops for batch sizes "
                              f"{BATCHES[0]} and {BATCHES[1]} (first difference at op "
                              f"#{where}, in {layer}): ONNX export needs one graph for every "
                              "batch size, without data- or size-dependent Python control "
                              "flow.")
    return first, second
