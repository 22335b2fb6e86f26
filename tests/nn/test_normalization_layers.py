"""Normalisation layers against torch: batch norm in train and eval mode with running
statistics over several steps (Keras momentum 0.99 = torch 0.01), layer and group norm;
buffers in state_dict; a small CNN with BatchNormalization trains with fit."""
import re

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn

ATOL = dict(atol=2e-5, rtol=2e-4)


def rand(*shape, seed=0, scale=1.0, shift=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(
        np.float32)


def built(layer, x):
    """Build ``layer`` on ``x`` without touching its running statistics (an eval call)."""
    layer.eval()
    layer(x if isinstance(x, sj.Tensor) else sj.tensor(x))
    return layer.train()


def step(layer, ref, x_np, params, seed=1):
    """One forward/backward of both; compare output, input grad and param grads."""
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = layer(x), ref(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **ATOL)
    g = rand(*y.shape, seed=seed)
    for p, tp in params:
        p.grad, tp.grad = None, None
    (y * sj.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **ATOL)
    for p, tp in params:
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **ATOL)


@pytest.mark.parametrize("shape,tcls", [((16, 3), torch.nn.BatchNorm1d),
                                        ((8, 3, 10), torch.nn.BatchNorm1d),
                                        ((4, 3, 5, 6), torch.nn.BatchNorm2d)])
def test_keras_batch_normalization_matches_torch(shape, tcls):
    layer = nn.BatchNormalization(momentum=0.99, epsilon=1e-3)
    ref = tcls(3, eps=1e-3, momentum=0.01)  # torch momentum = 1 - Keras momentum
    built(layer, sj.zeros(shape))
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(rand(3, seed=7, shift=1.0)))
        ref.bias.copy_(torch.tensor(rand(3, seed=8)))
    layer.gamma.data[...] = ref.weight.detach().numpy()
    layer.beta.data[...] = ref.bias.detach().numpy()
    params = [(layer.gamma, ref.weight), (layer.beta, ref.bias)]
    for i in range(3):  # training: batch statistics, running statistics updated
        step(layer, ref, rand(*shape, seed=10 + i, scale=2.0, shift=0.5), params, seed=i)
    np.testing.assert_allclose(layer.moving_mean.numpy(), ref.running_mean.numpy(), **ATOL)
    np.testing.assert_allclose(layer.moving_variance.numpy(), ref.running_var.numpy(), **ATOL)
    assert not np.allclose(layer.moving_mean.numpy(), 0)  # the stats did move
    layer.eval()
    ref.eval()
    step(layer, ref, rand(*shape, seed=20), params)  # evaluation: running statistics
    np.testing.assert_allclose(layer.moving_mean.numpy(), ref.running_mean.numpy(), **ATOL)


def test_batch_normalization_other_axis():
    layer = nn.BatchNormalization(axis=-1)
    ref = torch.nn.BatchNorm1d(4, eps=1e-3, momentum=0.01)
    x = rand(6, 5, 4, seed=3, shift=2.0)
    built(layer, x)
    assert layer.gamma.shape == (4,)
    step(layer, lambda t: ref(t.transpose(1, 2)).transpose(1, 2), x,
         [(layer.gamma, ref.weight), (layer.beta, ref.bias)])
    np.testing.assert_allclose(layer.moving_mean.numpy(), ref.running_mean.numpy(), **ATOL)


@pytest.mark.parametrize("kw", [dict(), dict(momentum=None), dict(affine=False),
                                dict(track_running_stats=False), dict(momentum=0.3, eps=1e-2)])
def test_torch_style_batchnorm_matches_torch(kw):
    layer, ref = nn.BatchNorm2d(3, **kw), torch.nn.BatchNorm2d(3, **kw)
    if ref.affine:
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(rand(3, seed=5, shift=1.0)))
    # torch's state_dict loads as is (weight, bias, running stats, num_batches_tracked)
    layer.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    params = [(layer.weight, ref.weight), (layer.bias, ref.bias)] if ref.affine else []
    for i in range(3):
        step(layer, ref, rand(4, 3, 3, 5, seed=30 + i, scale=3.0, shift=-1.0), params, seed=i)
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(layer.state_dict()[k], v.numpy(), **ATOL, err_msg=k)
    layer.eval()
    ref.eval()
    step(layer, ref, rand(4, 3, 3, 5, seed=40), params)


def test_batchnorm1d_on_2d_and_3d_inputs():
    layer, ref = nn.BatchNorm1d(5, momentum=0.2), torch.nn.BatchNorm1d(5, momentum=0.2)
    for i, shape in enumerate([(8, 5), (4, 5, 7)]):
        step(layer, ref, rand(*shape, seed=i, shift=1.0), [(layer.weight, ref.weight)])
    np.testing.assert_allclose(layer.running_var.numpy(), ref.running_var.numpy(), **ATOL)
    assert int(layer.num_batches_tracked.item()) == 2


