"""Elementwise ops against PyTorch (values, dtypes, gradients) and finite differences."""
import numpy as np
import pytest
import torch
from helpers import check_fd, check_op, randn
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import shenjing as sj

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]
BINARY = {
    "add": (sj.add, torch.add),
    "sub": (sj.sub, torch.sub),
    "mul": (sj.mul, torch.mul),
    "div": (sj.div, torch.div),
    "maximum": (sj.maximum, torch.maximum),
    "minimum": (sj.minimum, torch.minimum),
    "pow": (lambda a, b: abs(a) ** b, lambda a, b: a.abs() ** b),
}
UNARY = {  # name: (sj, torch, shift making the input valid and away from kinks)
    "neg": (sj.neg, torch.neg, None),
    "exp": (sj.exp, torch.exp, None),
    "log": (sj.log, torch.log, 0.5),
    "sqrt": (sj.sqrt, torch.sqrt, 0.5),
    "abs": (sj.abs, torch.abs, None),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BINARY)
def test_binary(name, dtype):
    check_op(*BINARY[name], randn(3, 4, dtype=dtype, seed=1, low=0.2 if name == "div" else None),
             randn(3, 4, dtype=dtype, seed=2, low=0.5 if name in ("div", "pow") else None))


@pytest.mark.parametrize("s", [2.0, 3])
@pytest.mark.parametrize("name", BINARY)
def test_binary_with_python_scalar(name, s):
    sj_fn, t_fn = BINARY[name]
    x = randn(2, 3, low=0.5)
    check_op(lambda a: sj_fn(a, s), lambda a: t_fn(a, torch.tensor(s, dtype=a.dtype)), x)
    if name != "pow":
        check_op(lambda a: sj_fn(s, a), lambda a: t_fn(torch.tensor(s, dtype=a.dtype), a), x)


@pytest.mark.parametrize("name", BINARY)
def test_binary_fd(name):
    check_fd(BINARY[name][0], randn(3, 1, seed=3, low=0.5), randn(4, seed=4, low=1.0))


@settings(max_examples=25, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       name=st.sampled_from(sorted(BINARY)), dtype=st.sampled_from(DTYPES))
def test_binary_broadcasting(shapes, name, dtype):
    a, b = shapes.input_shapes
    check_op(*BINARY[name], randn(*a, dtype=dtype, seed=5, low=0.5),
             randn(*b, dtype=dtype, seed=6, low=0.5))


