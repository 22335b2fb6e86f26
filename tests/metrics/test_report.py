"""classification_report (the same table and numbers as sklearn's) and the confusion-matrix
plot (a PNG on disk, a Figure back, no display needed)."""
import numpy as np
import pytest
from sklearn import metrics as skm

from shenjing import metrics as M

RNG = np.random.default_rng(4)
N, C = 150, 4


def data(n=N, c=C):
    y = RNG.choice(c, n, p=[0.5, 0.3, 0.15, 0.05][:c] / np.sum([0.5, 0.3, 0.15, 0.05][:c]))
    scores = RNG.standard_normal((n, c)).astype(np.float32)
    scores[np.arange(n), y] += 1.2
    return y, scores


@pytest.mark.parametrize("digits", [2, 4])
def test_report_text_equals_sklearn(digits):
    y, s = data()
    pred = s.argmax(1)
    assert M.classification_report(y, s, digits=digits) == \
        skm.classification_report(y, pred, digits=digits, zero_division=0)
    names = ["cat", "dog", "bird", "a very long class name"]
    assert M.classification_report(y, pred, target_names=names) == \
        skm.classification_report(y, pred, target_names=names, zero_division=0)


def test_report_binary_scores_missing_class_and_labels():
    y = (RNG.random(N) < 0.3).astype(np.float32)
    p = RNG.random(N).astype(np.float32)
    assert M.classification_report(y[:, None], p[:, None]) == \
        skm.classification_report(y.astype(int), (p > 0.5).astype(int), zero_division=0)
    yc, s = data()
    pred = s.argmax(1)
    keep = (yc != 3) & (pred != 3)  # class 3 nowhere: not reported (as sklearn)
    assert M.classification_report(yc[keep], pred[keep]) == \
        skm.classification_report(yc[keep], pred[keep], zero_division=0)
    # naming all 4 classes reports the absent one too, like sklearn with labels=
    names = list("ABCD")
    assert M.classification_report(yc[keep], pred[keep], target_names=names,
                                   num_classes=4) == skm.classification_report(
        yc[keep], pred[keep], labels=range(4), target_names=names, zero_division=0)
    # labels not covering the data: a "micro avg" line instead of accuracy
    assert M.classification_report(yc, pred, labels=[1, 2, 7]) == \
        skm.classification_report(yc, pred, labels=[1, 2, 7], zero_division=0)


def test_report_dict_and_weights():
    y, s = data()
    pred, w = s.argmax(1), RNG.random(N)
    mine = M.classification_report(y, pred, output_dict=True, sample_weight=w)
    theirs = skm.classification_report(y, pred, output_dict=True, sample_weight=w,
                                       zero_division=0)
    assert mine.keys() == theirs.keys()
    assert mine["accuracy"] == pytest.approx(theirs["accuracy"])
    for key in theirs:
        if key != "accuracy":
            assert mine[key] == pytest.approx(theirs[key]), key


def test_report_errors():
    y, s = data()
    with pytest.raises(ValueError, match="2 target_names for 4 classes"):
        M.classification_report(y, s, target_names=["a", "b"])


def test_plot_confusion_matrix_writes_png(tmp_path):
    from matplotlib.figure import Figure

    y, s = data()
    path = tmp_path / "cm.png"
    fig = M.plot_confusion_matrix(y, s, class_names=list("wxyz"), path=path, normalize="true")
    assert isinstance(fig, Figure)
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list("wxyz")
    cells = [t.get_text() for t in ax.texts]
    expected = skm.confusion_matrix(y, s.argmax(1), normalize="true")
    assert cells == [f"{v:.2f}" for v in expected.ravel()]
    # from a matrix of counts, no file
    fig = M.plot_confusion_matrix(skm.confusion_matrix(y, s.argmax(1)))
    assert [t.get_text() for t in fig.axes[0].texts][0] == str(
        skm.confusion_matrix(y, s.argmax(1))[0, 0])


def test_plot_errors():
    with pytest.raises(ValueError, match="square matrix"):
        M.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 class_names for a 2 x 2"):
        M.plot_confusion_matrix(np.eye(2), class_names=list("abc"))
    with pytest.raises(ValueError, match="normalize"):
        M.plot_confusion_matrix(np.eye(2), normalize="rows")
