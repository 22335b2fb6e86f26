"""matmul and affine against PyTorch, plus finite differences."""
import pytest
import torch
from helpers import check_fd, check_op, randn

import shenjing as sj

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]
SHAPES = {
    "vec_vec": ((4,), (4,)),
    "vec_mat": ((4,), (4, 3)),
    "mat_vec": ((2, 4), (4,)),
    "mat_mat": ((2, 4), (4, 3)),
    "batched": ((5, 2, 4), (5, 4, 3)),
    "batch_mat": ((5, 2, 4), (4, 3)),
    "vec_batch": ((4,), (5, 4, 3)),
    "batch_vec": ((5, 2, 4), (4,)),
    "broadcast_batch": ((2, 1, 3, 4), (5, 4, 2)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SHAPES)
def test_matmul(name, dtype):
    a, b = SHAPES[name]
    check_op(sj.matmul, torch.matmul, randn(*a, dtype=dtype), randn(*b, dtype=dtype, seed=1))


@pytest.mark.parametrize("name", ["vec_vec", "mat_vec", "batched", "broadcast_batch"])
def test_matmul_fd(name):
    a, b = SHAPES[name]
    check_fd(lambda x, y: x @ y, randn(*a), randn(*b, seed=1))


def test_matmul_operator_and_numpy_left(op_device):
    if op_device != "cpu":
        pytest.skip("a NumPy operand is host data: with a device tensor that is an error "
                    "(tests/test_device.py)")
    x, w = randn(2, 3), randn(3, 4, seed=1)
    check_op(lambda t: t @ w, lambda t: t @ torch.tensor(w), x)
    check_op(lambda t: x @ t, lambda t: torch.tensor(x) @ t, w)


def test_matmul_shape_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 2\) do not align"):
        sj.matmul(sj.ones(2, 3), sj.ones(4, 2))
    with pytest.raises(ValueError, match="at least one dimension"):
        sj.matmul(sj.tensor(2.0), sj.ones(2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
def test_affine(x_shape, dtype):
    x, w, b = randn(*x_shape, dtype=dtype), randn(4, 5, dtype=dtype, seed=1), randn(
        5, dtype=dtype, seed=2)
    check_op(sj.affine, lambda x_, w_, b_: x_ @ w_ + b_, x, w, b)
    check_op(sj.affine, torch.matmul, x, w)


def test_affine_fd_and_partial_grads():
    check_fd(sj.affine, randn(2, 3, 4), randn(4, 2, seed=1), randn(2, seed=2))
    x = sj.tensor(randn(3, 4))  # no grad wanted for the input
    w = sj.tensor(randn(4, 2, seed=1), requires_grad=True)
    sj.affine(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 2)


def test_affine_shape_error():
    with pytest.raises(ValueError, match="3 features do not match a weight of shape"):
        sj.affine(sj.ones(2, 3), sj.ones(4, 5))
