"""What ``Model.compile`` resolves: the metrics list, with Keras's reading of ``"accuracy"``
and the same reading of ``"precision"``, ``"recall"``, ``"f1"``/``"f1_score"`` and ``"auc"``.

Only metrics whose ``result()`` is one float go into ``compile`` (``History`` keeps one
float per epoch and the progress bar prints floats): per-class metrics (``average=None``),
``ConfusionMatrix`` and ``R2Score(multioutput="raw_values")`` are refused with a hint; use
them after ``fit`` on ``model.predict(x)``.
"""
from __future__ import annotations

from .. import metrics as metrics_module

_CLASS_METRICS = {"precision": metrics_module.Precision, "recall": metrics_module.Recall,
                  "f1": metrics_module.F1Score, "f1_score": metrics_module.F1Score}


def loss_options(loss) -> dict:
    """The loss's configuration (``from_logits`` and its name), as far as it exposes one."""
    config = {}
    if hasattr(loss, "get_config"):
        try:
            config = dict(loss.get_config())
        except (TypeError, NotImplementedError):
            config = {}
    name = config.get("name") or getattr(loss, "name", None) or \
        getattr(getattr(loss, "fn", None), "__name__", None) or getattr(loss, "__name__", "")
    return {"name": str(name).lower(), "from_logits": bool(config.get("from_logits", False))}


def _ranks(y_true, y_pred):
    t_rank, p_rank = len(y_true.shape), len(y_pred.shape)
    p_last = y_pred.shape[-1] if p_rank else 1
    t_last = y_true.shape[-1] if t_rank else 1
    return t_rank, p_rank, t_last, p_last


class _AutoMetric(metrics_module.Metric):
    """A metric chosen at the first batch from the loss and the shapes (``inner``)."""

    def __init__(self, name, loss=None):
        self.loss_options = loss_options(loss)
        self.inner = None
        super().__init__(name)

    def reset_state(self) -> None:
        if getattr(self, "inner", None) is not None:
            self.inner.reset_state()

    def _choose(self, y_true, y_pred):  # pragma: no cover
        raise NotImplementedError

    def _threshold(self):
        return 0.0 if self.loss_options["from_logits"] else 0.5

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.inner is None:
            self.inner = self._choose(y_true, y_pred)
        self.inner.update_state(y_true, y_pred, sample_weight)

    def result(self) -> float:
        return 0.0 if self.inner is None else self.inner.result()


class AutoAccuracy(_AutoMetric):
    """``"accuracy"`` in ``compile``: the right accuracy for the loss and the data, chosen at
    the first batch as Keras does.

    * binary (one output column, or a binary cross-entropy): ``BinaryAccuracy``, threshold 0.5
      on probabilities and 0 on logits (``from_logits=True``);
    * integer labels (``y_true`` has one axis fewer, or a trailing 1, or the loss is a sparse
      one): ``SparseCategoricalAccuracy``;
    * otherwise (one-hot targets): ``CategoricalAccuracy``.
    """

    def __init__(self, name="accuracy", loss=None):
        super().__init__(name, loss)

    def _choose(self, y_true, y_pred):
        name = self.loss_options["name"]
        t_rank, p_rank, t_last, p_last = _ranks(y_true, y_pred)
        if "binary" in name or p_rank == 0 or p_last == 1 or (p_rank == 1 and t_rank == 1):
            return metrics_module.BinaryAccuracy(self.name, threshold=self._threshold())
        if "sparse" in name or t_rank < p_rank or (t_last == 1 and p_last > 1):
            return metrics_module.SparseCategoricalAccuracy(self.name)
        return metrics_module.CategoricalAccuracy(self.name)


class AutoClassMetric(_AutoMetric):
    """``"precision"``, ``"recall"``, ``"f1"``/``"f1_score"`` in ``compile``:

    * one output column (or rank-1 outputs): ``average="binary"`` (class 1), threshold 0.5
      on probabilities and 0 on logits (``from_logits=True``);
    * class scores ``(N, C)``: ``average="macro"`` over the argmax predictions.

    Multi-label outputs (several sigmoid columns under a binary cross-entropy) are refused.
    """

    def __init__(self, cls, name, loss=None):
        self.cls = cls
        super().__init__(name, loss)

    def _choose(self, y_true, y_pred):
        _, p_rank, _, p_last = _ranks(y_true, y_pred)
        if p_rank <= 1 or p_last == 1:
            return self.cls(average="binary", threshold=self._threshold(), name=self.name)
        if "binary" in self.loss_options["name"]:
            raise ValueError(f"metric {self.name!r} got {p_last} output columns under a binary "
                             "cross-entropy (multi-label data), which it does not support; use "
                             "'binary_accuracy' or one output column.")
        return self.cls(average="macro", name=self.name)


def _resolve_one(m, loss):
    key = m.lower() if isinstance(m, str) else None
    if key in ("accuracy", "acc"):
        return AutoAccuracy(m, loss)
    if key in _CLASS_METRICS:
        return AutoClassMetric(_CLASS_METRICS[key], m, loss)
    if key in ("auc", "roc_auc"):
        return metrics_module.AUC(name=m, from_logits=loss_options(loss)["from_logits"])
    metric = metrics_module.get(m)
    if not getattr(metric, "scalar_result", True):
        hint = f"pass {type(metric).__name__}(average='macro') or " \
            if hasattr(metric, "average") else ""
        raise ValueError(f"compile(metrics=...) got {type(metric).__name__} {metric.name!r}, "
                         "whose result is an array, but the logs and History hold one float "
                         f"per metric; {hint}compute it after fit: "
                         "m.update_state(y, model.predict(x)); m.result().")
    return metric


def resolve_metrics(metrics, loss) -> list:
    """Metric objects for ``compile(metrics=...)``; names must not repeat."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        raise TypeError("compile(metrics=...) with a dict is for multi-output models, which "
                        "are not supported yet; pass a list such as ['accuracy'].")
    out = [_resolve_one(m, loss) for m in metrics]
    names = [m.name for m in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated or "loss" in names:
        raise ValueError(f"compile(metrics=...) gives the name(s) {repeated or ['loss']} to "
                         "more than one value in the logs; give the metrics distinct names "
                         "(name=...).")
    return out
