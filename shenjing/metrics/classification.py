"""Confusion-matrix metrics: confusion matrix, precision, recall, F-scores (streaming).

Inputs are read the same way everywhere (``_class_inputs``):

* ``y_pred`` of shape ``(N, C)`` with ``C > 1`` (floats): class scores — probabilities or
  logits — reduced by ``argmax``; ``y_true`` holds labels ``(N,)``/``(N, 1)`` or is one-hot
  ``(N, C)``.
* ``y_pred`` of shape ``(N,)`` or ``(N, 1)`` (floats): binary scores, class 1 where
  ``y_pred > threshold`` (0.5 for probabilities; pass ``threshold=0.0`` for logits).
* integer or bool ``y_pred``: class labels, compared as they are.

Every metric keeps a float64 confusion matrix, so batches streamed one by one give exactly
the metric of the concatenated data.  Divisions by zero (a class never predicted, or never
present) give 0.0, as scikit-learn with ``zero_division=0``.
"""
from __future__ import annotations

import numpy as np

from .base import Metric, _host, _labels

_AVERAGES = (None, "binary", "macro", "micro", "weighted")
_NORMALIZE = (None, "true", "pred", "all")


def _whole(y, who, what):
    """``y`` as int64, refusing fractional or negative values."""
    out = y.astype(np.int64)
    if out.size and ((out != y).any() or out.min() < 0):
        raise ValueError(f"{who} expects {what} as non-negative class indices, got values such "
                         f"as {y.reshape(-1)[:5].tolist()}.")
    return out


def _class_inputs(y_true, y_pred, threshold=0.5, who="metric"):
    """``(true labels, predicted labels, classes implied by y_pred or None)``, flat int64."""
    t, p = _host(y_true), _host(y_pred)
    if p.ndim == 0:
        raise ValueError(f"{who} expects predictions with a batch axis, got a scalar.")
    if p.dtype.kind == "f" and p.shape[-1] > 1 and p.ndim > 1:  # class scores
        classes = p.shape[-1]
        t = t.argmax(axis=-1) if t.shape == p.shape else _labels(t, p, who)
        return _whole(t, who, "labels").reshape(-1), p.argmax(axis=-1).reshape(-1), classes
    if p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        p = p.reshape(t.shape)
    elif t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        t = t.reshape(p.shape)
    if t.shape != p.shape:
        raise ValueError(f"{who} expects y_true and y_pred with one value per sample, got "
                         f"shapes {t.shape} and {p.shape}.")
    t = t.reshape(-1)
    if p.dtype.kind != "f":  # labels
        return _whole(t, who, "labels"), _whole(p.reshape(-1), who, "predicted labels"), None
    if t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"{who} got binary scores y_pred of shape {p.shape} but y_true has "
                         f"values up to {t.max()}; pass predicted class labels (integers) or "
                         "class scores of shape (N, num_classes).")
    return (t > 0.5).astype(np.int64), (p.reshape(-1) > threshold).astype(np.int64), 2