def test_operators_match_functions():
    a, b = sj.tensor(randn(2, 3, low=1)), sj.tensor(randn(2, 3, seed=1, low=1))
    for op, fn in [("__add__", sj.add), ("__sub__", sj.sub), ("__mul__", sj.mul),
                   ("__truediv__", sj.div), ("__pow__", sj.pow)]:
        np.testing.assert_array_equal(getattr(a, op)(b).numpy(), fn(a, b).numpy())
    np.testing.assert_array_equal((-a).numpy(), -a.numpy())
    np.testing.assert_array_equal((1 - a).numpy(), 1 - a.numpy())
    np.testing.assert_allclose((2 / a).numpy(), 2 / a.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_unary(name, dtype):
    sj_fn, t_fn, low = UNARY[name]
    check_op(sj_fn, t_fn, randn(3, 4, dtype=dtype, low=low))
    check_fd(sj_fn, randn(2, 3, low=low if low else 0.1))  # abs: away from the kink at 0


def test_abs_gradient_at_zero_is_zero():
    check_op(sj.abs, torch.abs, np.array([-1.0, 0.0, 2.0], np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -2.5, 0])
def test_pow_tensor_scalar(p, dtype):
    check_op(lambda x: x ** p, lambda x: x ** p, randn(3, 4, dtype=dtype, low=0.5))
    check_fd(lambda x: x ** p, randn(3, low=0.5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow_scalar_tensor(dtype):
    check_op(lambda x: 2.0 ** x, lambda x: 2.0 ** x, randn(3, 4, dtype=dtype))
    check_op(lambda x: sj.pow(3.0, x), lambda x: torch.pow(3.0, x), randn(3, dtype=dtype))
    check_fd(lambda x: 2.5 ** x, randn(4))


def test_pow_tensor_tensor():
    check_op(sj.pow, torch.pow, randn(3, 4, low=0.5), randn(4, seed=1))
    check_fd(sj.pow, randn(2, 3, low=0.5), randn(2, 3, seed=1))


def test_pow_zero_exponent_has_zero_gradient_at_zero():
    check_op(lambda x: x ** 0, lambda x: x ** 0, np.array([0.0, -1.0, 2.0], np.float32))


def test_pow_negative_base_integer_exponent():
    check_op(lambda x: x ** 3, lambda x: x ** 3, randn(5))
    check_op(lambda x: x ** 2, lambda x: x ** 2, randn(5))


def test_pow_int_tensor():
    x = sj.arange(1, 4)
    assert (x ** 2).dtype == np.int64 and (x ** 2).tolist() == [1, 4, 9]
    assert (x ** 0.5).dtype == np.float32
    assert (x ** -1).dtype == np.float32


@pytest.mark.parametrize("fns", [(sj.maximum, torch.maximum), (sj.minimum, torch.minimum)])
def test_max_min_ties_split_gradient(fns):
    a = np.array([1.0, 2.0, 3.0, -1.0], np.float32)
    b = np.array([1.0, 0.0, 3.0, 5.0], np.float32)
    check_op(*fns, a, b)
    check_op(*fns, a[:, None], np.float32([[2.0]]).reshape(1, 1))  # broadcast ties


@pytest.mark.parametrize("dtype", DTYPES)
def test_where(dtype):
    cond = randn(3, 4, seed=7) > 0
    check_op(lambda a, b: sj.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
             randn(3, 4, dtype=dtype), randn(4, dtype=dtype, seed=1))
    check_op(lambda a: sj.where(sj.tensor(cond), a, 0.0),
             lambda a: torch.where(torch.tensor(cond), a, 0.0), randn(3, 4, dtype=dtype))
    check_fd(lambda a, b: sj.where(cond, a, b), randn(3, 4), randn(3, 1, seed=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip(dtype):
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], dtype)  # includes both boundaries
    check_op(lambda t: sj.clip(t, -1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0), x)
    check_op(lambda t: sj.clip(t, min=0.0), lambda t: torch.clamp(t, min=0.0), x)
    check_op(lambda t: t.clip(max=0.5), lambda t: torch.clamp(t, max=0.5), x)
    check_fd(lambda t: sj.clip(t, -1.0, 1.0), np.array([-1.7, -0.3, 0.4, 1.6]))


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="min"):
        sj.clip(sj.ones(2), None, None)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_do_not_upcast(dtype):
    x = sj.ones(3, dtype=dtype)
    for y in (x + 1.5, 1.5 + x, x * 2, x / 3.0, 2.0 - x, x ** 2.0, 2.0 ** x, sj.maximum(x, 0.5),
              sj.where(x > 0, x, 0.0), sj.exp(x), x.clip(0.0, 1.0)):
        assert y.dtype == np.dtype(dtype)


def test_int_tensor_with_float_scalar_gives_float32():
    i = sj.tensor([1, 2, 3])
    assert i.dtype == np.int64
    assert (i + 0.5).dtype == np.float32
    assert (0.5 * i).dtype == np.float32
    assert (i + 1).dtype == np.int64
    assert (i / 2).dtype == np.float32  # true division
    assert sj.exp(i).dtype == np.float32 and sj.sqrt(i).dtype == np.float32


def test_float64_tensor_with_float32_tensor_promotes_like_numpy_and_torch():
    a, b = sj.ones(2, dtype="float32"), sj.ones(2, dtype="float64")
    assert (a + b).dtype == np.float64 == _torch_np(torch.ones(2) + torch.ones(2).double())


def _torch_np(t):
    return np.dtype(str(t.dtype).removeprefix("torch."))


def test_cast_gradient_returns_to_input_dtype():
    x = sj.tensor(randn(3), requires_grad=True)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2, np.float32))
