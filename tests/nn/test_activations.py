"""Activations, functional and layer forms, against torch.nn.functional (values and grads)."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import shenjing as sj
from shenjing import nn
from shenjing.nn import activations
from shenjing.nn import functional as F

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}

# (id, shenjing callable, torch callable)
FUNCTIONAL = [
    ("relu", F.relu, TF.relu),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("elu", F.elu, TF.elu),
    ("elu_0.5", lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
    ("selu", F.selu, TF.selu),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"),
     lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu),
    ("swish", F.swish, TF.silu),
    ("softplus", F.softplus, TF.softplus),
    ("softmax", F.softmax, lambda x: TF.softmax(x, dim=-1)),
    ("softmax_axis0", lambda x: F.softmax(x, axis=0), lambda x: TF.softmax(x, dim=0)),
    ("log_softmax", F.log_softmax, lambda x: TF.log_softmax(x, dim=-1)),
]

LAYERS = [
    ("ReLU", nn.ReLU, TF.relu),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("LeakyReLU_default", nn.LeakyReLU, TF.leaky_relu),
    ("ELU", lambda: nn.ELU(0.7), lambda x: TF.elu(x, 0.7)),
    ("SELU", nn.SELU, TF.selu),
    ("GELU", nn.GELU, TF.gelu),
    ("GELU_tanh", lambda: nn.GELU("tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("Sigmoid", nn.Sigmoid, torch.sigmoid),
    ("Tanh", nn.Tanh, torch.tanh),
    ("SiLU", nn.SiLU, TF.silu),
    ("Softplus", nn.Softplus, TF.softplus),
    ("Softmax", lambda: nn.Softmax(axis=0), lambda x: TF.softmax(x, dim=0)),
    ("LogSoftmax", nn.LogSoftmax, lambda x: TF.log_softmax(x, dim=-1)),
]

BY_NAME = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": TF.relu, "leaky_relu": TF.leaky_relu,
    "elu": TF.elu, "selu": TF.selu, "gelu": TF.gelu, "swish": TF.silu, "silu": TF.silu,
    "softplus": TF.softplus, "softmax": lambda x: TF.softmax(x, -1),
    "log_softmax": lambda x: TF.log_softmax(x, -1), "linear": lambda x: x,
}


def check(fn, tfn, x_np):
    """Same input and upstream gradient into both; compare output and input gradient."""
    dtype = x_np.dtype.type
    g_np = np.random.default_rng(1).standard_normal(x_np.shape).astype(dtype)
    x = sj.tensor(x_np, requires_grad=True)
    y = fn(x)
    (y * sj.tensor(g_np)).sum().backward()
    tx = torch.tensor(x_np, requires_grad=True)
    ty = tfn(tx)
    ty.backward(torch.tensor(g_np))
    assert y.dtype == x_np.dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,tfn", FUNCTIONAL, ids=[f[0] for f in FUNCTIONAL])
def test_functional_matches_torch(name, fn, tfn, dtype):
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(dtype) * 3
    check(fn, tfn, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,make,tfn", LAYERS, ids=[f[0] for f in LAYERS])
def test_layers_match_torch(name, make, tfn, dtype):
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(dtype) * 3
    layer = make()
    assert isinstance(layer, nn.Module) and not list(layer.parameters())
    check(layer, tfn, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_registry_names_match_torch(name, dtype):
    x = np.random.default_rng(3).standard_normal((3, 5)).astype(dtype)
    check(activations.get(name), BY_NAME[name], x)


EXTREMES = [-1000.0, -80.0, -20.0, -1.5, 0.5, 1.5, 20.0, 80.0, 1000.0]
EXTREME_CASES = FUNCTIONAL + LAYERS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,tfn", EXTREME_CASES, ids=[f[0] for f in EXTREME_CASES])
def test_extreme_inputs_no_overflow(name, fn, tfn, dtype):
    if name[0].isupper():  # a layer factory
        fn = fn()
    x_np = np.array([EXTREMES, EXTREMES[::-1]], dtype=dtype)
    # Overflow, 0/0 and inf-inf are bugs; underflow (e^-2000 → 0) is the right answer.
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise",
                                                invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        x = sj.tensor(x_np, requires_grad=True)
        y = fn(x)
        y.sum().backward()
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))
    tx = torch.tensor(x_np, requires_grad=True)
    tfn(tx).sum().backward()
    np.testing.assert_allclose(y.numpy(), tfn(torch.tensor(x_np)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_get_identity_and_callables():
    x = sj.tensor([1.0, -2.0])
    assert activations.get(None) is activations.get("linear")
    assert activations.get(None)(x) is x
    assert activations.get("ReLU") is sj.ops.relu  # case-insensitive
    fn = lambda t: t * 2  # noqa: E731
    assert activations.get(fn) is fn
    layer = nn.ReLU()
    assert activations.get(layer) is layer


def test_get_unknown_lists_valid_names():
    with pytest.raises(ValueError) as e:
        activations.get("relu6")
    msg = str(e.value)
    assert "'relu6'" in msg
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish",
                 "silu", "softplus", "softmax", "log_softmax", "linear"):
        assert name in msg
    with pytest.raises(TypeError):
        activations.get(3)


def test_serialize_round_trip():
    for name in ("relu", "softmax", "linear", "silu"):
        assert activations.serialize(activations.get(name)) == name
    assert activations.get(activations.serialize(activations.get("swish"))) is sj.ops.silu


def test_layer_argument_validation_and_repr():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="negative_slope"):
        nn.LeakyReLU(-1)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert nn.Softmax(axis=1).get_config()["axis"] == 1


def test_functional_dropout_and_linear():
    x = sj.randn(8, 5)
    assert F.dropout(x, 0.5, training=False) is x
    w = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal(3).astype(np.float32)
    got = F.linear(x, sj.tensor(w), sj.tensor(b)).numpy()
    want = TF.linear(torch.tensor(x.numpy()), torch.tensor(w), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.linear(x, sj.tensor(w)).numpy(), x.numpy() @ w.T, rtol=1e-5)
    with pytest.raises(ValueError, match="weight of shape"):
        F.linear(x, sj.tensor(w.T))


def test_functional_exports_losses():
    from shenjing import losses

    for name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
                 "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"):
        assert getattr(F, name) is getattr(losses, name)
    x = sj.tensor([[2.0, -1.0, 0.5]], requires_grad=True)
    loss = F.cross_entropy(x, sj.tensor([0]))
    want = TF.cross_entropy(torch.tensor(x.numpy()), torch.tensor([0]))
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-6)
