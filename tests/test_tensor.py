"""Tensor creation, properties, conversion, comparisons, operators and printing."""
import operator

import numpy as np
import pytest
from helpers import randn

import shenjing as sj


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], np.float32), ([[1, 2], [3, 4]], np.int64), (3.5, np.float32), (2, np.int64),
    ([1, 2.5], np.float32), ([True, False], np.bool_), (np.float64(1.5), np.float64),
    (np.array([1, 2], np.int32), np.int32), (np.array([1.0], np.float16), np.float16),
])
def test_tensor_dtype_inference(data, dtype):
    t = sj.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


def test_tensor_from_numpy_keeps_dtype_and_copies():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = sj.tensor(a)
    assert t.dtype == np.float64 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t.numpy()[0, 0] == 0
    shared = sj.from_numpy(a)
    a[0, 1] = 7
    assert shared.numpy()[0, 1] == 7
    assert sj.tensor(a, dtype="float32").dtype == np.float32
    assert sj.tensor(t).dtype == np.float64


def test_tensor_rejects_mixed_data():
    with pytest.raises((TypeError, ValueError)):
        sj.tensor([1, "a", None])


@pytest.mark.parametrize("make, shape, dtype, value", [
    (lambda: sj.zeros(2, 3), (2, 3), np.float32, 0),
    (lambda: sj.zeros((2, 3), dtype="float64"), (2, 3), np.float64, 0),
    (lambda: sj.ones(4), (4,), np.float32, 1),
    (lambda: sj.ones((2, 2), dtype=sj.int64), (2, 2), np.int64, 1),
    (lambda: sj.full((2, 3), 1.5), (2, 3), np.float32, 1.5),
    (lambda: sj.full(3, 7), (3,), np.int64, 7),
    (lambda: sj.zeros_like(sj.ones(2, 2, dtype="float64")), (2, 2), np.float64, 0),
    (lambda: sj.ones_like(sj.tensor([1, 2])), (2,), np.int64, 1),
])
def test_constant_creation(make, shape, dtype, value):
    t = make()
    assert t.shape == shape and t.dtype == dtype
    assert np.all(t.numpy() == value)


