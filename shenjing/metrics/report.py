"""Human-readable summaries: the classification report table and the confusion-matrix plot."""
from __future__ import annotations

import numpy as np

from .classification import ConfusionMatrix, _divide, _present, _prfs, _resize

_HEADERS = ("precision", "recall", "f1-score", "support")


def _report_labels(matrix, labels, target_names):
    """The classes reported: ``labels``; else every class when ``target_names`` names them
    all; else the classes present in y_true or y_pred (as sklearn)."""
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    elif target_names is not None and len(target_names) == matrix.shape[0]:
        labels = np.arange(matrix.shape[0])
    else:
        labels = _present(matrix)
    if target_names is not None and len(target_names) != len(labels):
        raise ValueError(f"classification_report got {len(target_names)} target_names for "
                         f"{len(labels)} classes {labels.tolist()}; pass one name per class "
                         "(or labels=[...] to choose the classes).")
    return labels


def _report_rows(matrix, labels, names, weighted):
    """``(name, precision, recall, f1, support)`` per class, then the average lines."""
    p, r, f, s = _prfs(matrix, None, labels)
    total = float(s.sum())
    as_support = float if weighted else int
    rows = [(n, *vals, as_support(sup)) for n, *vals, sup in zip(names, p, r, f, s)]
    micro_is_accuracy = set(labels.tolist()) >= set(_present(matrix).tolist())
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        averages.append((heading, *_prfs(matrix, average, labels)[:3], as_support(total)))
    return rows, averages


def _format_report(rows, averages, digits):
    width = max(max((len(r[0]) for r in rows), default=0), len("weighted avg"), digits)
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *_HEADERS, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for row in rows:
        text += row_fmt.format(*row, width=width, digits=digits)
    text += "\n"
    for heading, p, r, f, support in averages:
        if heading == "accuracy":
            text += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
                heading, "", "", f, support, width=width, digits=digits)
        else:
            text += row_fmt.format(heading, p, r, f, support, width=width, digits=digits)
    return text


def classification_report(y_true, y_pred, target_names=None, digits=2, labels=None,
                          num_classes=None, threshold=0.5, sample_weight=None,
                          output_dict=False):
    """The familiar per-class table: precision, recall, f1-score and support for each
    class, then accuracy, macro avg and weighted avg — sklearn's layout and numbers
    (zero divisions give 0.00).  ``y_pred`` may be labels or scores (argmax / threshold).

    Classes: ``labels`` if given; every class index when ``target_names`` names them all;
    otherwise those present in y_true or y_pred.  ``output_dict=True`` returns sklearn's
    dict (``{"0": {"precision": ...}, "accuracy": ..., "macro avg": {...}, ...}``).

    >>> print(sj.metrics.classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1]))
                  precision    recall  f1-score   support
    <BLANKLINE>
               0       0.50      1.00      0.67         1
               1       0.00      0.00      0.00         1
               2       1.00      0.67      0.80         3
    <BLANKLINE>
        accuracy                           0.60         5
       macro avg       0.50      0.56      0.49         5
    weighted avg       0.70      0.60      0.61         5
    <BLANKLINE>
    """
    m = ConfusionMatrix(num_classes, threshold)
    m.update_state(y_true, y_pred, sample_weight)
    matrix = m.matrix
    labels = _report_labels(matrix, labels, target_names)
    matrix = _resize(matrix, int(labels.max(initial=-1)) + 1)
    names = [str(n) for n in (labels.tolist() if target_names is None else target_names)]
    rows, averages = _report_rows(matrix, labels, names, m.weighted)
    if not output_dict:
        return _format_report(rows, averages, digits)
    out = {name: dict(zip(_HEADERS, map(float, vals))) for name, *vals in rows}
    for heading, *vals in averages:
        out[heading] = float(vals[2]) if heading == "accuracy" else \
            dict(zip(_HEADERS, map(float, vals)))
    return out


def plot_confusion_matrix(cm_or_y_true, y_pred=None, class_names=None, normalize=None,
                          path=None, num_classes=None, title=None, cmap="Blues", ax=None):
    """Draw a confusion matrix as an annotated heat map; returns the matplotlib Figure.

    Pass a square matrix, or ``y_true, y_pred`` (labels or scores) to compute it.
    ``normalize``: ``"true"`` (rows sum to 1), ``"pred"``, ``"all"`` or ``None`` (counts).
    ``path``: also save the figure there (PNG, PDF, ... by extension).  The figure is built
    without pyplot (no window, no global state; works headless), or into ``ax`` if given.

    >>> fig = sj.metrics.plot_confusion_matrix([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.7],
    ...                                        class_names=["cat", "dog"])
    >>> fig.savefig("cm.png")  # doctest: +SKIP
    """
    from matplotlib.figure import Figure  # noqa: PLC0415  (optional dependency: shenjing[plot])

    cm = _as_matrix(cm_or_y_true, y_pred, num_classes)
    if normalize in ("true", "pred", "all"):
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        cm = _divide(cm, cm.sum(axis=axis, keepdims=axis is not None))
    elif normalize is not None:
        raise ValueError(f"plot_confusion_matrix expects normalize in (None, 'true', 'pred', "
                         f"'all'), got {normalize!r}.")
    n = cm.shape[0]
    names = [str(c) for c in (range(n) if class_names is None else class_names)]
    if len(names) != n:
        raise ValueError(f"plot_confusion_matrix got {len(names)} class_names for a "
                         f"{n} x {n} matrix.")
    fig = Figure(figsize=(1.5 + 0.6 * n, 1.2 + 0.6 * n)) if ax is None else ax.figure
    ax = fig.add_subplot() if ax is None else ax
    image = ax.imshow(cm, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax)
    _annotate(ax, cm, normalize is not None)
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="Predicted label", ylabel="True label", title=title or "Confusion matrix")
    ax.tick_params(axis="x", labelrotation=45 if max(map(len, names), default=0) > 3 else 0)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def _as_matrix(cm_or_y_true, y_pred, num_classes):
    if y_pred is not None:
        m = ConfusionMatrix(num_classes)
        m.update_state(cm_or_y_true, y_pred)
        return m.result()
    cm = np.asarray(cm_or_y_true)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix expects a square matrix, or y_true and "
                         f"y_pred; got one array of shape {cm.shape}.")
    return cm


def _annotate(ax, cm, fractions):
    """Write each cell's value, white on dark cells."""
    top = cm.max() if cm.size else 0
    for (i, j), value in np.ndenumerate(cm):
        text = f"{value:.2f}" if fractions or cm.dtype.kind == "f" else f"{value:d}"
        ax.text(j, i, text, ha="center", va="center",
                color="white" if value > top / 2 else "black")
