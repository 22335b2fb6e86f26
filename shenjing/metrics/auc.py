"""Exact ROC AUC, streamed: O(b log² n) work per batch of b samples (n seen so far).

ROC AUC is the weighted fraction of concordant (positive, negative) pairs,
``U / (P N)`` with ``U = Σ_{pos i, neg j} wᵢ wⱼ ([sᵢ > sⱼ] + ½ [sᵢ = sⱼ])`` — the trapezoidal
area sklearn computes.  ``U`` is additive over pairs, so each new batch adds the pairs it
forms with itself and with the samples seen before.  Those live in sorted runs with
cumulative weights (a batch's partners are one binary search away); runs of similar size
merge like a binary counter, so there are O(log n) of them and ``result()`` costs nothing
(``fit`` reads it after every batch).  All classes go through one search: keys are complex
numbers ``class + 1j·score``, which NumPy orders lexicographically, i.e. row by row.
"""
from __future__ import annotations

import numpy as np

from .base import Metric, _host, _labels

_AVERAGES = (None, "macro", "weighted")


def _keys(scores):
    """Sort keys for scores (C, m): the scores themselves for one row, else ``row + 1j·score``
    (NumPy orders complex numbers lexicographically, so every row searches in one call)."""
    if len(scores) == 1:
        return scores.reshape(-1)
    return (np.arange(len(scores))[:, None] + 1j * scores).reshape(-1)


class _Run:
    """Samples sorted by score within each class row: keys (C·m,), weights (C·m,), and
    flat cumulative weights with a leading zero per row (C·(m + 1),)."""

    def __init__(self, scores, pos, neg):
        rows, self.size = scores.shape
        # timsort: a merge of two sorted runs costs linear time
        order = np.argsort(scores, axis=1, kind="stable")
        order = (order + (np.arange(rows) * self.size)[:, None]).reshape(-1)
        self.scores = scores.reshape(-1)[order].reshape(rows, -1)
        self.pos, self.neg = pos.reshape(-1)[order], neg.reshape(-1)[order]
        self.keys = _keys(self.scores)
        zero = np.zeros((rows, 1))
        cpos = np.concatenate([zero, np.cumsum(self.pos.reshape(rows, -1), axis=1)], axis=1)
        cneg = np.concatenate([zero, np.cumsum(self.neg.reshape(rows, -1), axis=1)], axis=1)
        self.total_pos = cpos[:, -1]
        self.cpos, self.cneg = cpos.reshape(-1), cneg.reshape(-1)

    def query(self):
        """This run as search queries: keys just at and just above each score (for
        ``searchsorted`` left and right in one call), their rows, and the weights."""
        above = _keys(np.nextafter(self.scores, np.inf))
        rows = np.repeat(np.arange(len(self.scores)), self.size)
        return np.concatenate([self.keys, above]), np.concatenate([rows, rows]), self.pos, \
            self.neg

    def pairs(self, keys, rows, pos, neg):
        """Concordant weight per class between this run and the samples of ``query()``."""
        # a global position g in row r is local g - r·m, so flat g - r·m + r·(m + 1) = g + r
        at = np.searchsorted(self.keys, keys) + rows
        lo, hi = at[:len(pos)], at[len(pos):]
        above = self.total_pos[rows[:len(pos)]] - 0.5 * (self.cpos[lo] + self.cpos[hi])
        below = 0.5 * (self.cneg[lo] + self.cneg[hi])  # ties count half
        return (neg * above + pos * below).reshape(len(self.total_pos), -1).sum(axis=1)


def _merge(*runs):
    """One run holding the samples of ``runs``."""
    if len(runs) == 1:
        return runs[0]
    rows = len(runs[0].scores)
    return _Run(*(np.concatenate([getattr(r, name).reshape(rows, -1) for r in runs], axis=1)
                  for name in ("scores", "pos", "neg")))