def test_arange_linspace_eye():
    assert sj.arange(5).tolist() == [0, 1, 2, 3, 4] and sj.arange(5).dtype == np.int64
    assert sj.arange(1, 7, 2).tolist() == [1, 3, 5]
    a = sj.arange(0.0, 1.0, 0.25)
    assert a.dtype == np.float32 and a.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert sj.arange(3, dtype="float64").dtype == np.float64
    lin = sj.linspace(0, 1, 5)
    assert lin.dtype == np.float32 and lin.shape == (5,)
    np.testing.assert_allclose(lin.numpy(), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(sj.eye(3).numpy(), np.eye(3, dtype=np.float32))
    assert sj.eye(2, 4).shape == (2, 4)


def test_random_creation():
    sj.manual_seed(0)
    n, u = sj.randn(400, 50), sj.rand(400, 50)
    assert n.dtype == np.float32 and u.dtype == np.float32 and n.shape == (400, 50)
    assert abs(n.numpy().mean()) < 0.02 and abs(n.numpy().std() - 1) < 0.02
    assert u.numpy().min() >= 0 and u.numpy().max() < 1 and abs(u.numpy().mean() - 0.5) < 0.01
    r = sj.randint(2, 5, size=(1000,))
    assert r.dtype == np.int64 and set(r.tolist()) == {2, 3, 4}
    assert sj.randint(3, size=4).numpy().max() < 3
    assert sj.randn(2, dtype="float64").dtype == np.float64
    assert sj.randn(2, 2, requires_grad=True).requires_grad


def test_manual_seed_repeats():
    sj.manual_seed(123)
    a = (sj.randn(3, 4).numpy(), sj.rand(5).numpy(), sj.randint(0, 100, size=6).numpy())
    sj.manual_seed(123)
    b = (sj.randn(3, 4).numpy(), sj.rand(5).numpy(), sj.randint(0, 100, size=6).numpy())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(sj.randn(3, 4).numpy(), a[0])
    with pytest.raises(ValueError, match="non-negative int"):
        sj.manual_seed(-1)


def test_properties():
    t = sj.tensor(randn(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float32 and len(t) == 2
    assert t.size == 6 and t.numel() == 6 and t.dim() == 2 and t.device == "cpu"
    assert t.T.shape == (3, 2) and t.is_leaf
    np.testing.assert_array_equal(t.T.numpy(), t.numpy().T)
    assert isinstance(t.numpy(), np.ndarray) and t.tolist() == t.numpy().tolist()
    s = sj.tensor([[2.5]])
    assert s.item() == 2.5 and isinstance(s.item(), float) and float(s) == 2.5
    assert sj.tensor(3).item() == 3 and isinstance(sj.tensor(3).item(), int)
    with pytest.raises(ValueError, match=r"one element, got shape \(2, 3\)"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(sj.tensor(1.0))
    assert np.asarray(t).dtype == np.float32


def test_bool_of_tensor():
    assert bool(sj.tensor([1.0])) and not bool(sj.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(sj.ones(2))


@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparisons_are_bool_and_not_differentiable(op):
    x = sj.tensor(randn(3, 4), requires_grad=True)
    y = sj.tensor(randn(3, 4, seed=1))
    for other in (y, 0.0, randn(4, seed=2)):
        r = getattr(x, op)(other)
        assert r.dtype == np.bool_ and not r.requires_grad and r.grad_fn is None
        expected = getattr(x.numpy(), op)(other.numpy() if isinstance(other, sj.Tensor)
                                          else other)
        np.testing.assert_array_equal(r.numpy(), expected)


def test_logical_ops():
    a, b = sj.tensor([True, False, True]), sj.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (~a).tolist() == [False, True, False]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "matmul", "pow"])
def test_numpy_array_on_the_left_gives_tensor(op):
    a = randn(3, 3, low=0.5)
    t = sj.tensor(randn(3, 3, seed=1, low=0.5), requires_grad=True)
    r = getattr(operator, op)(a, t)
    assert isinstance(r, sj.Tensor) and r.requires_grad and r.dtype == np.float32
    np.testing.assert_allclose(r.numpy(), getattr(operator, op)(a, t.numpy()), rtol=1e-6)
    r.sum().backward()
    assert t.grad.shape == (3, 3)


def test_python_scalar_on_the_left():
    t = sj.tensor([1.0, 2.0])
    assert (1 + t).tolist() == [2.0, 3.0] and (1 - t).tolist() == [0.0, -1.0]
    assert (2 * t).tolist() == [2.0, 4.0] and (2 / t).tolist() == [2.0, 1.0]
    assert (2 ** t).tolist() == [2.0, 4.0]


def test_repr():
    assert repr(sj.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(sj.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=float64" in repr(sj.tensor([1.0], dtype="float64"))
    assert "dtype=int32" in repr(sj.tensor(np.array([1], np.int32)))
    x = sj.tensor([1.0], requires_grad=True)
    assert repr(x) == "tensor([1.], requires_grad=True)"
    assert "grad_fn=<Mul>" in repr(x * 2)
    assert "..." in repr(sj.zeros(1000))


def test_astype_float_double_long():
    x = sj.tensor([1.7, -2.2])
    assert x.double().dtype == np.float64 and x.astype("float64").dtype == np.float64
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    i = sj.tensor([1, 2])
    assert i.float().dtype == np.float32 and i.float().tolist() == [1.0, 2.0]
    assert x.astype(np.float32) is x  # no copy when nothing changes
    g = sj.tensor([1.5], requires_grad=True)
    assert g.double().requires_grad and not g.long().requires_grad


def test_setitem():
    x = sj.zeros(2, 3)
    x[0, 1] = 5.0
    x[1] = sj.tensor([1.0, 2.0, 3.0])
    assert x.tolist() == [[0.0, 5.0, 0.0], [1.0, 2.0, 3.0]]
    w = sj.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place assignment.*no_grad"):
        w[0] = 1.0
    with sj.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0, 0.0]


def test_clone_and_index_conversions():
    x = sj.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None
    assert not np.shares_memory(c.numpy(), x.numpy())
    assert [10, 20, 30][sj.tensor(1)] == 20
    assert int(sj.tensor([3])) == 3
