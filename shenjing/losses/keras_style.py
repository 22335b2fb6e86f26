"""Losses with Keras's names: per-sample functions ``f(y_true, y_pred)``, the ``Loss`` classes
that reduce them, and ``get`` for ``compile(loss="...")``.

Note the argument order, Keras's: the target comes first.  Probabilities are clipped to
[ε, 1-ε] with ε = 1e-7 before the log, as Keras does; logits take stable formulas.

>>> loss_fn = sj.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> loss = loss_fn(labels, model(x))          # labels (N,) or (N, 1), ints or whole floats
"""
from __future__ import annotations

import re

from .. import ops
from .._config import Configurable
from ..backend import array_module
from ..tensor import Tensor
from ._common import check_labels, check_same_shape, match_rank, operand, prediction, to_labels
from .functional import _huber  # one implementation of the formula

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "none", None, "mean_with_sample_weight")


# ---------------------------------------------------------------- per-sample functions
def _pair(y_true, y_pred, fn):
    """y_pred as a float Tensor, y_true a constant of its dtype, ranks matched as Keras does."""
    y_pred = prediction(y_pred)
    y_true, y_pred = match_rank(operand(y_true, y_pred, detach=True), y_pred)
    check_same_shape(fn, y_true, y_pred, "y_true", "y_pred")
    return y_true, y_pred


def _mean(v, axis=-1):
    return v if v.ndim == 0 else ops.mean(v, axis=axis)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error: mean((y_pred - y_true)², axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    d = y_pred - y_true
    return _mean(d * d)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error: mean(|y_pred - y_true|, axis=-1)."""
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return _mean(ops.abs(y_pred - y_true))


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss: mean(½d² if |d| ≤ δ else δ(|d| - ½δ), axis=-1),
    d = y_pred - y_true."""
    if not delta > 0:
        raise ValueError(f"huber: delta must be positive, got {delta}.")
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    return _mean(_huber(ops.abs(y_pred - y_true), delta))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary cross-entropy: mean(-[y ln p + (1-y) ln(1-p)], axis).

    p = clip(y_pred, ε, 1-ε), or σ(y_pred) computed stably as softplus(x) - xy when
    ``from_logits``.  Label smoothing s: y ← y(1-s) + s/2.
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        loss = ops.softplus(y_pred) - y_pred * y_true
    else:
        p = ops.clip(y_pred, EPSILON, 1 - EPSILON)
        loss = -(y_true * ops.log(p) + (1 - y_true) * ops.log(1 - p))
    return _mean(loss, axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical cross-entropy of one-hot/probability targets: -Σ y ln p along
    ``axis``, p = clip(y_pred / Σ y_pred, ε, 1-ε), or log_softmax(y_pred) when ``from_logits``.
    Label smoothing s: y ← y(1-s) + s/C."""
    y_pred = prediction(y_pred)
    y_true = operand(y_true, y_pred, detach=True)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] != 1:
        raise ValueError(f"categorical_crossentropy expects one-hot y_true shaped like y_pred "
                         f"{y_pred.shape}, got y_true shape {y_true.shape}; for integer labels "
                         "use sparse_categorical_crossentropy.")
    y_true, y_pred = _pair(y_true, y_pred, "categorical_crossentropy")
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        logp = ops.log_softmax(y_pred, axis=axis)
    else:
        p = y_pred / y_pred.sum(axis=axis, keepdims=True)
        logp = ops.log(ops.clip(p, EPSILON, 1 - EPSILON))
    return -(y_true * logp).sum(axis=axis)


def _sparse(y_true, y_pred, from_logits, ignore_class, axis):
    """Per-sample sparse cross-entropy and the mask of counted samples (None: all count)."""
    fn = "sparse_categorical_crossentropy"
    y_pred = prediction(y_pred)
    if y_pred.ndim == 0:
        raise ValueError(f"{fn} expects y_pred of shape (N, C), got a scalar.")
    if axis % y_pred.ndim != y_pred.ndim - 1:
        y_pred = ops.swapaxes(y_pred, axis, -1)
    y = to_labels(y_true, y_pred, fn)
    if y.ndim == y_pred.ndim and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.shape != y_pred.shape[:-1]:
        raise ValueError(f"{fn}: y_true shape {y.shape} does not fit y_pred shape "
                         f"{y_pred.shape}; expected integer labels of shape "
                         f"{y_pred.shape[:-1]} (or with a trailing 1).")
    n_classes = y_pred.shape[-1]
    x2, flat = ops.reshape(y_pred, (-1, n_classes)), y.reshape(-1)
    check_labels(flat, n_classes, ignore_class)
    ignore = -1 if ignore_class is None else ignore_class  # -1 never matches a checked label
    valid = None if ignore_class is None else flat != ignore
    if from_logits:  # the fused primitive: the training fast path
        per = ops.softmax_cross_entropy(x2, flat, ignore_index=ignore)
    else:
        xp = array_module(flat)
        safe = flat if valid is None else xp.where(valid, flat, 0)
        picked = ops.getitem(x2, (xp.arange(flat.shape[0]), safe))
        per = -ops.log(ops.clip(picked / x2.sum(axis=1), EPSILON, 1 - EPSILON))
        if valid is not None:
            per = per * Tensor._wrap(valid.astype(x2.dtype))
    mask = None if valid is None else valid.reshape(y.shape)
    return ops.reshape(per, y.shape), mask


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Per-sample cross-entropy of integer labels: -ln p[y], p = clip(y_pred / Σ y_pred, ε,
    1-ε), or log_softmax(y_pred)[y] when ``from_logits``.  Labels equal to ``ignore_class``
    give 0."""
    return _sparse(y_true, y_pred, from_logits, ignore_class, axis)[0]


mse = mean_squared_error
mae = mean_absolute_error


# ---------------------------------------------------------------- Loss classes
def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"loss reduction must be one of {_REDUCTIONS}, got {reduction!r}.")


def reduce_values(values, reduction="sum_over_batch_size", sample_weight=None, mask=None):
    """Reduce per-sample losses as Keras: weight them, then "sum" (Σ), "sum_over_batch_size"
    or "mean" (Σ / number of counted samples; 0 when none counts), or "none"."""
    _check_reduction(reduction)
    if sample_weight is not None:
        values, sw = match_rank(values, operand(sample_weight, values, detach=True))
        values = values * sw
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        sw = ops.broadcast_to(sw, values.shape).data
        divisor = float(sw.sum() if mask is None else (sw * mask).sum())
    else:
        divisor = float(values.size if mask is None else mask.sum())
    return total / divisor if divisor else total * 0.0


class Loss(Configurable):
    """Base of the Keras-style losses: ``loss(y_true, y_pred, sample_weight=None)`` → a scalar
    (or per-sample values with ``reduction="none"``).  Subclasses write ``call``."""

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        _check_reduction(reduction)
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)

    def call(self, y_true, y_pred):
        """Per-sample losses."""
        raise NotImplementedError

    def _call(self, y_true, y_pred):
        return self.call(y_true, y_pred), None  # (values, mask of counted samples)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values, mask = self._call(y_true, y_pred)
        return reduce_values(values, self.reduction, sample_weight, mask)

    def get_config(self):
        """The constructor arguments (``type(loss).from_config(loss.get_config())`` clones)."""
        return {"name": self.name, "reduction": self.reduction}


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", None) or "loss", reduction)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    """Mean of (y_pred - y_true)² over the last axis, then reduced over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, reduction, name)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of |y_pred - y_true| over the last axis, then reduced over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, reduction, name)


