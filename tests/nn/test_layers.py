"""Core layers against their torch counterparts (weights copied), plus their own contracts."""
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
TORCH_DT = {np.float32: torch.float32, np.float64: torch.float64}


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 5)])
@pytest.mark.parametrize("activation,tact", [(None, lambda y: y), ("relu", torch.relu),
                                             ("tanh", torch.tanh)])
def test_dense_matches_torch_linear(dtype, shape, activation, tact):
    layer = nn.Dense(4, activation=activation, dtype=dtype)
    x_np = rand(*shape, dtype=dtype)
    x = sj.tensor(x_np, requires_grad=True)
    y = layer(x)
    assert layer.kernel.shape == (5, 4) and layer.bias.shape == (4,)  # Keras layout (in, out)
    ref = torch.nn.Linear(5, 4, dtype=TORCH_DT[dtype])
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.kernel.numpy().T))
        ref.bias.copy_(torch.tensor(layer.bias.numpy()))
    tx = torch.tensor(x_np, requires_grad=True)
    ty = tact(ref(tx))
    g = rand(*y.shape, dtype=dtype, seed=1)
    (y * sj.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    assert y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(layer.kernel.grad.numpy(), ref.weight.grad.numpy().T,
                               **TOL[dtype])
    np.testing.assert_allclose(layer.bias.grad.numpy(), ref.bias.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_matches_torch_linear(dtype):
    layer = nn.Linear(6, 3, dtype=dtype)
    assert layer.weight.shape == (3, 6) and layer.weight.dtype == dtype
    ref = torch.nn.Linear(6, 3, dtype=TORCH_DT[dtype])
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.weight.numpy()))
        ref.bias.copy_(torch.tensor(layer.bias.numpy()))
    x_np = rand(7, 6, dtype=dtype)
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = layer(x), ref(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(layer.bias.grad.numpy(), ref.bias.grad.numpy(), **TOL[dtype])


def test_linear_init_like_torch():
    sj.manual_seed(0)
    layer = nn.Linear(400, 300)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert nn.Linear(4, 2, bias=False).bias is None


def test_dense_lazy_build_and_input_dim():
    layer = nn.Dense(8)
    assert not layer.built and list(layer.parameters()) == []
    layer(sj.randn(2, 3))
    assert layer.built and layer.kernel.shape == (3, 8)
    eager = nn.Dense(8, input_dim=3)
    assert eager.built and eager.kernel.shape == (3, 8) and eager.input_shape == (None, 3)
    assert nn.Dense(8, input_shape=(5,)).kernel.shape == (5, 8)
    assert nn.Dense(2, use_bias=False, input_dim=3).bias is None
    k = nn.Dense(2, input_dim=3, kernel_initializer="ones", bias_initializer=nn.init.Constant(2))
    np.testing.assert_array_equal(k(sj.ones(1, 3)).numpy(), [[5.0, 5.0]])


def test_dense_wrong_features_message():
    layer = nn.Dense(4, name="dense_probe")
    layer(sj.randn(32, 64))
    with pytest.raises(ValueError) as e:
        layer(sj.randn(32, 10))
    assert str(e.value) == ("Dense 'dense_probe' expects inputs with 64 features (last axis), "
                            "got shape (32, 10).")
    with pytest.raises(ValueError, match="units"):
        nn.Dense(0)
    with pytest.raises(ValueError, match="units"):
        nn.Dense(2.5)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.Dense(3, activation="relu7")


def test_dense_autocasts_inputs():
    layer = nn.Dense(3, input_dim=2)  # float32
    x = sj.tensor(rand(4, 2, dtype=np.float64), requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float64
    assert layer(np.ones((1, 2))).dtype == np.float32  # NumPy input accepted
    assert layer(sj.tensor([[1, 2]])).dtype == np.float32  # integers too


def test_dense_config_round_trip():
    layer = nn.Dense(5, activation="relu", use_bias=False, input_dim=3, name="d",
                     kernel_initializer="he_normal")
    config = layer.get_config()
    assert config["units"] == 5 and config["activation"] == "relu"
    assert config["kernel_initializer"] == "he_normal" and config["input_shape"] == (3,)
    clone = nn.Dense.from_config({**config, "name": "d2"})
    assert clone.kernel.shape == (3, 5) and clone.bias is None
    assert clone.get_config() == {**config, "name": "d2"}


def test_dropout_train_and_eval():
    sj.manual_seed(0)
    layer = nn.Dropout(0.3)
    x = sj.ones(200, 500)
    y = layer(x).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.005)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.01)  # expectation preserved
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert nn.Dropout(0.0)(x) is x


def test_dropout_gradient_is_the_mask():
    sj.manual_seed(1)
    x = sj.randn(50, 40, requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    mask = (y.numpy() != 0) * 2.0
    np.testing.assert_allclose(x.grad.numpy(), mask)


def test_dropout_determinism():
    def masks(seed_layer=None):
        layer = nn.Dropout(0.5, seed=seed_layer)
        return [layer(sj.ones(10, 10)).numpy() for _ in range(2)]

    sj.manual_seed(42)
    a = masks()
    sj.manual_seed(42)
    b = masks()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])
    sj.manual_seed(1)
    c = masks(seed_layer=7)
    sj.manual_seed(2)
    d = masks(seed_layer=7)
    np.testing.assert_array_equal(c, d)  # a seeded layer ignores the global seed
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="rate"):
        nn.Dropout(-0.1)


def test_flatten_reshape_activation():
    x = sj.tensor(rand(2, 3, 4), requires_grad=True)
    y = nn.Flatten()(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(2, 12))
    y.sum().backward()
    assert x.grad.shape == (2, 3, 4)
    assert nn.Reshape((4, 3))(x).shape == (2, 4, 3)
    assert nn.Reshape((-1, 2))(x).shape == (2, 6, 2)
    with pytest.raises(ValueError, match="cannot reshape samples of shape"):
        nn.Reshape((5,))(x)
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Reshape((-1, -1))
    act = nn.Activation("softmax")
    np.testing.assert_allclose(act(x).numpy().sum(-1), 1.0, rtol=1e-6)
    assert repr(act) == "Activation(softmax)"
    np.testing.assert_array_equal(nn.Activation(lambda t: t * 2)(x).numpy(), x.numpy() * 2)
    with pytest.raises(ValueError):
        nn.Activation(None)


def test_mlp_matches_torch_end_to_end():
    model = nn.Sequential([nn.Dense(16, activation="relu", input_dim=5), nn.Dense(3),
                           nn.LogSoftmax()])
    ref = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3),
                              torch.nn.LogSoftmax(dim=-1))
    model(sj.zeros(1, 5))
    with torch.no_grad():
        for layer, tl in ((model[0], ref[0]), (model[1], ref[2])):
            tl.weight.copy_(torch.tensor(layer.kernel.numpy().T))
            tl.bias.copy_(torch.tensor(layer.bias.numpy()))
    x = rand(10, 5)
    out = model(sj.tensor(x))
    tout = ref(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.mean().backward()
    tout.mean().backward()
    np.testing.assert_allclose(model[0].kernel.grad.numpy(), ref[0].weight.grad.numpy().T,
                               rtol=1e-5, atol=1e-7)
