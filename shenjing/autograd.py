"""Reverse-mode automatic differentiation: the ``Function`` node and the backward pass.

A ``Function`` subclass writes ``forward`` and ``backward`` on raw arrays, side by side.
``Function.apply`` runs ``forward`` and, when any input requires a gradient and grad mode
is on, records the node on the result so ``Tensor.backward`` can walk the graph back:

    y = f(x)            forward:  y = f.forward(x)
    dL/dx = dL/dy·f'(x)  backward: dx = f.backward(dL/dy)   (the chain rule, one node at a time)
"""
from __future__ import annotations

import functools
import threading

import numpy as np  # the host array type only (a fast same-device test), no compute

from .backend import device_of


class _GradMode(threading.local):
    enabled = True  # the class default: a thread that never set it reads True without a miss


_state = _GradMode()
_wrap = None  # Tensor._wrap, bound by tensor.py (tensor imports autograd)


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (per thread)."""
    return _state.enabled


def set_grad_enabled(mode: bool) -> None:
    _state.enabled = bool(mode)


class no_grad:
    """Context manager and decorator that turns graph recording off.

    >>> with sj.no_grad():
    ...     y = model(x)          # y.requires_grad is False, no graph is kept
    """

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self if func is None else self(func)  # bare ``@no_grad``, as in PyTorch

    def __enter__(self):
        self._prev = is_grad_enabled()
        set_grad_enabled(False)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._prev)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        self._prev = is_grad_enabled()
        set_grad_enabled(True)
        return self


class Function:
    """One differentiable operation: ``forward`` and ``backward`` on raw arrays.

    Subclasses implement ``forward(self, *arrays, **options) -> array`` and
    ``backward(self, grad) -> array | tuple`` with one gradient per array input (already
    reduced to that input's shape) or ``None`` where ``self.needs_grad[i]`` is False.
    """

    __slots__ = ("parents", "needs_grad", "saved", "freed")
    # False where backward never reads the output array, so an in-place op may overwrite
    # it (``relu(x, inplace=True)`` checks this of the op that made x)
    saves_output = True

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        """Run the op on Tensors ``inputs``; record it in the graph if a gradient is needed."""
        # This runs once per op: kept lean (two inputs, the common case, unrolled).
        fn = cls()
        if len(inputs) == 2:
            a, b = inputs
            fn.needs_grad = needs = (a._requires_grad, b._requires_grad)
            x, y = a.data, b.data
            tx = type(x)
            if tx is not type(y) or (tx is not _HOST_ARRAY and not _same_device(x, y)):
                _check_one_device(cls.__name__, (x, y))
            out = fn.forward(x, y, **options)
        else:
            fn.needs_grad = needs = tuple([t._requires_grad for t in inputs])
            arrays = [t.data for t in inputs]
            if len(arrays) > 1:
                first = type(arrays[0])
                if any(type(a) is not first for a in arrays) or (
                        first is not _HOST_ARRAY
                        and not all(_same_device(arrays[0], a) for a in arrays[1:])):
                    _check_one_device(cls.__name__, arrays)
            out = fn.forward(*arrays, **options)
        if True not in needs or not _state.enabled:
            return _wrap(out)
        fn.parents = inputs
        fn.freed = False
        return _wrap(out, fn)

    @property
    def name(self) -> str:
        return type(self).__name__


_HOST_ARRAY = np.ndarray


def _same_device(x, y) -> bool:
    """Two arrays of one (non-NumPy) type on the same device: CuPy's ``.device`` objects
    compare by GPU number (cheap, no Device objects of ours)."""
    return getattr(x, "device", None) == getattr(y, "device", None)


def _check_one_device(op: str, arrays) -> None:
    """Raise when the inputs of one op live on different devices (called only when their
    array types differ, or their devices do)."""
    devices = [device_of(a) for a in arrays]
    for i, d in enumerate(devices):
        if d != devices[0]:
            raise RuntimeError(
                f"{op} got inputs on different devices: input 0 is on {devices[0]}, input {i} "
                f"is on {d}. Move them to one device first, e.g. x.to('{devices[0]}').")


def _topological_order(root):
    """Nodes reachable from ``root`` (tensors with a grad_fn), outputs before inputs.

    Iterative depth-first search, so a chain of 10,000 ops does not hit Python's
    recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        fn = t.grad_fn
        if fn is not None:
            if fn.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time: its saved values "
                    "were freed by the first backward(). Pass retain_graph=True to the first "
                    "call if you need to backpropagate twice."
                )
            for p in fn.parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    order.reverse()
    return order


def backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (dL/droot, a raw array) to every leaf that requires a gradient.

    Gradients of a tensor used several times are summed (multivariate chain rule).  Leaves
    accumulate into ``.grad`` across calls, as in PyTorch.  The graph's saved arrays are
    freed afterwards unless ``retain_graph``.
    """
    order = _topological_order(root)
    grads = {id(root): grad}
    # Ids of arrays already stored in some .grad (or handed in by the caller): a leaf may
    # keep its gradient array without copying only if it is fresh (not a view, not shared).
    handed = {id(grad)}
    for t in order:
        g = grads.pop(id(t), None)
        if g is None:
            continue
        if t._hooks:
            for hook in t._hooks:
                out = hook(g)
                g = g if out is None else out
        fn = t.grad_fn
        if fn is None or t._retains_grad:
            # (CuPy arrays have no ``writeable`` flag: device arrays are always writeable)
            writeable = getattr(g.flags, "writeable", True)
            owned = g.base is None and writeable and id(g) not in handed
            t._accumulate_grad(g, owned)
            handed.add(id(g))
        if fn is None:
            continue
        in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for p, pg in zip(fn.parents, in_grads):
            if pg is None or not p.requires_grad:
                continue
            key = id(p)
            prev = grads.get(key)
            grads[key] = pg if prev is None else prev + pg
        if not retain_graph:
            fn.saved = None
            fn.freed = True
