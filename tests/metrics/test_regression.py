"""MSE, MAE, RMSE and R² against scikit-learn, streamed in batches."""
import numpy as np
import pytest
from sklearn import metrics as skm

import shenjing as sj
from shenjing import metrics as M

from . import stream

RNG = np.random.default_rng(3)
N = 203


@pytest.mark.parametrize("shape", [(N,), (N, 3)])
def test_regression_metrics(shape):
    y = RNG.standard_normal(shape).astype(np.float32)
    p = RNG.standard_normal(shape).astype(np.float32)
    mse = skm.mean_squared_error(y, p)
    assert stream(M.MeanSquaredError(), y, p) == pytest.approx(mse, rel=1e-6)
    assert stream(M.MeanAbsoluteError(), y, p) == pytest.approx(
        skm.mean_absolute_error(y, p), rel=1e-6)
    assert stream(M.RootMeanSquaredError(), y, p) == pytest.approx(np.sqrt(mse), rel=1e-6)


def _targets(shape, offset=100.0):
    """Targets far from zero with a small spread: a naive Σy² - (Σy)²/n would lose digits."""
    y = offset + RNG.standard_normal(shape)
    return y, y + 0.3 * RNG.standard_normal(shape)


@pytest.mark.parametrize("batch", [N, 17, 1])
def test_r2_streams_like_one_call_and_sklearn(batch):
    y, p = _targets((N,))
    expected = skm.r2_score(y, p)
    assert stream(M.R2Score(), y, p, batch) == pytest.approx(expected, rel=1e-10)
    assert M.r2_score(y, p) == pytest.approx(expected, rel=1e-10)
    # (N, 1) predictions against (N,) targets, and Tensors
    assert M.r2_score(sj.tensor(y), sj.tensor(p[:, None])) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted", "raw_values"])
def test_r2_multioutput_and_weights(multioutput):
    y, p = _targets((N, 3))
    y[:, 2] *= 5  # unequal variances, so the weighting matters
    w = RNG.random(N)
    expected = skm.r2_score(y, p, sample_weight=w, multioutput=multioutput)
    got = stream(M.R2Score(multioutput=multioutput), y, p, 23, sample_weight=w)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert M.R2Score(multioutput=multioutput).scalar_result is (multioutput != "raw_values")


def test_r2_constant_targets_follow_force_finite():
    y = np.full(10, 2.0)
    assert M.r2_score(y, y) == skm.r2_score(y, y) == 1.0
    assert M.r2_score(y, y + 1) == skm.r2_score(y, y + 1) == 0.0
    assert M.R2Score().result() == 0.0


def test_r2_errors():
    with pytest.raises(ValueError, match="multioutput"):
        M.R2Score(multioutput="mean")
    with pytest.raises(ValueError, match="same shape"):
        M.r2_score(np.zeros(4), np.zeros(5))
    m = M.R2Score()
    m.update_state(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="3 output columns"):
        m.update_state(np.zeros((4, 3)), np.zeros((4, 3)))
