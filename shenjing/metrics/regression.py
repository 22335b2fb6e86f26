"""Regression metrics: mean squared / absolute error, their root, and R²."""
from __future__ import annotations

import numpy as np

from .base import MeanMetricWrapper, Metric, _check_same_shape, _host, _raw

_MULTIOUTPUT = ("uniform_average", "raw_values", "variance_weighted")


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


class R2Score(Metric):
    """Coefficient of determination, streamed: ``R² = 1 - Σ w(y - ŷ)² / Σ w(y - ȳ)²``.

    Per output column (trailing axes are flattened into columns); ``multioutput`` combines
    them as scikit-learn does: ``"uniform_average"`` (a float), ``"variance_weighted"``
    (a float, columns weighted by ``Σ w(y - ȳ)²``) or ``"raw_values"`` (an array, so not for
    ``compile``).  A constant target gives 1.0 when predicted exactly, else 0.0 (sklearn's
    ``force_finite``).  The mean and sum of squares are merged batch by batch (Chan et al.),
    so streaming equals one call on the concatenated data.

    >>> m = sj.metrics.R2Score(); m.update_state([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]); m.result()
    0.5
    """

    def __init__(self, name="r2_score", multioutput="uniform_average"):
        if multioutput not in _MULTIOUTPUT:
            raise ValueError(f"R2Score expects multioutput in {_MULTIOUTPUT}, got "
                             f"{multioutput!r}.")
        self.multioutput = multioutput
        self.scalar_result = multioutput != "raw_values"
        super().__init__(name)

    def reset_state(self) -> None:
        self.weight = 0.0
        self.mean = self.m2 = self.ss_res = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y, p = _host(y_true).astype(np.float64), _host(y_pred).astype(np.float64)
        if p.ndim == y.ndim + 1 and p.shape[-1] == 1:
            p = p.reshape(y.shape)
        _check_same_shape(y, p, "R2Score")
        y, p = y.reshape(len(y), -1), p.reshape(len(p), -1)
        w = np.ones(len(y)) if sample_weight is None else \
            _host(sample_weight).astype(np.float64).reshape(len(y))
        wb = float(w.sum())
        if wb == 0:
            return
        mean_b = (w @ y) / wb
        m2_b = w @ (y - mean_b) ** 2
        res_b = w @ (y - p) ** 2
        if self.mean is None:
            self.weight, self.mean, self.m2, self.ss_res = wb, mean_b, m2_b, res_b
            return
        if self.mean.shape != mean_b.shape:
            raise ValueError(f"R2Score got {mean_b.shape[0]} output columns, earlier batches "
                             f"had {self.mean.shape[0]}.")
        total = self.weight + wb
        delta = mean_b - self.mean
        self.m2 = self.m2 + m2_b + delta ** 2 * self.weight * wb / total
        self.mean = self.mean + delta * wb / total
        self.ss_res, self.weight = self.ss_res + res_b, total

    def result(self):
        if self.mean is None:
            return 0.0 if self.scalar_result else np.zeros(0)
        defined = self.m2 != 0
        raw = np.where(self.ss_res == 0, 1.0, 0.0)
        raw[defined] = 1.0 - self.ss_res[defined] / self.m2[defined]
        if self.multioutput == "raw_values":
            return raw
        if self.multioutput == "variance_weighted" and defined.any():
            return float(np.average(raw, weights=self.m2))
        return float(raw.mean())

    def get_config(self) -> dict:
        return {"name": self.name, "multioutput": self.multioutput}


def r2_score(y_true, y_pred, sample_weight=None, multioutput="uniform_average"):
    """R² of predictions, as ``sklearn.metrics.r2_score``: ``1 - SS_res / SS_tot``.

    >>> sj.metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    m = R2Score(multioutput=multioutput)
    m.update_state(y_true, y_pred, sample_weight)
    return m.result()
