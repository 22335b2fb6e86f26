"""What ``Model.compile`` resolves: the metrics list, with Keras's reading of ``"accuracy"``."""
from __future__ import annotations

from .. import metrics as metrics_module


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


class AutoAccuracy(metrics_module.Metric):
    """``"accuracy"`` in ``compile``: the right accuracy for the loss and the data, chosen at
    the first batch as Keras does.

    * binary (one output column, or a binary cross-entropy): ``BinaryAccuracy``, threshold 0.5
      on probabilities and 0 on logits (``from_logits=True``);
    * integer labels (``y_true`` has one axis fewer, or a trailing 1, or the loss is a sparse
      one): ``SparseCategoricalAccuracy``;
    * otherwise (one-hot targets): ``CategoricalAccuracy``.
    """

    def __init__(self, name="accuracy", loss=None):
        self.loss_options = loss_options(loss)
        self.inner = None
        super().__init__(name)

    def reset_state(self) -> None:
        if getattr(self, "inner", None) is not None:
            self.inner.reset_state()

    def _choose(self, y_true, y_pred):
        name, logits = self.loss_options["name"], self.loss_options["from_logits"]
        t_rank, p_rank = len(y_true.shape), len(y_pred.shape)
        p_last = y_pred.shape[-1] if p_rank else 1
        t_last = y_true.shape[-1] if t_rank else 1
        if "binary" in name or p_rank == 0 or p_last == 1 or (p_rank == 1 and t_rank == 1):
            return metrics_module.BinaryAccuracy(self.name, threshold=0.0 if logits else 0.5)
        if "sparse" in name or t_rank < p_rank or (t_last == 1 and p_last > 1):
            return metrics_module.SparseCategoricalAccuracy(self.name)
        return metrics_module.CategoricalAccuracy(self.name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.inner is None:
            self.inner = self._choose(y_true, y_pred)
        self.inner.update_state(y_true, y_pred, sample_weight)

    def result(self) -> float:
        return 0.0 if self.inner is None else self.inner.result()


def resolve_metrics(metrics, loss) -> list:
    """Metric objects for ``compile(metrics=...)``; names must not repeat."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        raise TypeError("compile(metrics=...) with a dict is for multi-output models, which "
                        "are not supported yet; pass a list such as ['accuracy'].")
    out = []
    for m in metrics:
        if isinstance(m, str) and m.lower() in ("accuracy", "acc"):
            out.append(AutoAccuracy(m, loss))
        else:
            out.append(metrics_module.get(m))
    names = [m.name for m in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated or "loss" in names:
        raise ValueError(f"compile(metrics=...) gives the name(s) {repeated or ['loss']} to "
                         "more than one value in the logs; give the metrics distinct names "
                         "(name=...).")
    return out
