"""Streaming metrics: accumulate over batches with ``update_state``, read with ``result``.

    m = sj.metrics.SparseCategoricalAccuracy()
    for xb, yb in loader:
        m.update_state(yb, model(xb))
    m.result()          # accuracy over every sample seen since the last reset()

Metrics take NumPy arrays or Tensors (never part of the graph) and keep running sums in
float64, so the result over many batches equals the metric over the concatenated data.

* accuracy (exact, sparse, categorical, binary, top-k), MSE / MAE / RMSE: running means;
* ``Precision``, ``Recall``, ``F1Score``, ``FBetaScore``, ``ConfusionMatrix``: a streaming
  confusion matrix (``average=None | "binary" | "macro" | "micro" | "weighted"``);
* ``AUC``: exact ROC AUC (binary, or one-vs-rest for class scores); ``R2Score``: R².

One-call functions mirror ``sklearn.metrics``: ``confusion_matrix``, ``precision_score``,
``recall_score``, ``f1_score``, ``precision_recall_fscore_support``, ``roc_auc_score``,
``r2_score``, ``classification_report`` (the familiar table) and ``plot_confusion_matrix``.
``sj.metrics.get("f1_score")`` turns names into metric objects; ``Model.compile`` resolves
``"accuracy"``, ``"precision"``, ``"recall"``, ``"f1_score"`` and ``"auc"`` further from the
loss and the shapes (see ``shenjing.train.compile_utils``).
"""
from __future__ import annotations

from .accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy,
                       SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                       TopKCategoricalAccuracy, accuracy, binary_accuracy,
                       categorical_accuracy, sparse_categorical_accuracy,
                       sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .auc import AUC, roc_auc_score
from .base import Mean, MeanMetricWrapper, Metric
from .classification import (ConfusionMatrix, F1Score, FBetaScore, Precision, Recall,
                             confusion_matrix, f1_score, precision_recall_fscore_support,
                             precision_score, recall_score)
from .regression import (MeanAbsoluteError, MeanSquaredError, R2Score, RootMeanSquaredError,
                         mean_absolute_error, mean_squared_error, r2_score)
from .report import classification_report, plot_confusion_matrix

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "SparseCategoricalAccuracy",
    "CategoricalAccuracy", "BinaryAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "R2Score", "ConfusionMatrix", "Precision", "Recall", "F1Score",
    "FBetaScore", "AUC", "accuracy", "sparse_categorical_accuracy", "categorical_accuracy",
    "binary_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "r2_score", "confusion_matrix",
    "precision_score", "recall_score", "f1_score", "precision_recall_fscore_support",
    "roc_auc_score", "classification_report", "plot_confusion_matrix", "get",
]

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
    "r2": R2Score, "r2_score": R2Score,
    "precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score,
    "auc": AUC, "roc_auc": AUC,
    "confusion_matrix": ConfusionMatrix,
    "mean": Mean,
}


def get(identifier) -> Metric:
    """A metric object from a name (``"accuracy"``, ``"mae"``, ``"f1_score"``, ...), a
    Metric class or instance, or a function ``fn(y_true, y_pred) -> per-sample values``.

    A name keeps the spelling it was given as the metric's ``name`` (so ``"acc"`` logs as
    ``acc``, ``"f1"`` as ``f1``).  Names build the default object (``"precision"`` is
    ``Precision(average="binary")``); ``Model.compile`` resolves ``"accuracy"``,
    ``"precision"``, ``"recall"``, ``"f1"``/``"f1_score"`` and ``"auc"`` further from the loss
    and the shapes.

    >>> sj.metrics.get("f1_score")
    F1Score(name='f1_score', result=0.0000)
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