class Huber(LossFunctionWrapper):
    """Mean over the last axis of ½d² if |d| ≤ δ else δ(|d| - ½δ), d = y_pred - y_true."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        if not delta > 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}.")
        super().__init__(huber, reduction, name, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    """-[y ln p + (1-y) ln(1-p)] averaged over ``axis``; p = clip(y_pred, ε, 1-ε), or the
    sigmoid of logits (stable) when ``from_logits``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        _check_smoothing(label_smoothing, "BinaryCrossentropy")
        super().__init__(binary_crossentropy, reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class CategoricalCrossentropy(LossFunctionWrapper):
    """-Σ y ln p along ``axis`` for one-hot/probability y; p = clip(y_pred/Σy_pred, ε, 1-ε),
    or softmax(y_pred) (as log_softmax) when ``from_logits``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        _check_smoothing(label_smoothing, "CategoricalCrossentropy")
        super().__init__(categorical_crossentropy, reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """-ln p[y] for integer labels y, (N,) or (N, 1); p = clip(y_pred/Σy_pred, ε, 1-ε), or
    softmax(y_pred) when ``from_logits``.  Labels equal to ``ignore_class`` are left out of the
    loss and of the mean."""

    def __init__(self, from_logits=False, ignore_class=None,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, reduction, name,
                         from_logits=from_logits, ignore_class=ignore_class)

    def _call(self, y_true, y_pred):
        kw = self._fn_kwargs
        return _sparse(y_true, y_pred, kw["from_logits"], kw["ignore_class"], -1)


def _check_smoothing(s, cls):
    if not 0 <= s <= 1:
        raise ValueError(f"{cls}: label_smoothing must be in [0, 1], got {s}.")


# ---------------------------------------------------------------- lookup
_BY_NAME = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, Huber,
                                    BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy)}


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` for a built-in ``Loss`` (``deserialize`` inverts)."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    """Rebuild a loss from ``serialize``'s dict."""
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown loss class {config.get('class_name')!r}; known: "
                         f"{sorted(_CLASSES)}.")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """The loss for ``compile(loss=...)``: a ``Loss`` (returned as is), a name such as "mse" or
    "sparse_categorical_crossentropy" (a new instance), a ``Loss`` class, a ``serialize`` dict,
    or a callable ``(y_true, y_pred) -> Tensor`` (wrapped so its result is reduced)."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; valid names: "
                             f"{', '.join(sorted(_BY_NAME))} (or a Loss instance or callable).")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        if identifier in _torch_style_functions():  # f(input, target): swap into Keras order
            return LossFunctionWrapper(_swapped(identifier), name=identifier.__name__)
        return LossFunctionWrapper(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a loss: pass a name, a Loss "
                    "instance or a callable (y_true, y_pred) -> Tensor.")


def _torch_style_functions():
    from . import functional  # noqa: PLC0415

    return {getattr(functional, n) for n in ("mse_loss", "l1_loss", "huber_loss",
            "smooth_l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
            "cross_entropy", "nll_loss")}


def _swapped(fn):
    """Adapt a PyTorch-order loss ``fn(input, target)`` to Keras order (y_true, y_pred)."""

    def keras_order(y_true, y_pred):
        return fn(y_pred, y_true, reduction="none")

    keras_order.__name__ = fn.__name__
    return keras_order
