"""Tensor: an n-dimensional array that remembers how it was computed.

``Tensor.data`` is the raw NumPy (or CuPy) array.  A tensor produced by a differentiable op
while grad mode is on keeps that op in ``grad_fn``; ``loss.backward()`` walks these nodes in
reverse and leaves dL/dx in ``x.grad`` for every leaf ``x`` with ``requires_grad=True``.
Operators and methods delegate to the functions in ``shenjing.ops``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _tensor_conversion, _tensor_operators, autograd, dtypes
from ._tensor_conversion import TensorConversion
from ._tensor_operators import TensorOperators
from .backend import array_module, device_of, is_device_array, to_device
from .device import Device
from .device import device as _checked_device


# Tensor is assembled from three files (size): this core (data, properties, autograd),
# TensorOperators (operators, NumPy-style methods) and TensorConversion (NumPy / Python
# values, casts, device transfer, printing).
class Tensor(TensorOperators, TensorConversion):
    """A multi-dimensional array with reverse-mode autograd.

    >>> x = sj.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "_retains_grad", "_hooks",
                 "name", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor -> Tensor.__radd__

    def __init__(self, data, dtype=None, requires_grad: bool = False, device=None):
        self.data = _to_array(data, dtype)
        if device is not None:
            self.data = to_device(self.data, _checked_device(device))
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        self._retains_grad = False
        self._hooks = ()
        self.name = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, grad_fn=None):
        """Fast constructor for op results (no conversion, no checks)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        t._retains_grad = False
        t._hooks = ()
        t.name = None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set whether gradients are collected for this (leaf) tensor; returns self."""
        if requires_grad and not dtypes.is_floating(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}."
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use .detach() instead."
            )
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> Device:
        """Where the data lives: ``cpu`` (NumPy) or ``cuda:N`` (CuPy); equals its string."""
        return device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires a gradient.

        ``grad`` is dL/d(self); it may be omitted only for a one-element tensor (then 1).
        """
        if not self._requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad and has no grad_fn; "
                "create inputs with requires_grad=True or check that no_grad() is not active."
            )
        xp = array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a `grad` argument needs a scalar (one-element) tensor, "
                    f"got shape {self.shape}; reduce it first (e.g. loss.mean()) or pass "
                    f"grad=ones of shape {self.shape}."
                )
            g = xp.ones(self.shape, dtype=self.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad)
            g = g.astype(self.dtype, copy=False)  # a float64 grad must not upcast the graph
            if g.shape != self.shape:
                raise ValueError(
                    f"backward() got a grad of shape {g.shape} for a tensor of shape "
                    f"{self.shape}; they must match."
                )
        autograd.backward(self, g, retain_graph=retain_graph)

    def _accumulate_grad(self, g, owned: bool = False) -> None:
        """Add ``g`` into ``.grad``.  ``owned``: g is a fresh array nothing else refers to."""
        if g.shape != self.data.shape:  # a broadcast view is read-only and shaped wrong
            g = array_module(g).broadcast_to(g, self.data.shape)
            owned = False
        if self.grad is None:  # keep a private copy unless g is provably fresh
            owned = owned and g.dtype == self.data.dtype
            self.grad = Tensor._wrap(g if owned else g.astype(self.data.dtype, copy=True))
        else:  # out of place: the user may hold the old grad array
            self.grad = Tensor._wrap(self.grad.data + g.astype(self.data.dtype, copy=False))

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` for this non-leaf tensor after backward()."""
        self._retains_grad = True
        return self

    def register_hook(self, hook):
        """Call ``hook(grad: Tensor)`` when this tensor's gradient is computed.

        The hook may return a replacement gradient.  Returns a handle with ``remove()``.
        """

        def raw_hook(g):
            out = hook(Tensor._wrap(g))
            return None if out is None else (out.data if isinstance(out, Tensor) else out)

        self._hooks = (*self._hooks, raw_hook)
        owner = self

        class _Handle:
            def remove(self):
                owner._hooks = tuple(h for h in owner._hooks if h is not raw_hook)

        return _Handle()

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ assignment
    def __setitem__(self, index, value):
        """In-place assignment into data; refused on tensors that are part of a graph."""
        if self._requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad would corrupt its "
                "gradient; do it under sj.no_grad() or build a new tensor (sj.where)."
            )
        if isinstance(value, Tensor):
            value = value.data
        elif not isinstance(value, (numbers.Number, np.generic)):
            value = array_module(self.data).asarray(value)  # a host array onto our device
        self.data[index] = value


autograd._wrap = Tensor._wrap  # op results are made by Function.apply


class Parameter(Tensor):
    """A trainable tensor: a leaf with ``requires_grad=True`` that Modules register.

    >>> w = sj.nn.Parameter(sj.randn(3, 2))
    """

    __slots__ = ("trainable",)

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)
        self.trainable = requires_grad

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__() + ")"


def _to_array(data, dtype=None):
    """Convert user data to a raw array: Python floats become the default float dtype."""
    dtype = dtypes.resolve(dtype)
    if isinstance(data, Tensor):
        arr = data.data
        return arr if dtype is None or arr.dtype == dtype else arr.astype(dtype)
    if is_device_array(data):
        return data.copy() if dtype is None else data.astype(dtype)
    if isinstance(data, np.ndarray):
        return data.copy() if dtype is None else data.astype(dtype)  # like torch.tensor: a copy
    if isinstance(data, np.generic):
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype)
    if arr.dtype.kind == "f" or (isinstance(data, numbers.Real) and not
                                 isinstance(data, numbers.Integral)):
        return arr.astype(dtypes.get_default_dtype())
    if arr.dtype.kind in "iu" and arr.dtype != np.int64:
        return arr.astype(np.int64)
    if arr.dtype == object:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} data of mixed types.")
    return arr


from . import ops  # noqa: E402  (ops import Tensor; imported last to close the cycle)

_tensor_operators.ops = _tensor_conversion.ops = ops  # the mixins delegate to ops too
