"""Exact ROC AUC against sklearn.metrics.roc_auc_score: ties, batches, weights, one-vs-rest."""
import numpy as np
import pytest
from scipy.special import softmax
from sklearn import metrics as skm

import shenjing as sj
from shenjing import metrics as M

from . import stream

RNG = np.random.default_rng(2)
N, C = 257, 5


def binary(n=N, decimals=None):
    y = (RNG.random(n) < 0.2).astype(np.float32)
    p = RNG.random(n) * 0.7 + 0.3 * y
    return y, (p if decimals is None else p.round(decimals)).astype(np.float32)


def multiclass(n=N, c=C):
    y = RNG.integers(0, c, n)
    logits = RNG.standard_normal((n, c))
    logits[np.arange(n), y] += 0.8
    return y, logits


@pytest.mark.parametrize("batch", [N, 17, 1])
@pytest.mark.parametrize("decimals", [None, 1])   # 1 decimal: many tied scores
def test_binary_streams_like_sklearn(batch, decimals):
    y, p = binary(decimals=decimals)
    expected = skm.roc_auc_score(y, p)
    assert stream(M.AUC(), y, p, batch) == pytest.approx(expected, abs=1e-12)
    assert stream(M.AUC(), y[:, None], p[:, None], batch) == pytest.approx(expected, abs=1e-12)
    assert M.roc_auc_score(sj.tensor(y), sj.tensor(p)) == pytest.approx(expected, abs=1e-12)


def test_binary_logits_rank_like_probabilities_and_weights():
    y, p = binary()
    logits = np.log(p + 1e-3) - np.log1p(1e-3 - p)
    assert M.roc_auc_score(y, logits) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    w = RNG.random(N)
    assert stream(M.AUC(), y, p, 31, sample_weight=w) == pytest.approx(
        skm.roc_auc_score(y, p, sample_weight=w), abs=1e-12)


@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("batch", [N, 16])
def test_multiclass_one_vs_rest(average, batch):
    y, logits = multiclass()
    probs = softmax(logits, axis=1)
    expected = skm.roc_auc_score(y, probs, multi_class="ovr", average=average)
    assert stream(M.AUC(average=average), y, probs, batch) == pytest.approx(expected, abs=1e-12)
    assert stream(M.AUC(average=average, from_logits=True), y, logits, batch) == \
        pytest.approx(expected, abs=1e-12)
    assert M.roc_auc_score(np.eye(C)[y], probs, average=average) == \
        pytest.approx(expected, abs=1e-12)


def test_per_class_and_missing_class():
    y, logits = multiclass()
    probs = softmax(logits, axis=1)
    per_class = [skm.roc_auc_score(y == c, probs[:, c]) for c in range(C)]
    m = M.AUC(average=None)
    assert not m.scalar_result
    np.testing.assert_allclose(stream(m, y, probs), per_class, atol=1e-12)
    # class 4 never true: left out of the average (sklearn raises), 0.0 per class
    keep = y != 4
    defined = [skm.roc_auc_score(y[keep] == c, probs[keep, c]) for c in range(4)]
    assert M.roc_auc_score(y[keep], probs[keep]) == pytest.approx(np.mean(defined), abs=1e-12)
    assert stream(M.AUC(average=None), y[keep], probs[keep])[4] == 0.0


def test_undefined_auc():
    y = np.zeros(6)
    p = RNG.random(6)
    assert M.AUC()(y, p) == 0.0            # a metric in a log does not raise
    with pytest.raises(ValueError, match="only one class"):   # sklearn 1.9: nan + warning
        M.roc_auc_score(y, p)


def test_auc_errors_and_reset():
    y, logits = multiclass()
    m = M.AUC()
    m.update_state(y, logits)
    with pytest.raises(ValueError, match="scores for 1 classes after 5"):
        m.update_state(np.zeros(3), np.zeros(3))
    m.reset()
    yb, pb = binary()
    assert m(yb, pb) == pytest.approx(skm.roc_auc_score(yb, pb))
    with pytest.raises(ValueError, match="non-finite"):
        M.AUC()(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="labels up to 4"):
        M.AUC()(y, logits[:, 0])
    with pytest.raises(ValueError, match="average in"):
        M.AUC(average="micro")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uneven_batches_ties_and_weights_multiclass(seed):
    """Batches of random sizes exercise every merge of the sorted runs."""
    rng = np.random.default_rng(seed)
    y, logits = multiclass(n=600)
    probs = softmax(logits.round(1), axis=1)  # rounded logits: many tied scores
    w = rng.random(600)
    cuts = np.sort(rng.choice(np.arange(1, 600), 40, replace=False))
    m = M.AUC(average="weighted")
    for part in np.split(np.arange(600), cuts):
        m.update_state(y[part], probs[part], sample_weight=w[part])
    expected = skm.roc_auc_score(y, probs, multi_class="ovr", average="weighted",
                                 sample_weight=w)
    assert m.result() == pytest.approx(expected, abs=1e-12)
