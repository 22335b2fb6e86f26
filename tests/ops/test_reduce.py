"""Reductions against PyTorch (NumPy axis/keepdims/ddof semantics) and finite differences."""
import numpy as np
import pytest
import torch
from helpers import check_fd, check_op, randn

import shenjing as sj

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]


def _dims(axis, ndim=3):
    if axis is None:
        return tuple(range(ndim))
    return axis


def _torch_sum(x, axis, keepdims):
    return x.sum() if axis is None and not keepdims else x.sum(dim=_dims(axis, x.ndim),
                                                               keepdim=keepdims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
def test_sum_mean(axis, keepdims, dtype):
    x = randn(2, 3, 4, dtype=dtype)
    if axis == ():  # torch reads dim=() as "all axes"; NumPy as "no axes"
        check_op(lambda t: t.sum(axis=(), keepdims=keepdims), lambda t: t * 1, x)
        return
    check_op(lambda t: t.sum(axis, keepdims), lambda t: _torch_sum(t, axis, keepdims), x)
    check_op(lambda t: sj.mean(t, axis=axis, keepdims=keepdims),
             lambda t: t.mean(dim=_dims(axis), keepdim=keepdims), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_max_min(axis, keepdims, dtype):
    x = randn(2, 3, 4, dtype=dtype)
    check_op(lambda t: t.max(axis, keepdims),
             lambda t: t.amax(dim=_dims(axis), keepdim=keepdims), x)
    check_op(lambda t: sj.min(t, axis=axis, keepdims=keepdims),
             lambda t: t.amin(dim=_dims(axis), keepdim=keepdims), x)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_max_min_ties_share_gradient(axis):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0], [3.0, 0.0, 3.0]], np.float32)
    check_op(lambda t: t.max(axis), lambda t: t.amax(dim=_dims(axis, 2)), x)
    check_op(lambda t: t.min(axis), lambda t: t.amin(dim=_dims(axis, 2)), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 1, -1, (0, 2)])
def test_var_std(axis, keepdims, ddof, dtype):
    x = randn(2, 3, 4, dtype=dtype)
    kw = dict(dim=_dims(axis), keepdim=keepdims, correction=ddof)
    check_op(lambda t: t.var(axis, keepdims, ddof), lambda t: torch.var(t, **kw), x)
    check_op(lambda t: sj.std(t, axis=axis, keepdims=keepdims, ddof=ddof),
             lambda t: torch.std(t, **kw), x)


def test_var_default_is_numpy_ddof0():
    x = randn(5, 3)
    np.testing.assert_allclose(sj.var(sj.tensor(x)).numpy(), np.var(x), rtol=1e-6)
    np.testing.assert_allclose(sj.std(sj.tensor(x), axis=0).numpy(), np.std(x, axis=0), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_logsumexp(axis, keepdims, dtype):
    x = randn(2, 3, 4, dtype=dtype)
    check_op(lambda t: t.logsumexp(axis, keepdims),
             lambda t: torch.logsumexp(t, dim=_dims(axis), keepdim=keepdims), x)


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], np.float32)
    check_op(lambda t: sj.logsumexp(t, axis=1), lambda t: torch.logsumexp(t, dim=1), x)


@pytest.mark.parametrize("fn", [
    lambda t: t.sum(axis=1), lambda t: sj.mean(t, axis=(0, 1), keepdims=True),
    lambda t: t.max(axis=0), lambda t: t.min(), lambda t: t.var(axis=1, ddof=1),
    lambda t: t.std(axis=0), lambda t: sj.logsumexp(t, axis=-1),
], ids=["sum", "mean", "max", "min", "var", "std", "logsumexp"])
def test_reduce_fd(fn):
    check_fd(fn, randn(3, 4, seed=11))  # distinct values: no ties for max/min


def test_int_reductions():
    i = sj.tensor([[1, 2], [3, 4]])
    assert i.sum().dtype == np.int64 and i.sum().item() == 10
    assert i.mean().dtype == np.float32 and i.mean().item() == 2.5
    assert i.max(axis=0).tolist() == [3, 4]


def test_argmax_any_all_not_differentiable():
    x = sj.tensor(randn(3, 4), requires_grad=True)
    for y in (x.argmax(axis=1), x.argmin(), (x > 0).any(axis=0), (x > 0).all()):
        assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), np.argmax(x.numpy(), axis=1))


def test_bad_axis_raises():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        sj.sum(sj.ones(2, 3), axis=3)
