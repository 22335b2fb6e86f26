"""The backward pass: accumulation, graph reuse and freeing, hooks, grad modes, errors."""
import numpy as np
import pytest
import torch
from helpers import randn

import shenjing as sj


def leaf(*shape, seed=0, dtype="float32"):
    return sj.tensor(randn(*shape, seed=seed, dtype=dtype), requires_grad=True)


def test_gradients_accumulate_across_backward_calls_like_torch():
    x = leaf(3)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    for _ in range(2):
        (x * x).sum().backward()
        (xt * xt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy(), rtol=1e-6)
    x.zero_grad()
    assert x.grad is None


def test_reused_node_gets_sum_of_gradients():
    x = leaf(4)
    (x * x).sum().backward()  # x appears twice in one node
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)
    x.grad = None
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(4, 2, np.float32))


def test_two_branches_and_diamond_match_torch():
    x = leaf(2, 3)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    for t, lib in ((x, sj), (xt, torch)):
        y = t * 2
        z = lib.exp(t) + t * 3 + y * y - y.sum()  # x via three paths, y via two
        z.mean().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def test_long_chain_has_no_recursion_error():
    x = leaf(2)
    y = x
    for _ in range(10_000):
        y = y + 1e-4
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(2, np.float32))
    y = x
    for _ in range(5_000):
        y = y * 1.0001 - 1e-4
    y.sum().backward(retain_graph=True)
    del y  # deep graph is collected without recursion trouble


def test_second_backward_through_freed_graph_raises():
    x = leaf(3)
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(3)
    loss = (x.exp() * 2).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(x.numpy()), rtol=1e-6)


def test_graph_is_freed_after_backward():
    x = leaf(3)
    y = x * x
    assert y.grad_fn.saved is not None
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved is not None
    y.sum().backward()
    assert y.grad_fn.saved is None


def test_backward_on_non_scalar_names_the_shape():
    y = leaf(2, 3) * 2
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        y.backward()


def test_backward_with_grad_argument():
    x = leaf(2, 3)
    g = randn(2, 3, seed=5)
    (x * 3).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 3 * g, rtol=1e-6)
    x.grad = None
    (x * 3).backward(sj.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), 3 * g, rtol=1e-6)


def test_backward_with_wrong_shaped_grad_raises():
    y = leaf(2, 3) * 2
    with pytest.raises(ValueError, match=r"grad of shape \(3, 2\).*shape \(2, 3\)"):
        y.backward(np.ones((3, 2), np.float32))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (sj.ones(2) * 2).sum().backward()


def test_no_grad_context():
    x = leaf(3)
    with sj.no_grad():
        y = x * 2 + x.exp()
        assert not sj.is_grad_enabled()
    assert sj.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert (x * 2).requires_grad


def test_no_grad_decorator():
    @sj.no_grad()
    def f(t):
        return t * 2

    @sj.no_grad
    def g(t):
        return t * 3

    x = leaf(3)
    for fn in (f, g):
        y = fn(x)
        assert not y.requires_grad and y.grad_fn is None
    assert sj.is_grad_enabled()


def test_no_grad_restores_state_on_exception_and_nests():
    with pytest.raises(ZeroDivisionError), sj.no_grad():
        _ = 1 / 0
    assert sj.is_grad_enabled()
    with sj.no_grad():
        with sj.enable_grad():
            assert (leaf(2) * 2).requires_grad
        assert not sj.is_grad_enabled()


def test_requires_grad_():
    x = sj.tensor([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.requires_grad = False
    assert not x.requires_grad
    with pytest.raises(RuntimeError, match="detach"):
        (leaf(2) * 2).requires_grad_(False)


def test_detach():
    x = leaf(3)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    (x * d).sum().backward()  # d is a constant
    np.testing.assert_allclose(x.grad.numpy(), d.numpy(), rtol=1e-6)
    assert np.shares_memory(x.detach().numpy(), x.numpy())


@pytest.mark.parametrize("data", [[1, 2], [True, False]])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating-point"):
        sj.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        sj.tensor(data).requires_grad_()


def test_ops_on_non_grad_inputs_record_nothing():
    x, c = leaf(3), sj.ones(3)
    assert not (c * 2).requires_grad and (c * 2).grad_fn is None
    y = x * c
    assert y.requires_grad and y.grad_fn.needs_grad == (True, False)
    y.sum().backward()
    assert c.grad is None


def test_retain_grad_on_non_leaf():
    x = leaf(3)
    y = x * 2
    z = y * 3
    assert y.retain_grad() is y
    (z * z).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 18 * y.numpy(), rtol=1e-6)
    assert z.grad is None  # not retained
    np.testing.assert_allclose(x.grad.numpy(), 36 * y.numpy(), rtol=1e-6)


def test_register_hook_modifies_gradient():
    x = leaf(3)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 2)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], np.full(3, 3, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 6, np.float32))
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 3, np.float32))


def test_hook_on_non_leaf_changes_upstream_gradient():
    x = leaf(3)
    y = x * 2
    y.register_hook(lambda g: g * 0)
    (y * 5 + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3, np.float32))


def test_leaf_grads_are_independent_arrays():
    a, b = leaf(3), leaf(3, seed=1)
    (a + b).backward(np.ones(3, np.float32))  # Add hands the same array to both inputs
    a.grad.data *= 10  # in-place change to one grad (e.g. clipping) must not leak
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))
    g = np.ones(3, np.float32)
    c = leaf(3)
    c.backward(g)
    c.grad.data += 1
    np.testing.assert_array_equal(g, np.ones(3, np.float32))


def test_retained_and_leaf_grads_do_not_alias():
    x = leaf(2, 3)
    y = (x * 2).retain_grad()
    (y + x + x.T.T).backward(np.ones((2, 3), np.float32))
    assert not np.shares_memory(y.grad.numpy(), x.grad.numpy())
    y.grad.data[...] = 100
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4, np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_dtype_matches_leaf(dtype):
    x = leaf(2, 3, dtype=dtype)
    (x * 0.5 + 1).sum().backward()
    assert x.grad.dtype == np.dtype(dtype) and x.grad.shape == (2, 3)
    assert not x.grad.requires_grad and x.grad.grad_fn is None


def test_broadcast_leaf_grad_reduced_to_its_shape():
    b = leaf(1, 3)
    (leaf(4, 3, seed=1) + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), np.full((1, 3), 4, np.float32))
