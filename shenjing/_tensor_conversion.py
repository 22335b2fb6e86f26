"""Tensor conversions (a mixin of ``Tensor``, kept apart for size): to NumPy and Python
values, dtype casts, device transfer (``.to`` / ``.cpu`` / ``.cuda``), and printing.

Transfers are differentiable: ``_Transfer`` copies the data to another device and the
gradient back to the source device.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import autograd, dtypes
from .backend import device_of, is_device_array, to_device, to_numpy
from .device import Device
from .device import device as _checked_device
from .device import parse as _parse_device

if TYPE_CHECKING:
    from .tensor import Tensor

ops = None  # shenjing.ops, bound by tensor.py once Tensor exists (ops import Tensor)


class TensorConversion:
    """``Tensor``'s conversion, casting, device and printing methods."""

    __slots__ = ()

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
        return self._wrap(self.data)

    def clone(self) -> "Tensor":
        return ops.clone(self)

    # ------------------------------------------------------------------ dtypes
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

    # ------------------------------------------------------------------ Python values
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
