"""Pooling and spatial reshaping layers against torch: values, gradients, Keras "same" shapes
(⌈n / stride⌉), errors."""
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import shenjing as sj
from shenjing import nn


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def compare(layer, torch_fn, x_np, atol=1e-5):
    """Outputs and input gradients of ``layer`` and ``torch_fn`` on the same input."""
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = layer(x), torch_fn(tx)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=atol, rtol=1e-5)
    g = rand(*y.shape, seed=1)
    (y * sj.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-5)
    return y


@pytest.mark.parametrize("kw,tkw", [
    (dict(), dict(kernel_size=2)),
    (dict(pool_size=3, strides=2), dict(kernel_size=3, stride=2)),
    (dict(pool_size=(3, 2), strides=(1, 2)), dict(kernel_size=(3, 2), stride=(1, 2))),
])
def test_pooling2d_valid_matches_torch(kw, tkw):
    x = rand(2, 3, 9, 8)
    compare(nn.MaxPooling2D(**kw), torch.nn.MaxPool2d(**tkw), x)
    compare(nn.AveragePooling2D(**kw), torch.nn.AvgPool2d(**tkw), x)


def test_pooling1d_valid_matches_torch():
    x = rand(2, 3, 11)
    compare(nn.MaxPooling1D(3, strides=2), torch.nn.MaxPool1d(3, stride=2), x)
    compare(nn.AveragePooling1D(2), torch.nn.AvgPool1d(2), x)


