"""Streaming metrics: accumulate over batches with ``update_state``, read with ``result``.

    m = sj.metrics.SparseCategoricalAccuracy()
    for xb, yb in loader:
        m.update_state(yb, model(xb))
    m.result()          # accuracy over every sample seen since the last reset_state()

Metrics take NumPy arrays or Tensors (never part of the graph) and keep running sums in
float64, so the result over many batches equals the metric over the concatenated data.
``sj.metrics.get("accuracy")`` turns Keras spellings into metric objects; the lowercase
functions (``sparse_categorical_accuracy(y_true, y_pred)``) give per-sample values.
"""
from __future__ import annotations

from .backend import array_module
from .tensor import Tensor

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "SparseCategoricalAccuracy",
    "CategoricalAccuracy", "BinaryAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "accuracy", "sparse_categorical_accuracy", "categorical_accuracy",
    "binary_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "get",
]


def _raw(x):
    """The raw array behind a Tensor, array or nested list."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__"):
        return x
    import numpy as np  # noqa: PLC0415  (lists and scalars only)

    return np.asarray(x)


def _labels(y_true, y_pred, who):
    """Integer labels (N,) from y_true of shape (N,) or (N, 1), checked against y_pred."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{who} expects labels of shape {y_pred.shape[:-1]} (one class index "
                         f"per row of predictions {y_pred.shape}), got {y_true.shape}.")
    return y_true


def _check_same_shape(y_true, y_pred, who):
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{who} expects y_true and y_pred of the same shape, got "
                         f"{y_true.shape} and {y_pred.shape}.")


# ---------------------------------------------------------------- per-sample functions
def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true``.  Class scores (one more axis) are argmax-ed first."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    if y_pred.ndim == y_true.ndim + 1 or (y_pred.ndim == y_true.ndim and y_pred.ndim > 1
                                          and y_true.shape[-1] == 1 < y_pred.shape[-1]):
        return sparse_categorical_accuracy(y_true, y_pred)
    _check_same_shape(y_true, y_pred, "accuracy")
    return (y_true == y_pred).astype("float64")


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1)`` equals the integer label ``y_true``."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    y_true = _labels(y_true, y_pred, "sparse_categorical_accuracy")
    return (y_pred.argmax(axis=-1) == y_true).astype("float64")


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred, -1) == argmax(y_true, -1)`` (one-hot targets)."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    _check_same_shape(y_true, y_pred, "categorical_accuracy")
    return (y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).astype("float64")


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of ``(y_pred > threshold) == y_true`` (0/1 targets)."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.reshape(y_true.shape)
    _check_same_shape(y_true, y_pred, "binary_accuracy")
    hits = ((y_pred > threshold) == (y_true > 0.5)).astype("float64")
    return hits.mean(axis=-1) if hits.ndim > 1 else hits


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class is among the ``k`` highest scores (ties count as hits)."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    y_true = _labels(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    xp = array_module(y_pred)
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    labels = y_true.reshape(-1).astype("int64")
    true_score = scores[xp.arange(scores.shape[0]), labels]
    higher = (scores > true_score[:, None]).sum(axis=-1)
    return (higher < k).astype("float64").reshape(y_true.shape)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where ``argmax(y_true)`` is among the ``k`` highest scores of ``y_pred``."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    _check_same_shape(y_true, y_pred, "top_k_categorical_accuracy")
    return sparse_top_k_categorical_accuracy(y_true.argmax(axis=-1), y_pred, k)


def _per_sample(values):
    """Average every axis after the first, so each sample counts once."""
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_true - y_pred)²`` over the non-batch axes."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    _check_same_shape(y_true, y_pred, "mean_squared_error")
    d = y_pred.astype("float64") - y_true
    return _per_sample(d * d)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of ``|y_true - y_pred|`` over the non-batch axes."""
    y_true, y_pred = _raw(y_true), _raw(y_pred)
    _check_same_shape(y_true, y_pred, "mean_absolute_error")
    return _per_sample(abs(y_pred.astype("float64") - y_true))


# ---------------------------------------------------------------- metric objects
class Metric:
    """Base class: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.

    Subclasses keep their state in plain Python floats.  ``metric(y_true, y_pred)`` updates
    the state and returns the new result, as in Keras.
    """

    def __init__(self, name=None):
        self.name = name or _snake(type(self).__name__)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def result(self) -> float:  # pragma: no cover
        raise NotImplementedError

    def reset_state(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        """Alias of ``reset_state`` (PyTorch-metrics spelling)."""
        self.reset_state()

    def __call__(self, *args, **kwargs) -> float:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, result={self.result():.4f})"


class Mean(Metric):
    """Weighted running mean of the values given: ``Σ wᵢ vᵢ / Σ wᵢ`` (fit's loss tracker).

    >>> m = sj.metrics.Mean(); m.update_state([1.0, 3.0]); m.result()
    2.0
    """

    def __init__(self, name="mean"):
        super().__init__(name)

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, (int, float)):  # fast path for a loss value
            w = 1.0 if sample_weight is None else float(sample_weight)
            self.total += float(values) * w
            self.count += w
            return
        values = _raw(values).astype("float64")
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += float(values.size)
            return
        w = _raw(sample_weight).astype("float64")  # per sample: (N,) against values (N, ...)
        w = array_module(values).broadcast_to(w.reshape(w.shape + (1,) * (values.ndim - w.ndim)),
                                              values.shape)
        self.total += float((values * w).sum())
        self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)`` (per-sample values).

    >>> m = sj.metrics.MeanMetricWrapper(my_fn, name="my_metric")
    """

    def __init__(self, fn, name=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self.fn(_raw(y_true), _raw(y_pred), **self.fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self.fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """Fraction of predictions equal to the labels.

    With equal shapes values are compared directly (Keras ``Accuracy``); when ``y_pred``
    holds class scores (one more axis than ``y_true``) its argmax is compared instead.
    """

    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of rows whose highest score is at the integer label."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of rows where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets)."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of ``(y_pred > threshold) == y_true``; use ``threshold=0`` for logits."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of rows whose true class (one-hot ``y_true``) is in the top ``k`` scores."""

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        super().__init__(top_k_categorical_accuracy, name, k=_check_k(k))


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of rows whose integer label is among the top ``k`` scores."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(sparse_top_k_categorical_accuracy, name, k=_check_k(k))


class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_true - y_pred)²``."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``|y_true - y_pred|``."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class RootMeanSquaredError(MeanSquaredError):
    """``sqrt`` of the mean squared error over all samples seen."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(name)

    def result(self) -> float:
        return super().result() ** 0.5


def _check_k(k):
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top-k accuracy expects a positive int k, got {k!r}.")
    return k


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


_REGISTRY = {
    "accuracy": Accuracy, "acc": Accuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "root_mean_squared_error": RootMeanSquaredError, "rmse": RootMeanSquaredError,
    "mean": Mean,
}


def get(identifier) -> Metric:
    """A metric object from a name (``"accuracy"``, ``"mae"``, ...), a Metric class or
    instance, or a function ``fn(y_true, y_pred) -> per-sample values``.

    A name keeps the spelling it was given as the metric's ``name`` (so ``"acc"`` logs as
    ``acc``).  ``Model.compile`` resolves ``"accuracy"`` further from the loss and shapes.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        cls = _REGISTRY.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown metric {identifier!r}; expected one of "
                             f"{sorted(_REGISTRY)}, a sj.metrics.Metric, or a function "
                             f"fn(y_true, y_pred).")
        return cls(name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a metric; pass a name such as "
                    f"'accuracy', a sj.metrics.Metric, or a function fn(y_true, y_pred).")