def test_buffers_in_state_dict_and_summary():
    layer = nn.BatchNormalization()
    layer(sj.randn(4, 6, 3, 3))
    state = layer.state_dict()
    assert list(state) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [n for n, _ in layer.named_parameters()] == ["gamma", "beta"]
    assert sorted(n for n, _ in layer.named_buffers()) == ["moving_mean", "moving_variance"]
    assert list(nn.BatchNorm2d(2).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    lines = []
    sj.Sequential([layer]).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Total params: 24" in text and "Non-trainable params: 12" in text


def test_frozen_batch_normalization_runs_in_inference_mode():
    layer = nn.BatchNormalization()
    x = sj.tensor(rand(8, 2, 4, seed=1, shift=3.0))
    layer(x)
    before = layer.moving_mean.numpy().copy()
    layer.trainable = False
    y = layer(x)  # Keras: a frozen BN uses (and keeps) its moving statistics
    np.testing.assert_array_equal(layer.moving_mean.numpy(), before)
    expected = ((x.numpy() - before[:, None]) / np.sqrt(layer.moving_variance.numpy()[:, None]
                                                         + 1e-3))
    np.testing.assert_allclose(y.numpy(), expected, **ATOL)


@pytest.mark.parametrize("axis,shape,tshape", [(-1, (2, 5, 16), (16,)),
                                               ((1, 2, 3), (2, 3, 4, 5), (3, 4, 5)),
                                               ((-2, -1), (3, 4, 6), (4, 6))])
def test_layer_normalization_matches_torch(axis, shape, tshape):
    layer, ref = nn.LayerNormalization(axis=axis), torch.nn.LayerNorm(tshape, eps=1e-3)
    x = rand(*shape, shift=1.0, scale=2.0)
    layer(sj.tensor(x))
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(rand(*tshape, seed=4)))
    layer.gamma.data[...] = ref.weight.detach().numpy()
    step(layer, ref, x, [(layer.gamma, ref.weight), (layer.beta, ref.bias)])


def test_layer_normalization_over_channel_axis():
    layer, ref = nn.LayerNormalization(axis=1), torch.nn.LayerNorm(3, eps=1e-3)
    x = rand(2, 3, 4, 5, shift=1.0)
    layer(sj.tensor(x))
    assert layer.gamma.shape == (3,)
    step(layer, lambda t: ref(t.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), x,
         [(layer.gamma, ref.weight), (layer.beta, ref.bias)])


def test_torch_style_layer_norm():
    layer, ref = nn.LayerNorm((4, 6)), torch.nn.LayerNorm((4, 6))
    with torch.no_grad():
        ref.bias.copy_(torch.tensor(rand(4, 6, seed=2)))
    layer.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    step(layer, ref, rand(3, 4, 6, shift=2.0), [(layer.weight, ref.weight),
                                                 (layer.bias, ref.bias)])
    assert nn.LayerNorm(4, bias=False).bias is None


def test_group_normalization_matches_torch():
    layer, ref = nn.GroupNormalization(groups=2), torch.nn.GroupNorm(2, 6, eps=1e-3)
    x = rand(3, 6, 4, 5, shift=1.0, scale=2.0)
    layer(sj.tensor(x))
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(rand(6, seed=3)))
    layer.gamma.data[...] = ref.weight.detach().numpy()
    step(layer, ref, x, [(layer.gamma, ref.weight), (layer.beta, ref.bias)])
    t_layer, t_ref = nn.GroupNorm(3, 6), torch.nn.GroupNorm(3, 6)
    step(t_layer, t_ref, x, [(t_layer.weight, t_ref.weight), (t_layer.bias, t_ref.bias)])


def test_normalization_errors():
    bn = nn.BatchNormalization(name="bn")
    bn(sj.zeros((4, 3, 5)))
    with pytest.raises(ValueError, match=re.escape("BatchNormalization 'bn' expects 3 features "
                                                   "on axis 1, got shape (4, 5, 5)")):
        bn(sj.zeros((4, 5, 5)))
    with pytest.raises(ValueError, match=r"BatchNorm2d 'b2' expects 4-D input \(N, C, H, W\), "
                                         r"got shape \(4, 3\)"):
        nn.BatchNorm2d(3, name="b2")(sj.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"BatchNorm1d 'b1' expects 4 features on axis 1, "
                                         r"got shape \(2, 3\)"):
        nn.BatchNorm1d(4, name="b1")(sj.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"GroupNormalization 'gn' has groups=4, which must "
                                         r"divide the 6 features"):
        nn.GroupNormalization(4, name="gn")(sj.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match=r"LayerNorm 'ln' expects inputs whose last 1 axes "
                                         r"are \(8,\), got shape \(2, 4\)"):
        nn.LayerNorm(8, name="ln")(sj.zeros((2, 4)))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNormalization(momentum=1.5)


def test_configs_round_trip():
    for layer in (nn.BatchNormalization(momentum=0.9, center=False),
                  nn.BatchNorm1d(4, momentum=None), nn.LayerNormalization(axis=(1, 2)),
                  nn.LayerNorm((3, 4)), nn.GroupNormalization(4, epsilon=1e-5),
                  nn.GroupNorm(2, 4, affine=False)):
        config = layer.get_config()
        clone = type(layer).from_config({**config, "name": config["name"] + "_c"})
        assert {k: v for k, v in clone.get_config().items() if k != "name"} == \
            {k: v for k, v in config.items() if k != "name"}
    assert nn.BatchNormalization(momentum=0.9).get_config()["momentum"] == 0.9


def test_small_cnn_with_batchnorm_trains_with_fit():
    sj.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 1, 8, 8)).astype(np.float32)
    y = (x[:, :, :4].mean(axis=(1, 2, 3)) > x[:, :, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    model = sj.Sequential([
        nn.Conv2D(8, 3, padding="same", input_shape=(1, 8, 8)),
        nn.BatchNormalization(),
        nn.ReLU(),
        nn.MaxPooling2D(),
        nn.Conv2D(8, 3, padding="same", activation="relu"),
        nn.GlobalAveragePooling2D(),
        nn.Dense(2),
    ])
    model.compile(sj.optim.Adam(lr=0.01),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert losses[1] < losses[0]
    bn = model.layers[1]
    assert not np.allclose(bn.moving_variance.numpy(), 1.0)  # running stats updated
    model.predict(x[:4])  # eval mode uses them
