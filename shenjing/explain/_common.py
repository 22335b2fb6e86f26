"""Helpers shared by the explain tools: loss resolution, forward capture, formatting."""
from __future__ import annotations

import itertools

import numpy as np

from .. import losses as losses_module
from ..autograd import no_grad
from ..backend import to_numpy
from ..nn import activations
from ..tensor import Parameter, Tensor

_CALLS = itertools.count()  # call order across captures


def as_tensor(value):
    """A Tensor view of ``value`` (arrays, lists, numbers; Tensors pass through)."""
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def resolve_loss(loss, model):
    """A function ``(y_pred, y) -> scalar Tensor`` from the ``loss`` argument.

    * None: the model's compiled loss (``model.compile(loss=...)``);
    * a name (``"mse"``) or an ``sj.losses.Loss`` object: Keras order, ``loss(y_true, y_pred)``;
    * any other callable: PyTorch order, ``loss(y_pred, y)`` (``sj.losses.cross_entropy``).
    """
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError("no loss given and the model has no compiled loss: pass loss= "
                             "(a name such as 'mse', an sj.losses.Loss, or fn(y_pred, y)).")
    if isinstance(loss, str):
        loss = losses_module.get(loss)
    if isinstance(loss, losses_module.Loss):
        keras = loss
        return lambda pred, y: _scalar(keras(y, pred))
    if not callable(loss):
        raise TypeError(f"loss must be a name, an sj.losses.Loss or a callable, got "
                        f"{type(loss).__name__}.")
    return lambda pred, y: _scalar(loss(pred, y))


def _scalar(value):
    if not isinstance(value, Tensor):
        raise TypeError(f"the loss returned {type(value).__name__}; it must return a Tensor.")
    return value.mean() if value.ndim else value


def own_parameters(module):
    """(local name, Parameter) held directly by ``module`` (not by its children)."""
    return [(k, v) for k, v in module._members() if isinstance(v, Parameter)]


def first_tensor(out):
    """The first Tensor of a layer's output (a tuple for layers returning states)."""
    while isinstance(out, (tuple, list)) and out:
        out = out[0]
    return out if isinstance(out, Tensor) else None


class ForwardCapture:
    """Record, in call order, each parameterised layer's pre-activation ``z`` and output ``a``.

    ``z`` is caught by wrapping the layer's ``activation`` attribute for the duration (the
    first call's argument); layers without one have ``z = a``.  Both keep their gradient.

    >>> with ForwardCapture(model) as cap:
    ...     loss = loss_fn(model(x), y)
    """

    def __init__(self, model, modules=None):
        named = [(p or getattr(m, "name", "model"), m) for p, m in model.named_modules()]
        self.targets = [(p, m) for p, m in named
                        if (modules is None and own_parameters(m)) or
                        (modules is not None and any(m is t for t in modules))]
        self.records, self._undo = [], []

    def __enter__(self):
        for path, m in self.targets:
            rec = {"module": m, "path": path, "z": None, "a": None}
            self._undo.append(m.register_forward_hook(self._hook(rec)).remove)
            act = m.__dict__.get("activation")
            if callable(act) and act is not activations.linear:
                m.__dict__["activation"] = self._wrap(act, rec)
                self._undo.append(lambda m=m, act=act: m.__dict__.__setitem__("activation", act))
        return self

    def __exit__(self, *exc):
        for undo in reversed(self._undo):
            undo()
        self._undo = []
        return False

    def _hook(self, rec):
        def hook(module, inputs, out):
            if rec["a"] is None:
                a = first_tensor(out)
                if a is not None and a.requires_grad:
                    a.retain_grad()
                rec["a"] = a
                rec["z"] = a if rec["z"] is None else rec["z"]
                rec["seq"] = next(_CALLS)
                self.records.append(rec)
        return hook

    @staticmethod
    def _wrap(act, rec):
        def recorded(z, *args, **kwargs):
            if rec["z"] is None and isinstance(z, Tensor):
                if z.requires_grad:
                    z.retain_grad()
                rec["z"] = z
            return act(z, *args, **kwargs)
        return recorded


def grad_of(t):
    """``t.grad`` as a NumPy array, zeros when none arrived (an unused output)."""
    if t is None:
        return None
    return np.zeros(t.shape, to_numpy(t.data).dtype) if t.grad is None else to_numpy(t.grad.data)


def fmt(arr, precision=4):
    """A compact one-line rendering of an array (summarised when large)."""
    if arr is None:
        return "-"
    a = np.asarray(arr)
    text = np.array2string(a, precision=precision, suppress_small=True, threshold=24,
                           edgeitems=2, max_line_width=10_000, separator=", ")
    return " ".join(text.split())


class Preserved:
    """Leave ``model`` as found: its parameters' ``.grad`` and its buffers (batch-norm
    running statistics) are restored on exit; lazy layers are built first (no_grad)."""

    def __init__(self, model, x=None):
        self.model, self.x = model, x

    def __enter__(self):
        self.buffers = [(b, b.data.copy()) for b in self.model.buffers()]
        if self.x is not None and not all(getattr(m, "built", True)
                                          for m in self.model.modules()):
            with no_grad():
                self.model(self.x)
        self.grads = [(p, p.grad) for p in self.model.parameters()]
        for p, _ in self.grads:
            p.grad = None
        return self

    def __exit__(self, *exc):
        for p, g in self.grads:
            p.grad = g
        for b, data in self.buffers:
            b.data = data
        return False
