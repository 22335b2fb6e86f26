"""Merge layers called on lists: values and gradients against torch, shape errors, and the
residual-block example of ``shenjing.nn.merge`` run as written."""
import re
import textwrap

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn
from shenjing.nn import merge


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def compare(layer, torch_fn, arrays):
    xs = [sj.tensor(a, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = layer(xs), torch_fn(txs)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    g = rand(*y.shape, seed=9)
    (y * sj.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    for x, tx in zip(xs, txs):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert layer.output_shape == y.shape


@pytest.mark.parametrize("layer,fn", [
    (nn.Add(), lambda ts: ts[0] + ts[1] + ts[2]),
    (nn.Multiply(), lambda ts: ts[0] * ts[1] * ts[2]),
    (nn.Average(), lambda ts: (ts[0] + ts[1] + ts[2]) / 3),
    (nn.Maximum(), lambda ts: torch.maximum(torch.maximum(ts[0], ts[1]), ts[2])),
    (nn.Minimum(), lambda ts: torch.minimum(torch.minimum(ts[0], ts[1]), ts[2])),
])
def test_elementwise_merges_match_torch(layer, fn):
    compare(layer, fn, [rand(2, 3, 4, seed=i) for i in range(3)])


def test_subtract_and_broadcasting():
    compare(nn.Subtract(), lambda ts: ts[0] - ts[1], [rand(2, 3, 4), rand(2, 3, 4, seed=1)])
    compare(nn.Add(), lambda ts: ts[0] + ts[1], [rand(2, 3, 4, 4), rand(1, 3, 1, 1, seed=1)])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        nn.Subtract()([sj.zeros(2), sj.zeros(2), sj.zeros(2)])


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_concatenate_matches_torch(axis):
    shapes = {1: [(2, 3, 4), (2, 5, 4)], -1: [(2, 3, 4), (2, 3, 1)], 0: [(1, 3, 4), (2, 3, 4)]}
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes[axis])]
    compare(nn.Concatenate(axis=axis), lambda ts: torch.cat(ts, dim=axis), arrays)


def test_accepts_numpy_arrays_and_tuples():
    a, b = rand(2, 3), rand(2, 3, seed=1)
    np.testing.assert_allclose(nn.Add()((a, b)).numpy(), a + b)


def test_errors_name_layer_and_shapes():
    with pytest.raises(ValueError, match=re.escape(
            "Add 'add_x' expects inputs of the same (or broadcastable) shape, got shapes "
            "(8, 3), (8, 4)")):
        nn.Add(name="add_x")([sj.zeros((8, 3)), sj.zeros((8, 4))])
    with pytest.raises(ValueError, match=re.escape(
            "Concatenate 'cat' expects inputs whose shapes match except on axis 1, got shapes "
            "(2, 3, 4), (2, 3, 5)")):
        nn.Concatenate(name="cat")([sj.zeros((2, 3, 4)), sj.zeros((2, 3, 5))])
    with pytest.raises(ValueError, match="Concatenate 'cat2' expects inputs whose shapes"):
        nn.Concatenate(name="cat2")([sj.zeros((2, 3, 4)), sj.zeros((2, 3))])
    with pytest.raises(TypeError, match=r"Multiply 'm' expects a list of tensors, e\.g\. "
                                        r"layer\(\[a, b\]\), got a single Tensor of shape"):
        nn.Multiply(name="m")(sj.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least 1 inputs"):
        nn.Add()([])


def test_concatenate_config():
    layer = nn.Concatenate(axis=-1)
    assert layer.get_config()["axis"] == -1
    assert nn.Concatenate.from_config({**layer.get_config(), "name": "c2"}).axis == -1


def test_residual_block_example_trains():
    source = merge.__doc__.split(".. code-block:: python")[1]
    namespace = {}
    exec(compile(textwrap.dedent(source), "merge-docstring", "exec"), namespace)
    losses = namespace["history"].history["loss"]
    assert len(losses) == 2 and losses[1] < losses[0]
    model = namespace["model"]
    block = model.layers[1]
    assert block.add.output_shape == (16, 8, 8, 8)
    assert any(name.startswith("layers.1.bn1.") for name, _ in model.named_parameters())
    lines = []
    model.summary(print_fn=lines.append)
    assert any("ResidualBlock" in line and "(None, 8, 8, 8)" in line for line in lines)
