"""Confusion matrix, precision, recall and F-scores against scikit-learn: streamed in
batches of unequal size, binary and multiclass, missing classes, imbalance, weights and
zero divisions (sklearn's zero_division=0)."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shenjing as sj
from shenjing import metrics as M

from . import stream

RNG = np.random.default_rng(1)
N, C = 211, 7
AVERAGES = [None, "macro", "micro", "weighted"]
CLASSES = {"precision": M.Precision, "recall": M.Recall, "f1": M.F1Score}
SKLEARN = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}


def multiclass(n=N, c=C, missing=(5, 6)):
    """Scores and labels with imbalance; class 5 never true, class 6 never true nor predicted
    (and a batch of 17 rarely holds every class)."""
    p = np.array([0.3, 0.25, 0.2, 0.15, 0.1, 0.0, 0.0])[:c]
    labels = RNG.choice(c, n, p=p / p.sum()) if missing else RNG.integers(0, c, n)
    scores = RNG.standard_normal((n, c)).astype(np.float32)
    scores[np.arange(n), labels] += 1.0  # better than chance
    if missing:
        scores[:, 6] = -10.0
    return labels, scores


def binary(n=N, positive=0.15):
    y = (RNG.random(n) < positive).astype(np.float32)
    p = np.clip(0.35 * y + 0.65 * RNG.random(n), 0, 1).astype(np.float32)
    return y, p


def sk_labels(average, c=C):
    return {"labels": np.arange(c)} if average is None else {}


@pytest.mark.parametrize("batch", [N, 17, 1])
def test_confusion_matrix_streams_like_sklearn(batch):
    y, s = multiclass()
    expected = skm.confusion_matrix(y, s.argmax(1), labels=np.arange(C))
    got = stream(M.ConfusionMatrix(), y, s, batch)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64 and got.shape == (C, C)
    np.testing.assert_array_equal(M.confusion_matrix(y, s), expected)


def test_confusion_matrix_grows_with_labels_and_weights():
    y, s = multiclass(missing=())
    pred = s.argmax(1)
    m = M.ConfusionMatrix()
    m.update_state(y[:5] * 0, pred[:5] * 0)  # only class 0 so far: 1 x 1
    assert m.result().shape == (1, 1)
    w = RNG.random(N)
    got = stream(M.ConfusionMatrix(), y, pred, 13, sample_weight=w)
    np.testing.assert_allclose(got, skm.confusion_matrix(y, pred, sample_weight=w))
    for norm in ["true", "pred", "all"]:
        np.testing.assert_allclose(M.confusion_matrix(y, pred, normalize=norm),
                                   skm.confusion_matrix(y, pred, normalize=norm))


@pytest.mark.parametrize("which", sorted(CLASSES))
@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("batch", [N, 17])
def test_multiclass_with_missing_classes(which, average, batch):
    y, s = multiclass()
    expected = SKLEARN[which](y, s.argmax(1), average=average, zero_division=0,
                              **sk_labels(average))
    got = stream(CLASSES[which](average=average), y, s, batch)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # one-hot targets and Tensors read the same
    got = stream(CLASSES[which](average=average), sj.tensor(np.eye(C)[y]), sj.tensor(s))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the one-call function, with sklearn's default labels (the classes present)
    fn = getattr(M, {"f1": "f1_score"}.get(which, which + "_score"))
    np.testing.assert_allclose(fn(y, s, average=average),
                               SKLEARN[which](y, s.argmax(1), average=average, zero_division=0))


@pytest.mark.parametrize("which", sorted(CLASSES))
@pytest.mark.parametrize("shape", ["flat", "column"])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_imbalanced(which, shape, threshold):
    y, p = binary()
    expected = SKLEARN[which](y, p > threshold, zero_division=0)
    if shape == "column":
        y, p = y[:, None], p[:, None]
    got = stream(CLASSES[which](threshold=threshold), y, p)
    assert got == pytest.approx(expected, rel=1e-12)
    assert isinstance(got, float)


def test_binary_logits_with_threshold_zero_and_integer_labels():
    y, p = binary()
    logits = np.log(p + 1e-6) - np.log1p(1e-6 - p)
    expected = skm.f1_score(y, p > 0.5)
    assert stream(M.F1Score(threshold=0.0), y, logits) == pytest.approx(expected)
    assert stream(M.F1Score(), y.astype(int), (p > 0.5).astype(int)) == pytest.approx(expected)
    # two softmax columns: class 1 is the positive class
    two = np.stack([1 - p, p], axis=1)
    assert stream(M.F1Score(), y, two) == pytest.approx(
        skm.f1_score(y, two.argmax(1)))


@pytest.mark.parametrize("average", ["binary", "macro", "micro", "weighted"])
def test_zero_division_gives_zero(average):
    y = np.array([0, 0, 1, 1, 0])
    never = np.zeros(5, int)        # class 1 never predicted: precision 0/0
    for which in CLASSES:
        got = CLASSES[which](average=average)(y, never)
        assert got == SKLEARN[which](y, never, average=average, zero_division=0)
    none_true = np.zeros(5, int)    # no positives at all: recall 0/0, f1 0/0
    assert M.Recall()(none_true, never) == 0.0 and M.F1Score()(none_true, never) == 0.0
    assert M.Precision(average=average).result() == 0.0   # nothing seen yet


def test_sample_weight_and_fbeta():
    y, s = multiclass(missing=())
    pred, w = s.argmax(1), RNG.random(N)
    for average in ["macro", "weighted", "micro"]:
        got = stream(M.FBetaScore(average=average, beta=2.0), y, pred, 19, sample_weight=w)
        assert got == pytest.approx(skm.fbeta_score(y, pred, beta=2.0, average=average,
                                                    sample_weight=w))
    p, r, f, support = M.precision_recall_fscore_support(y, pred, beta=0.5)
    for mine, theirs in zip((p, r, f, support),
                            skm.precision_recall_fscore_support(y, pred, beta=0.5)):
        np.testing.assert_allclose(mine, theirs)
    assert support.dtype == np.int64


def test_prfs_with_labels_and_per_class_arrays():
    y, s = multiclass()
    pred = s.argmax(1)
    labels = [0, 2, 5, 6]
    for average in [None, "macro", "micro", "weighted"]:
        mine = M.precision_recall_fscore_support(y, pred, average=average, labels=labels)
        theirs = skm.precision_recall_fscore_support(y, pred, average=average, labels=labels,
                                                     zero_division=0)
        for a, b in zip(mine[:3], theirs[:3]):
            np.testing.assert_allclose(a, b)
    per_class = M.Recall(average=None, num_classes=C)
    assert per_class.result().shape == (C,) and not per_class.scalar_result
    per_class.update_state(y, pred)
    np.testing.assert_allclose(per_class.result(), skm.recall_score(
        y, pred, average=None, labels=np.arange(C), zero_division=0))


def test_micro_is_accuracy_and_reset():
    y, s = multiclass()
    m = M.F1Score(average="micro")
    m.update_state(y, s)
    assert m.result() == pytest.approx(skm.accuracy_score(y, s.argmax(1)))
    m.reset()
    assert m.result() == 0.0 and m.matrix.sum() == 0
    m.update_state(y[:3], s[:3])
    assert m.result() == pytest.approx(skm.accuracy_score(y[:3], s[:3].argmax(1)))


def test_errors_say_what_to_do():
    y, s = multiclass()
    with pytest.raises(ValueError, match="average='binary' needs two classes.*'macro'"):
        M.Precision()(y, s)
    with pytest.raises(ValueError, match="binary scores.*values up to 4"):
        M.Recall(average="macro")(y, s[:, 0])
    with pytest.raises(ValueError, match="non-negative class indices"):
        M.ConfusionMatrix()(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="num_classes=3 but the data has class index 4"):
        M.ConfusionMatrix(num_classes=3)(np.array([4]), np.array([0]))
    with pytest.raises(ValueError, match="average in"):
        M.F1Score(average="samples")
    with pytest.raises(ValueError, match="positive int num_classes"):
        M.ConfusionMatrix(num_classes=0)
    with pytest.raises(ValueError, match=r"labels of shape \(4,\)"):
        M.F1Score(average="macro")(np.zeros(5, int), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="normalize"):
        M.confusion_matrix([0, 1], [0, 1], normalize="rows")
