"""Helpers shared by both faces of the losses: operand conversion, shape and label checks."""
from __future__ import annotations

from .. import amp, dtypes, ops
from ..backend import array_module
from ..tensor import Tensor


def prediction(x) -> Tensor:
    """The prediction as a float Tensor (integer data gets the default float dtype)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    (x,) = amp.upcast_inputs(x)  # losses run in float32 under autocast, as torch
    return x if x.data.dtype.kind == "f" else ops.cast(x, dtypes.get_default_dtype())


def operand(t, like: Tensor, detach: bool = False) -> Tensor:
    """``t`` as a Tensor of ``like``'s dtype, so a float64 target never upcasts a float32
    graph.  A Tensor keeps its graph (torch lets targets require grad) unless ``detach``."""
    if isinstance(t, Tensor):
        if detach or not t.requires_grad:
            data = t.data
            return Tensor._wrap(data if data.dtype == like.dtype else data.astype(like.dtype))
        return t if t.dtype == like.dtype else ops.cast(t, like.dtype)
    return Tensor._wrap(array_module(like.data).asarray(t, dtype=like.dtype))


def raw(t, like: Tensor):
    """The raw array behind ``t`` (a Tensor, array or list) on ``like``'s device."""
    return t.data if isinstance(t, Tensor) else array_module(like.data).asarray(t)


def check_same_shape(fn: str, a, b, a_name: str = "input", b_name: str = "target") -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{fn}: {a_name} shape {tuple(a.shape)} and {b_name} shape "
                         f"{tuple(b.shape)} differ; they must be equal (reshape one of them, "
                         f"e.g. {b_name}.reshape({tuple(a.shape)})).")


def to_labels(y, like: Tensor, fn: str):
    """Integer class labels as an int64 array; floats holding whole numbers are accepted."""
    y = raw(y, like)
    xp = array_module(y)
    if y.dtype.kind == "f":
        if y.size and not bool(xp.all(xp.floor(y) == y)):
            bad = y[xp.floor(y) != y].reshape(-1)[0]
            raise ValueError(f"{fn}: class labels must be whole numbers, got {bad.item()!r}.")
        return y.astype(xp.int64)
    if y.dtype.kind not in "iub":
        raise TypeError(f"{fn}: class labels must be integers, got dtype {y.dtype}.")
    return y.astype(xp.int64, copy=False)


def check_labels(y, n_classes: int, ignore_index) -> None:
    """Raise a ValueError naming the first label outside [0, n_classes) (ignored ones aside)."""
    valid = y if ignore_index is None else y[y != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= n_classes):
        bad = int(valid.min()) if valid.min() < 0 else int(valid.max())
        raise ValueError(f"label {bad} is outside the class range [0, {n_classes - 1}] "
                         f"for predictions with {n_classes} classes.")


def match_rank(a: Tensor, b: Tensor):
    """Keras's rule: when the ranks differ by one and the longer shape ends in 1, expand a
    rank-1 partner or squeeze that trailing 1 (y (N,) with predictions (N, 1) both → (N, 1))."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        return (a, ops.unsqueeze(b, -1)) if b.ndim == 1 else (ops.squeeze(a, -1), b)
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        return (ops.unsqueeze(a, -1), b) if a.ndim == 1 else (a, ops.squeeze(b, -1))
    return a, b