class _Ranks:
    """Per class: positive weight ``P``, negative weight ``N`` and concordant weight ``U``."""

    def __init__(self, classes):
        self.runs = []
        self.u, self.p, self.n = np.zeros(classes), np.zeros(classes), np.zeros(classes)

    def add(self, scores, positive, weight):
        """``scores``, ``positive`` (0/1): (C, b); ``weight``: (b,)."""
        pos = positive * weight
        neg = weight - pos
        run = _Run(scores, pos, neg)
        query = run.query()
        self.u += run.pairs(*query) / 2  # each pair within the batch is seen from both ends
        for old in self.runs:
            self.u += old.pairs(*query)
        self.p += pos.sum(axis=1)
        self.n += neg.sum(axis=1)
        self.runs.append(run)
        while len(self.runs) > 1 and self.runs[-2].size <= 2 * self.runs[-1].size:
            self.runs[-2:] = [_merge(*self.runs[-2:])]

    def auc(self):
        """Per class ``U / (P N)``; NaN where a class lacks positives or negatives."""
        den = self.p * self.n
        return np.divide(self.u, den, out=np.full(den.shape, np.nan), where=den > 0)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class AUC(Metric):
    """Area under the ROC curve, exact (no threshold bins), over every batch seen.

    Binary: ``y_pred`` of shape ``(N,)`` or ``(N, 1)``, probabilities or logits alike (AUC
    only ranks scores), ``y_true`` 0/1.  Multiclass: scores ``(N, C)`` and labels or one-hot
    targets; one-vs-rest per class, then ``average``: ``"macro"`` (mean), ``"weighted"``
    (by class prevalence) or ``None`` (an array; not for ``compile``) — sklearn's
    ``roc_auc_score(multi_class="ovr")``.  sklearn expects probabilities there: pass them, or
    ``from_logits=True`` to apply a softmax first.

    A class without positives or without negatives has no AUC: it is left out of the
    average (sklearn raises instead), shows 0.0 in the per-class array, and a result with
    no class defined is 0.0.  Every score is kept (about 50 bytes per sample and class);
    an update costs a few binary searches per class, ``result()`` nothing.

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
        self.ranks = None

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
            self.ranks.add(p.reshape(1, -1), t.reshape(1, -1), w)
        else:
            t = t.reshape(-1).astype(np.int64)
            self.ranks.add(p.reshape(-1, classes).T, np.arange(classes)[:, None] == t, w)

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
            self.num_classes, self.ranks = classes, _Ranks(classes)
        elif classes != self.num_classes:
            raise ValueError(f"AUC got scores for {classes} classes after {self.num_classes} "
                             "in earlier batches; call reset_state() between data sets.")

    def per_class(self):
        """One AUC per class (one entry for binary), NaN where undefined."""
        return np.zeros(0) if self.ranks is None else self.ranks.auc()

    def result(self):
        per = self.per_class()
        if self.average is None and self.num_classes != 1:
            return np.nan_to_num(per, nan=0.0)
        defined = ~np.isnan(per)
        if not defined.any():
            return 0.0
        if self.average == "weighted":
            return float(np.average(per[defined], weights=self.ranks.p[defined]))
        return float(per[defined].mean())

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "from_logits": self.from_logits}


def roc_auc_score(y_true, y_score, average="macro", sample_weight=None, from_logits=False):
    """ROC AUC as ``sklearn.metrics.roc_auc_score`` (``multi_class="ovr"`` for scores of
    shape ``(N, C)``).  Raises a ValueError when no class has both positives and negatives
    (sklearn warns and returns nan for binary data).

    >>> sj.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    m = AUC(average=average, from_logits=from_logits)
    m.update_state(y_true, y_score, sample_weight)
    if np.isnan(m.per_class()).all():
        raise ValueError("roc_auc_score is not defined when y_true holds only one class; "
                         "every class needs positive and negative samples.")
    return m.result()
