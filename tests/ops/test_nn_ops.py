"""softmax, log_softmax, softmax_cross_entropy and dropout."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_fd, check_op, randn

import shenjing as sj
from shenjing.ops.nn import dropout_mask

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_log_softmax(axis, dtype):
    x = randn(2, 3, 4, dtype=dtype)
    check_op(lambda t: sj.softmax(t, axis), lambda t: F.softmax(t, axis), x)
    check_op(lambda t: t.log_softmax(axis), lambda t: F.log_softmax(t, axis), x)
    check_fd(lambda t: sj.softmax(t, axis), randn(2, 3, 2))
    check_fd(lambda t: sj.log_softmax(t, axis), randn(2, 3, 2))


def test_softmax_is_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32)
    check_op(sj.softmax, lambda t: F.softmax(t, -1), x)
    check_op(sj.log_softmax, lambda t: F.log_softmax(t, -1), x)


LABELS = np.array([0, 2, 1, 2, 3])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy(dtype):
    check_op(lambda x: sj.softmax_cross_entropy(x, LABELS),
             lambda x: F.cross_entropy(x, torch.tensor(LABELS), reduction="none"),
             randn(5, 4, dtype=dtype))
    check_fd(lambda x: sj.softmax_cross_entropy(x, LABELS), randn(5, 4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_weight_and_ignore_index(dtype):
    w = np.array([0.5, 1.0, 2.0, 0.25], dtype)
    labels = np.array([0, -100, 1, 3, -100])
    check_op(lambda x: sj.softmax_cross_entropy(x, LABELS, weight=w),
             lambda x: F.cross_entropy(x, torch.tensor(LABELS), torch.tensor(w),
                                       reduction="none"), randn(5, 4, dtype=dtype))
    check_op(lambda x: sj.softmax_cross_entropy(x, sj.tensor(labels)),
             lambda x: F.cross_entropy(x, torch.tensor(labels), reduction="none"),
             randn(5, 4, dtype=dtype))
    check_op(lambda x: sj.softmax_cross_entropy(x, labels, weight=sj.tensor(w)),
             lambda x: F.cross_entropy(x, torch.tensor(labels), torch.tensor(w),
                                       reduction="none"), randn(5, 4, dtype=dtype))
    y = np.array([0, 3, 1, 3, 2])
    check_op(lambda x: sj.softmax_cross_entropy(x, y, weight=w, ignore_index=3),
             lambda x: F.cross_entropy(x, torch.tensor(y), torch.tensor(w), ignore_index=3,
                                       reduction="none"), randn(5, 4, dtype=dtype))
    check_fd(lambda x: sj.softmax_cross_entropy(x, labels, weight=w), randn(5, 4))


def test_softmax_cross_entropy_weight_dtype_follows_logits():
    x = sj.tensor(randn(3, 2), requires_grad=True)
    loss = sj.softmax_cross_entropy(x, np.array([0, 1, 1]), weight=sj.tensor([1.0, 2.0], "float64"))
    loss.sum().backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_softmax_cross_entropy_stable_logits():
    x = np.array([[1000.0, -1000.0], [-500.0, 500.0]], np.float32)
    check_op(lambda t: sj.softmax_cross_entropy(t, np.array([1, 0])),
             lambda t: F.cross_entropy(t, torch.tensor([1, 0]), reduction="none"), x)


def test_softmax_cross_entropy_errors():
    x = sj.randn(3, 4)
    with pytest.raises(ValueError, match=r"label 4 is outside the class range \[0, 3\]"):
        sj.softmax_cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="label -2"):
        sj.softmax_cross_entropy(x, np.array([0, -2, 1]))
    with pytest.raises(TypeError, match="integers"):
        sj.softmax_cross_entropy(x, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"logits \(N, C\) and labels \(N,\)"):
        sj.softmax_cross_entropy(x, np.array([0, 1]))


# ---------------------------------------------------------------- dropout
def test_dropout_statistics():
    sj.manual_seed(0)
    x = sj.ones(200, 100, requires_grad=True)
    y = sj.dropout(x, p=0.3)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert abs(y.numpy().mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # gradient = mask / (1-p)


def test_dropout_determinism_under_manual_seed():
    x = sj.ones(8, 8, dtype="float64")
    sj.manual_seed(42)
    a = sj.dropout(x, 0.5).numpy()
    sj.manual_seed(42)
    b = sj.dropout(x, 0.5).numpy()
    c = sj.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    assert a.dtype == np.float64


def test_dropout_eval_p0_p1_and_errors():
    x = sj.tensor(randn(3, 4))
    assert sj.dropout(x, 0.5, training=False) is x
    assert sj.dropout(x, 0.0) is x
    np.testing.assert_array_equal(sj.dropout(x, 1.0).numpy(), np.zeros((3, 4)))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            sj.dropout(x, p)


def test_dropout_fd_with_fixed_mask():
    def fn(t):
        sj.manual_seed(3)  # the same mask on every evaluation
        return sj.dropout(t, 0.4) * t
    check_fd(fn, randn(4, 5))


class _EveryDraw:
    """A stand-in generator whose uint16 draw is every value 0..65535 once: the keep share it
    yields is exactly the probability a real draw keeps with."""

    def integers(self, low, high, size, dtype):
        assert (low, high, np.dtype(dtype)) == (0, 65536, np.uint16)
        return np.arange(65536, dtype=np.uint16).reshape(size)


@pytest.mark.parametrize("p", [0.5, 0.25, 0.1, 0.3, 1 / 3, 0.9, 1e-6, 0.99999])
def test_dropout_keep_probability_within_one_in_65536(p):
    mask = dropout_mask((256, 256), p, "float32", np, generator=_EveryDraw())
    keep = (mask != 0).mean()
    assert abs(keep - (1 - p)) <= 0.5 / 65536
    assert mask.dtype == np.float32 and mask.max() == np.float32(1 / (1 - p))  # exact scale


def test_dropout_mask_from_the_seeded_generator_is_unbiased():
    sj.manual_seed(7)
    keep = (dropout_mask((1000, 1000), 0.3, "float64", np) != 0).mean()
    assert abs(keep - 0.7) < 4 * np.sqrt(0.21 / 1e6)  # 4 standard deviations
    sj.manual_seed(7)
    again = (dropout_mask((1000, 1000), 0.3, "float64", np) != 0).mean()
    assert again == keep
