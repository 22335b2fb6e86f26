"""Tensor: an n-dimensional array that remembers how it was computed.

``Tensor.data`` is the raw NumPy (or CuPy) array.  A tensor produced by a differentiable op
while grad mode is on keeps that op in ``grad_fn``; ``loss.backward()`` walks these nodes in
reverse and leaves dL/dx in ``x.grad`` for every leaf ``x`` with ``requires_grad=True``.
Operators and methods delegate to the functions in ``shenjing.ops``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd, dtypes
from .backend import array_module, device_of, is_device_array, to_device, to_numpy
from .device import Device
from .device import device as _checked_device
from .device import parse as _parse_device


class Tensor:
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

    @property
    def T(self) -> "Tensor":
        """Reverse all axes (``x.transpose()``)."""
        return ops.transpose(self)

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU, a host copy from a GPU;
        no graph)."""
        return to_numpy(self.data)

    def to(self, device=None, dtype=None) -> "Tensor":
        """This tensor on ``device`` and/or as ``dtype`` (``x.to("cuda")``, ``x.to(sj.float64)``,
        ``x.to("cuda:1", "float16")``): self when nothing changes, else a differentiable
        copy whose gradient flows back to this tensor's device."""
        if device is not None and not _names_device(device):
            if dtype is not None:
                raise ValueError(f"Tensor.to: {device!r} is not a device name "
                                 "('cpu', 'cuda', 'cuda:N').")
            device, dtype = None, device
        out = self
        if device is not None:
            d = _checked_device(device)
            if d != self.device:
                out = _Transfer.apply(out, device=d)
        if dtype is not None and dtypes.resolve(dtype) != out.dtype:
            out = ops.cast(out, dtype)
        return out

    def cpu(self) -> "Tensor":
        """``self.to("cpu")``."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        """``self.to("cuda")`` (or GPU ``device``: an int or "cuda:N")."""
        return self.to("cuda" if device is None else _parse_device(device))

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}.")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> "Tensor":
        """A tensor sharing this data, cut from the graph (requires_grad=False)."""
        return Tensor._wrap(self.data)

    def clone(self) -> "Tensor":
        return ops.clone(self)

    def astype(self, dtype) -> "Tensor":
        """Cast to ``dtype`` (differentiable between float dtypes)."""
        return ops.cast(self, dtype)

    to_dtype = astype

    def float(self) -> "Tensor":
        return ops.cast(self, dtypes.float32)

    def double(self) -> "Tensor":
        return ops.cast(self, dtypes.float64)

    def long(self) -> "Tensor":
        return ops.cast(self, dtypes.int64)

    def int(self) -> "Tensor":
        return ops.cast(self, dtypes.int32)

    def bool(self) -> "Tensor":
        return ops.cast(self, dtypes.bool_)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()."
            )
        return bool(self.data.reshape(()).item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

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

    # ------------------------------------------------------------------ printing
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(",
                               precision=4, threshold=200)
        extras = []
        if self.data.dtype != dtypes.get_default_dtype() and self.data.dtype.kind != "i":
            extras.append(f"dtype={self.dtype}")
        elif self.data.dtype.kind == "i" and self.data.dtype != dtypes.int64:
            extras.append(f"dtype={self.dtype}")
        if is_device_array(self.data):
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ operators
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __rpow__(self, o): return ops.pow(o, self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __eq__(self, o): return ops.equal(self, o)
    def __ne__(self, o): return ops.not_equal(self, o)
    def __lt__(self, o): return ops.less(self, o)
    def __le__(self, o): return ops.less_equal(self, o)
    def __gt__(self, o): return ops.greater(self, o)
    def __ge__(self, o): return ops.greater_equal(self, o)
    def __invert__(self): return ops.logical_not(self)
    def __and__(self, o): return ops.logical_and(self, o)
    def __or__(self, o): return ops.logical_or(self, o)

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

    # ------------------------------------------------------------------ methods
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return ops.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return ops.std(self, axis, keepdims, ddof)
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return ops.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return ops.all(self, axis, keepdims)

    def reshape(self, *shape): return ops.reshape(self, _shape_args(shape))
    view = reshape
    def flatten(self, start_axis=0, end_axis=-1): return ops.flatten(self, start_axis, end_axis)
    def transpose(self, *axes): return ops.transpose(self, _shape_args(axes) or None)
    def permute(self, *axes): return ops.transpose(self, _shape_args(axes))
    def swapaxes(self, a, b): return ops.swapaxes(self, a, b)
    def expand(self, *shape): return ops.broadcast_to(self, _shape_args(shape))
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def flip(self, axis=None): return ops.flip(self, axis)
    def split(self, sections, axis=0): return ops.split(self, sections, axis)

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def maximum(self, o): return ops.maximum(self, o)
    def minimum(self, o): return ops.minimum(self, o)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def relu(self): return ops.relu(self)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def matmul(self, o): return ops.matmul(self, o)


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


def _shape_args(args):
    """Accept both ``x.reshape(2, 3)`` and ``x.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


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


def _names_device(spec) -> bool:
    if isinstance(spec, Device):
        return True
    try:
        return isinstance(spec, str) and _parse_device(spec) is not None
    except ValueError:
        return False


class _Transfer(autograd.Function):
    """Copy to another device; the gradient is copied back to the source device."""

    def forward(self, x, device):
        self.saved = device_of(x)
        return to_device(x, device)

    def backward(self, grad):
        return to_device(grad, self.saved)


from . import ops  # noqa: E402  (ops import Tensor; imported last to close the cycle)