def _divide(num, den):
    """``num / den`` with 0.0 where ``den == 0`` (sklearn's ``zero_division=0``)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _scores(tp, pred, true, beta):
    """Precision tp/pred, recall tp/true, F-beta (1+β²)tp / (β² true + pred)."""
    b2 = beta * beta
    return _divide(tp, pred), _divide(tp, true), _divide((1 + b2) * tp, b2 * true + pred)


def _prfs(matrix, average, labels, beta=1.0, who="precision/recall"):
    """Precision, recall, F-beta and support from a confusion matrix (rows = true class).

    ``labels``: the classes reported (``average=None``) or averaged over.  Averages return
    floats and support ``None``, as ``sklearn.metrics.precision_recall_fscore_support``.
    """
    if average == "binary":
        if matrix.shape[0] > 2:
            raise ValueError(f"{who} with average='binary' needs two classes, the data has "
                             f"{matrix.shape[0]}; pass average='macro', 'micro', 'weighted' "
                             "or None.")
        matrix, labels = _resize(matrix, 2), np.array([1])
    tp, pred, true = np.diag(matrix)[labels], matrix.sum(0)[labels], matrix.sum(1)[labels]
    if average == "micro":
        return (*(float(s) for s in _scores(tp.sum(), pred.sum(), true.sum(), beta)), None)
    p, r, f = _scores(tp, pred, true, beta)
    if average is None:
        return p, r, f, true
    if average == "weighted":
        weights = true if true.sum() else None
        return (*(float(np.average(s, weights=weights)) if len(s) and weights is not None
                  else 0.0 for s in (p, r, f)), None)
    return (*(float(s.mean()) if len(s) else 0.0 for s in (p, r, f)), None)


def _resize(matrix, size):
    """``matrix`` zero-padded to ``size × size`` classes."""
    if matrix.shape[0] >= size:
        return matrix
    out = np.zeros((size, size))
    out[:matrix.shape[0], :matrix.shape[0]] = matrix
    return out


def _present(matrix):
    """Classes that occur in y_true or y_pred (what sklearn reports without ``labels=``)."""
    return np.flatnonzero(matrix.sum(0) + matrix.sum(1))


class ConfusionMatrix(Metric):
    """Streaming confusion matrix ``M[i, j]`` = (weighted) count of true class i predicted j.

    ``num_classes`` fixes the size; without it the matrix grows with the largest class seen
    (or the score columns).  ``result()`` is an array (int64 unless weighted), so it is not
    for ``compile``; read it after ``fit`` or use ``sj.metrics.confusion_matrix``.

    >>> m = sj.metrics.ConfusionMatrix(num_classes=2)
    >>> m.update_state([0, 1, 1], [0, 0, 1]); m.result()
    array([[1, 0],
           [1, 1]])
    """

    scalar_result = False

    def __init__(self, num_classes=None, threshold=0.5, name="confusion_matrix"):
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer))
                                        or num_classes < 1):
            raise ValueError(f"{type(self).__name__} expects a positive int num_classes, got "
                             f"{num_classes!r}.")
        self.num_classes, self.threshold = num_classes, threshold
        super().__init__(name)

    def reset_state(self) -> None:
        self.matrix = np.zeros((self.num_classes or 0,) * 2)
        self.weighted = False

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p, classes = _class_inputs(y_true, y_pred, self.threshold, type(self).__name__)
        size = max(classes or 0, int(t.max(initial=-1)) + 1, int(p.max(initial=-1)) + 1)
        if self.num_classes is not None and size > self.num_classes:
            raise ValueError(f"{type(self).__name__} was given num_classes={self.num_classes} "
                             f"but the data has class index {size - 1}.")
        self.matrix = _resize(self.matrix, size)
        n = self.matrix.shape[0]
        w = None
        if sample_weight is not None:
            w, self.weighted = _host(sample_weight).astype(np.float64).reshape(-1), True
        self.matrix += np.bincount(t * n + p, weights=w, minlength=n * n).reshape(n, n)

    def result(self):
        return self.matrix.copy() if self.weighted else self.matrix.astype(np.int64)

    def get_config(self) -> dict:
        return {"name": self.name, "num_classes": self.num_classes, "threshold": self.threshold}


class FBetaScore(ConfusionMatrix):
    """Streaming F-beta: ``(1+β²) tp / ((1+β²) tp + β² fn + fp)`` per class, then averaged.

    ``average``: ``"binary"`` (class 1 only; the default, as sklearn), ``"macro"`` (mean over
    the classes present in y_true or y_pred), ``"micro"`` (from summed counts; equals
    accuracy for single-label data), ``"weighted"`` (mean weighted by support) or ``None``
    (an array, one value per class index ``0 .. C-1``; not for ``compile``).
    """

    _which = 2

    def __init__(self, average="binary", num_classes=None, threshold=0.5, beta=1.0, name=None):
        if average not in _AVERAGES:
            raise ValueError(f"{type(self).__name__} expects average in {_AVERAGES}, got "
                             f"{average!r}.")
        if not beta >= 0:
            raise ValueError(f"{type(self).__name__} expects beta >= 0, got {beta!r}.")
        self.average, self.beta = average, float(beta)
        self.scalar_result = average is not None
        super().__init__(num_classes, threshold, name)

    def result(self):
        labels = np.arange(self.matrix.shape[0]) if self.average is None else \
            _present(self.matrix)
        return _prfs(self.matrix, self.average, labels, self.beta, self.name)[self._which]

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta}


class F1Score(FBetaScore):
    """Streaming F1, the harmonic mean of precision and recall: ``2 tp / (2 tp + fp + fn)``.

    >>> f1 = sj.metrics.F1Score(average="macro")
    >>> f1.update_state([0, 1, 2], [0, 1, 1])     # one batch...
    >>> f1.update_state([2, 2], [2, 1])           # ...and the next
    >>> f1.result()                              # as f1_score on all five samples
    0.6666666666666666
    """

    def __init__(self, average="binary", num_classes=None, threshold=0.5, name="f1_score"):
        super().__init__(average, num_classes, threshold, 1.0, name)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class Precision(F1Score):
    """Streaming precision ``tp / (tp + fp)``: of the samples predicted as a class, the
    fraction that are.  ``average`` as for ``FBetaScore`` (default ``"binary"``).

    >>> sj.metrics.Precision()([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.7])   # threshold 0.5
    0.5
    """

    _which = 0

    def __init__(self, average="binary", num_classes=None, threshold=0.5, name="precision"):
        super().__init__(average, num_classes, threshold, name)


class Recall(F1Score):
    """Streaming recall ``tp / (tp + fn)``: of the samples of a class, the fraction found.
    ``average`` as for ``FBetaScore`` (default ``"binary"``).

    >>> sj.metrics.Recall()([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.7])
    0.5
    """

    _which = 1

    def __init__(self, average="binary", num_classes=None, threshold=0.5, name="recall"):
        super().__init__(average, num_classes, threshold, name)


# ---------------------------------------------------------------- one-call functions
def confusion_matrix(y_true, y_pred, num_classes=None, normalize=None, sample_weight=None,
                     threshold=0.5):
    """``C × C`` matrix, row = true class, column = predicted class (sklearn's layout).

    Unlike sklearn, rows and columns are the class indices ``0 .. C-1`` (``C`` = the score
    columns, ``num_classes``, or the largest label + 1), even for classes that never occur.
    ``normalize``: ``"true"`` (rows sum to 1), ``"pred"`` (columns), ``"all"`` or ``None``.

    >>> sj.metrics.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2])
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 0, 2]])
    """
    if normalize not in _NORMALIZE:
        raise ValueError(f"confusion_matrix expects normalize in {_NORMALIZE}, got "
                         f"{normalize!r}.")
    m = ConfusionMatrix(num_classes, threshold)
    m.update_state(y_true, y_pred, sample_weight)
    cm = m.result()
    if normalize == "true":
        return _divide(cm, cm.sum(axis=1, keepdims=True))
    if normalize == "pred":
        return _divide(cm, cm.sum(axis=0, keepdims=True))
    return _divide(cm, cm.sum()) if normalize == "all" else cm


def precision_recall_fscore_support(y_true, y_pred, average=None, labels=None, beta=1.0,
                                    num_classes=None, threshold=0.5, sample_weight=None):
    """``(precision, recall, f_beta, support)`` as ``sklearn.metrics`` computes them.

    ``average=None``: arrays over ``labels`` (default: the classes present in y_true or
    y_pred, in order), support = true count per class (int64 unless weighted).
    ``"binary"`` (class 1), ``"macro"``, ``"micro"``, ``"weighted"``: floats, support
    ``None``.  Zero divisions give 0.0.

    >>> p, r, f, s = sj.metrics.precision_recall_fscore_support([0, 1, 1], [0, 1, 0])
    >>> p, r, s
    (array([0.5, 1. ]), array([1. , 0.5]), array([1, 2]))
    """
    if average not in _AVERAGES:
        raise ValueError(f"precision_recall_fscore_support expects average in {_AVERAGES}, "
                         f"got {average!r}.")
    m = ConfusionMatrix(num_classes, threshold)
    m.update_state(y_true, y_pred, sample_weight)
    cm = m.matrix
    if labels is None:
        labels = _present(cm)
    else:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        cm = _resize(cm, int(labels.max(initial=-1)) + 1)
    p, r, f, support = _prfs(cm, average, labels, beta, "precision_recall_fscore_support")
    if support is not None and not m.weighted:
        support = support.astype(np.int64)
    return p, r, f, support


def precision_score(y_true, y_pred, average="binary", **kwargs):
    """Precision ``tp / (tp + fp)``; arguments as ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(y_true, y_pred, average, **kwargs)[0]


def recall_score(y_true, y_pred, average="binary", **kwargs):
    """Recall ``tp / (tp + fn)``; arguments as ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(y_true, y_pred, average, **kwargs)[1]


def f1_score(y_true, y_pred, average="binary", **kwargs):
    """F1 ``2 tp / (2 tp + fp + fn)``; arguments as ``precision_recall_fscore_support``.

    >>> sj.metrics.f1_score([0, 1, 1, 0], [0, 1, 0, 0])
    0.6666666666666666
    """
    return precision_recall_fscore_support(y_true, y_pred, average, **kwargs)[2]
