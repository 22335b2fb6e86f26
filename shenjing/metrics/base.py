"""The Metric protocol and the running means every averaged metric builds on."""
from __future__ import annotations

from ..backend import array_module, to_numpy
from ..tensor import Tensor


def _raw(x):
    """The raw array behind a Tensor, array or nested list."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__"):
        return x
    import numpy as np  # noqa: PLC0415  (lists and scalars only)

    return np.asarray(x)


def _host(x):
    """A NumPy array on the host from a Tensor, NumPy/CuPy array or nested list.

    Counting metrics (confusion matrices, AUC) keep their state on the host: it is small, and
    sorting and ``bincount`` there cost less than the device round trips.
    """
    return to_numpy(_raw(x))


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


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _format_result(value) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.4f}"
    return "array(shape=" + str(tuple(getattr(value, "shape", ()))) + ")"


class Metric:
    """Base class: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.

    Subclasses keep their state in float64 (Python floats or NumPy arrays), so the result
    over many batches equals the metric over the concatenated data.  ``metric(y_true,
    y_pred)`` updates the state and returns the new result, as in Keras; ``reset()`` is an
    alias of ``reset_state()``.  ``scalar_result`` says whether ``result()`` is one float
    (what ``compile``, ``History`` and the progress bar need) or an array (per-class values,
    confusion matrices).
    """

    scalar_result = True

    def __init__(self, name=None):
        self.name = name or _snake(type(self).__name__)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):  # pragma: no cover
        raise NotImplementedError

    def result(self):  # pragma: no cover
        raise NotImplementedError

    def reset_state(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def reset(self) -> None:
        """Alias of ``reset_state`` (PyTorch-metrics spelling)."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, result={_format_result(self.result())})"


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

    >>> m = sj.metrics.MeanMetricWrapper(lambda t, p: abs(t - p), name="abs_error")
    >>> m([1.0, 2.0], [1.5, 2.0])
    0.25
    """

    def __init__(self, fn, name=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self.fn(_raw(y_true), _raw(y_pred), **self.fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self.fn_kwargs}