def tf_same(x, k, s):
    """TensorFlow's "same" padding (before, after) per spatial axis, written independently."""
    pads = []
    for n, kk, ss in zip(x.shape[2:], k, s):
        total = max((math.ceil(n / ss) - 1) * ss + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    flat = [v for b, a in reversed(pads) for v in (b, a)]  # F.pad: last axis first
    return flat


@pytest.mark.parametrize("shape,k,s", [
    ((2, 3, 7, 8), (3, 3), (2, 2)),   # asymmetric padding on W
    ((2, 3, 9, 9), (2, 2), (2, 2)),   # odd sizes, one extra row and column at the end
    ((1, 2, 6, 5), (3, 2), (1, 1)),   # stride 1 keeps the size
    ((1, 2, 5, 7), (4, 4), (3, 2)),
    ((1, 2, 6, 6), (3, 3), (1, 1)),   # symmetric: the op pads, padding not counted
])
def test_pooling2d_same_matches_tf_rule(shape, k, s):
    x = rand(*shape)
    pads = tf_same(x, k, s)
    y = compare(nn.MaxPooling2D(k, s, padding="same"),
                lambda t: tF.max_pool2d(tF.pad(t, pads, value=-math.inf), k, s), x)
    assert y.shape[2:] == tuple(math.ceil(n / st) for n, st in zip(shape[2:], s))

    def avg_excluding_pad(t):  # mean over the real values of each window
        ones = torch.ones_like(t)
        return (tF.avg_pool2d(tF.pad(t, pads), k, s) /
                tF.avg_pool2d(tF.pad(ones, pads), k, s))
    compare(nn.AveragePooling2D(k, s, padding="same"), avg_excluding_pad, x)


def test_pooling1d_same():
    x = rand(2, 3, 10)
    pads = tf_same(x, (3,), (3,))
    assert pads == [1, 1]
    y = compare(nn.MaxPooling1D(3, padding="same"),
                lambda t: tF.max_pool1d(tF.pad(t, pads, value=-math.inf), 3), x)
    assert y.shape == (2, 3, 4)
    pads = tf_same(x, (4,), (3,))
    ones = torch.ones(2, 3, 10)
    compare(nn.AveragePooling1D(4, 3, padding="same"),
            lambda t: tF.avg_pool1d(tF.pad(t, pads), 4, 3) /
            tF.avg_pool1d(tF.pad(ones, pads), 4, 3), x)


def test_global_pooling():
    x = rand(2, 4, 5, 3)
    compare(nn.GlobalAveragePooling2D(), lambda t: t.mean(dim=(2, 3)), x)
    compare(nn.GlobalMaxPooling2D(keepdims=True), lambda t: t.amax(dim=(2, 3), keepdim=True),
            x)
    x1 = rand(2, 4, 6)
    compare(nn.GlobalAveragePooling1D(keepdims=True), lambda t: t.mean(dim=2, keepdim=True),
            x1)
    compare(nn.GlobalMaxPooling1D(), lambda t: t.amax(dim=2), x1)


@pytest.mark.parametrize("size", [(3, 2), 1, (None, 4), (7, 7)])
def test_adaptive_average_pooling_matches_torch(size):
    compare(nn.AdaptiveAveragePooling2D(size), torch.nn.AdaptiveAvgPool2d(size),
            rand(2, 3, 7, 8))


def test_zero_padding_and_cropping():
    x = rand(1, 2, 4, 5)
    compare(nn.ZeroPadding2D(), lambda t: tF.pad(t, (1, 1, 1, 1)), x)
    compare(nn.ZeroPadding2D((2, 1)), lambda t: tF.pad(t, (1, 1, 2, 2)), x)
    compare(nn.ZeroPadding2D(((1, 0), (0, 3))), lambda t: tF.pad(t, (0, 3, 1, 0)), x)
    compare(nn.Cropping2D(((1, 0), (2, 1))), lambda t: t[:, :, 1:, 2:-1], x)
    compare(nn.Cropping2D(1), lambda t: t[:, :, 1:-1, 1:-1], x)
    with pytest.raises(ValueError, match="Cropping2D 'crop' cannot crop"):
        nn.Cropping2D(2, name="crop")(sj.tensor(x))
    with pytest.raises(ValueError, match="ZeroPadding2D expects `padding`"):
        nn.ZeroPadding2D((1, 2, 3))


@pytest.mark.parametrize("size", [2, (3, 2), 1])
def test_upsampling_matches_torch(size):
    x = rand(2, 3, 4, 5)
    compare(nn.UpSampling2D(size), torch.nn.Upsample(scale_factor=size, mode="nearest"), x)
    compare(nn.UpSampling2D(size, interpolation="bilinear"),
            torch.nn.Upsample(scale_factor=size, mode="bilinear", align_corners=False), x)


def test_pooling_errors_name_layer_and_shapes():
    msg = ("MaxPooling2D 'pool' expects 4-D input (batch, channels, height, width), "
           "got shape (3, 8, 8)")
    with pytest.raises(ValueError, match=re.escape(msg)):
        nn.MaxPooling2D(name="pool")(sj.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match=r"AveragePooling2D 'avg': pool_size \(5, 5\) is "
                                         r"larger than .* \(1, 1, 3, 3\)"):
        nn.AveragePooling2D(5, name="avg")(sj.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D 'g' expects 3-D input"):
        nn.GlobalAveragePooling1D(name="g")(sj.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding 'valid' or 'same'"):
        nn.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="output_size"):
        nn.AdaptiveAveragePooling2D((0, 2))
    with pytest.raises(ValueError, match="interpolation"):
        nn.UpSampling2D(2, interpolation="bicubic")


def test_configs_and_names():
    layer = nn.MaxPooling2D(3, strides=(2, 1), padding="same")
    config = layer.get_config()
    assert (config["pool_size"], config["strides"], config["padding"]) == \
        ((3, 3), (2, 1), "same")
    assert nn.MaxPooling2D.from_config({**config, "name": "p2"}).strides == (2, 1)
    assert nn.AveragePooling1D(2).strides == (2,)
    assert nn.GlobalMaxPooling2D(keepdims=True).get_config()["keepdims"] is True
    assert nn.AdaptiveAveragePooling2D(3).get_config()["output_size"] == (3, 3)
    assert nn.UpSampling2D(2, "bilinear").get_config()["interpolation"] == "bilinear"
    assert nn.ZeroPadding2D(1).get_config()["padding"] == ((1, 1), (1, 1))
    assert re.fullmatch(r"max_pooling2d(_\d+)?", nn.MaxPooling2D().name)
    assert re.fullmatch(r"global_average_pooling2d(_\d+)?", nn.GlobalAveragePooling2D().name)
