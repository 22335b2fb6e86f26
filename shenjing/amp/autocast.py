"""``autocast``: run matrix products and convolutions in float16.

Inside ``with autocast():`` the public matmul/affine/convolution ops pass their floating
inputs through ``cast_inputs``, a differentiable cast to the low-precision dtype, so

    y = op(cast(x, low), cast(w, low))        (y is low precision, as torch.autocast on CUDA)
    dL/dw = cast(dL/dw_low, float32)          (master weights stay float32, so do their grads)

Losses, softmax and normalisations call ``upcast_inputs`` (float16 → float32), so they
run in float32 as in torch.  Everything else follows NumPy promotion
(float16 with float32 gives float32).  The state is per thread; an inner
``autocast(enabled=False)`` turns casting off, and leaving a block restores the outer state.
Only float32 inputs are cast: float64 stays float64 (as in torch), and float16 needs none.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from ..tensor import Tensor


class _State(threading.local):
    dtype = None  # the autocast dtype in this thread, None when off (a class default: a
    # missing thread-local attribute would cost an AttributeError, 10x the read, per op)


_state = _State()
_FLOAT32 = np.dtype(np.float32)

_BFLOAT16_WHY = (
    "bfloat16 is not supported: CuPy has no bfloat16 arrays (cupy issue #7527), and NumPy's "
    "only bfloat16 (ml_dtypes') is not a floating kind to NumPy (dtype.kind 'V'), so "
    "reductions, activations and optimizers would treat it as an integer type")


def resolve_dtype(dtype):
    """The autocast dtype: ``"float16"`` (also ``"half"``, np.float16, sj.float16)."""
    try:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    except TypeError:
        name = repr(dtype)
    name = {"half": "float16", "fp16": "float16", "bf16": "bfloat16"}.get(name, name)
    if name == "float16":
        return np.dtype(np.float16)
    if name == "bfloat16":
        raise ValueError(f"autocast: {_BFLOAT16_WHY}; use dtype='float16'.")
    raise ValueError(f"autocast supports dtype 'float16', got {dtype!r}; float32 and "
                     "float64 need no autocast.")


def is_autocast_enabled() -> bool:
    """True inside an enabled ``autocast`` block (in this thread)."""
    return _state.dtype is not None


def get_autocast_dtype():
    """The dtype autocast casts to in this thread, or None when it is off."""
    return _state.dtype


class autocast:
    """Context manager and decorator: matmuls and convolutions in ``dtype`` (float16) with
    float32 master weights.  Nestable; ``enabled=False`` turns it off inside.

    >>> with sj.amp.autocast():
    ...     y = x @ w            # float16 product of float32 x and w
    ...     loss = F.cross_entropy(y, labels)   # float32
    """

    def __init__(self, dtype="float16", enabled=True):
        self.dtype = resolve_dtype(dtype)
        self.enabled = bool(enabled)
        self._outer = []  # a stack, so one instance can be entered again while active

    def __enter__(self):
        self._outer.append(_state.dtype)
        _state.dtype = self.dtype if self.enabled else None
        return self

    def __exit__(self, *exc):
        _state.dtype = self._outer.pop()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with autocast(self.dtype, self.enabled):
                return func(*args, **kwargs)

        return wrapper


def _cast(t, dtype):
    from ..ops.elementwise import Cast  # noqa: PLC0415  (ops import this module)

    return Cast.apply(t, dtype=dtype)


def cast_inputs(*tensors):
    """Under autocast, the floating ``tensors`` cast (differentiably) to the autocast dtype;
    otherwise the tensors unchanged.  Always a tuple; ``None`` entries pass through.

    The hook of the low-precision ops: ``x, w, b = amp.cast_inputs(x, w, b)``.
    """
    dtype = _state.dtype
    if dtype is None:
        return tensors
    return tuple(_cast(t, dtype) if isinstance(t, Tensor) and t.data.dtype == _FLOAT32
                 else t for t in tensors)


def upcast_inputs(*tensors):
    """Under autocast, float16 ``tensors`` cast (differentiably) to float32;
    otherwise unchanged.  Always a tuple.  The hook of the float32 ops (losses, softmax,
    normalisation): ``(x,) = amp.upcast_inputs(x)``.
    """
    dtype = _state.dtype
    if dtype is None:
        return tensors
    return tuple(_cast(t, _FLOAT32) if isinstance(t, Tensor) and t.data.dtype == dtype
                 else t for t in tensors)
