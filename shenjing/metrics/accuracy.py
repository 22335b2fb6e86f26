"""Accuracy in its Keras variants: exact, sparse, categorical, binary and top-k.

Each comes as a per-sample function (``sparse_categorical_accuracy(y_true, y_pred)`` gives
one 0/1 value per sample) and a streaming class averaging it over batches.
"""
from __future__ import annotations

from ..backend import array_module
from .base import MeanMetricWrapper, _check_same_shape, _labels, _raw


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


# ---------------------------------------------------------------- metric objects
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


def _check_k(k):
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"top-k accuracy expects a positive int k, got {k!r}.")
    return k
