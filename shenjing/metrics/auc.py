"""Exact ROC AUC, streamed: sorted unique scores with the positives and negatives at each."""
from __future__ import annotations

import numpy as np

from .base import Metric, _host, _labels

_AVERAGES = (None, "macro", "weighted")


class _Ranks:
    """Sorted unique scores with the (weighted) count of positives and negatives at each.

    New batches wait in ``pending``; a flush concatenates them to the sorted state and
    sorts stably (timsort merges the sorted run in linear time), then merges equal scores.
    """

    def __init__(self):
        self.scores, self.pos, self.neg = np.zeros(0), np.zeros(0), np.zeros(0)
        self.pending = []

    def add(self, scores, positive, weight):
        pos = positive * weight
        self.pending.append((scores.astype(np.float64), pos, weight - pos))

    def flush(self):
        if not self.pending:
            return
        parts = [(self.scores, self.pos, self.neg), *self.pending]
        s, pos, neg = (np.concatenate(cols) for cols in zip(*parts))
        order = np.argsort(s, kind="stable")
        s, pos, neg = s[order], pos[order], neg[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if s.size else np.zeros(0, int)
        self.scores = s[starts]
        self.pos, self.neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
        self.pending = []

    def auc(self):
        """P(score of a positive > score of a negative), ties counting one half; None when
        there are no positives or no negatives.  Equals the trapezoidal area under ROC."""
        self.flush()
        n_pos, n_neg = self.pos.sum(), self.neg.sum()
        if n_pos <= 0 or n_neg <= 0:
            return None
        above = n_pos - np.cumsum(self.pos)  # positive weight at strictly higher scores
        return float(self.neg @ (above + 0.5 * self.pos) / (n_pos * n_neg))

    def positives(self):
        self.flush()
        return float(self.pos.sum())


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class AUC(Metric):
    """Area under the ROC curve, exact (no thresholds binning), over every batch seen.

    Binary: ``y_pred`` of shape ``(N,)`` or ``(N, 1)``, probabilities or logits alike (AUC
    only ranks scores), ``y_true`` 0/1.  Multiclass: scores ``(N, C)`` and labels or one-hot
    targets; one-vs-rest per class, then ``average``: ``"macro"`` (mean), ``"weighted"``
    (by class prevalence) or ``None`` (an array; not for ``compile``) — sklearn's
    ``roc_auc_score(multi_class="ovr")``.  sklearn expects probabilities there: pass them, or
    ``from_logits=True`` to apply a softmax first.

    A class without positives or without negatives has no AUC: it is left out of the
    average (sklearn raises instead), shows 0.0 in the per-class array, and a result with
    no class defined is 0.0.  Memory grows with the number of distinct scores seen.

    >>> sj.metrics.AUC()([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """

    def __init__(self, average="macro", from_logits=False, name="auc"):
        if average not in _AVERAGES:
            raise ValueError(f"AUC expects average in {_AVERAGES}, got {average!r}.")
        self.average, self.from_logits = average, bool(from_logits)
        self.scalar_result = average is not None
        super().__init__(name)

    def reset_state(self) -> None:
        self.num_classes = None  # 1 for binary scores
        self.ranks = []

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p = _host(y_true), _host(y_pred).astype(np.float64)
        if not np.isfinite(p).all():
            raise ValueError("AUC got non-finite scores (nan or inf) in y_pred.")
        binary = p.ndim <= 1 or p.shape[-1] == 1
        if binary:
            p = p.reshape(t.shape) if p.size == t.size else p
            t = self._binary_labels(t, p)
        else:
            t = t.argmax(axis=-1) if t.shape == p.shape else _labels(t, p, "AUC")
            p = _softmax(p) if self.from_logits else p
        w = np.ones(t.shape) if sample_weight is None else _host(sample_weight).astype(
            np.float64)
        w = np.broadcast_to(w.reshape(w.shape + (1,) * (t.ndim - w.ndim)), t.shape).reshape(-1)
        classes = 1 if binary else p.shape[-1]
        self._start(classes)
        if binary:
            self.ranks[0].add(p.reshape(-1), t.reshape(-1), w)
            return
        t, p = t.reshape(-1), p.reshape(-1, classes)
        for c, ranks in enumerate(self.ranks):
            ranks.add(p[:, c], (t == c).astype(np.float64), w)

    @staticmethod
    def _binary_labels(t, p):
        if t.shape != p.shape:
            raise ValueError(f"AUC expects binary scores with one value per label, got "
                             f"y_true {t.shape} and y_pred {p.shape}.")
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError(f"AUC got binary scores but labels up to {t.max()}; pass class "
                             "scores of shape (N, num_classes) for a multiclass AUC.")
        return (t > 0.5).astype(np.float64)

    def _start(self, classes):
        if self.num_classes is None:
            self.num_classes, self.ranks = classes, [_Ranks() for _ in range(classes)]
        elif classes != self.num_classes:
            raise ValueError(f"AUC got scores for {classes} classes after {self.num_classes} "
                             "in earlier batches; call reset_state() between data sets.")

    def per_class(self) -> list:
        """One AUC per class (one entry for binary), ``None`` where undefined."""
        return [r.auc() for r in self.ranks]

    def result(self):
        per = self.per_class()
        if self.average is None and self.num_classes != 1:
            return np.array([0.0 if a is None else a for a in per])
        defined = [(a, r.positives()) for a, r in zip(per, self.ranks) if a is not None]
        if not defined:
            return 0.0
        values, weights = np.array(defined).T
        if self.average == "weighted":
            return float(np.average(values, weights=weights))
        return float(values.mean())

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "from_logits": self.from_logits}


def roc_auc_score(y_true, y_score, average="macro", sample_weight=None, from_logits=False):
    """ROC AUC as ``sklearn.metrics.roc_auc_score`` (``multi_class="ovr"`` for scores of
    shape ``(N, C)``).  Raises when no class has both positives and negatives.

    >>> sj.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    m = AUC(average=average, from_logits=from_logits)
    m.update_state(y_true, y_score, sample_weight)
    if all(a is None for a in m.per_class()):
        raise ValueError("roc_auc_score is not defined when y_true holds only one class; "
                         "every class needs positive and negative samples.")
    return m.result()
