"""Convolution layers against torch.nn with copied weights: values and gradients; Keras
"same" semantics; errors; configs; summary shapes through a CNN."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import shenjing as sj
from shenjing import nn


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def compare(layer, ref, x_np, pairs, post=lambda t: t, atol=1e-4, rtol=1e-4):
    """Build ``layer`` on x, copy torch's weights in (``pairs()``: (sj param, torch param)),
    then compare outputs, the input gradient and every weight gradient."""
    layer(sj.tensor(x_np))
    for p, tp in pairs():
        assert p.shape == tuple(tp.shape), f"{p.shape} vs torch {tuple(tp.shape)}"
        p.data[...] = tp.detach().numpy()
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = layer(x), post(ref(tx))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=atol, rtol=rtol)
    g = rand(*y.shape, seed=1)
    (y * sj.tensor(g)).sum().backward()
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=rtol)
    for p, tp in pairs():
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), atol=atol, rtol=rtol)
    return y


def conv_pairs(layer, ref):
    return lambda: [(layer.kernel, ref.weight)] + (
        [(layer.bias, ref.bias)] if ref.bias is not None else [])


class Padded(torch.nn.Module):
    """torch oracle for asymmetric padding: F.pad (left, right, top, bottom), then conv."""

    def __init__(self, pad, conv):
        super().__init__()
        self.pad, self.conv = pad, conv

    def forward(self, x):
        return self.conv(tF.pad(x, self.pad))


CONV2D = [  # (sj kwargs, torch Conv2d kwargs, input shape, explicit torch pad or None)
    (dict(kernel_size=3), dict(kernel_size=3), (2, 3, 9, 8), None),
    (dict(kernel_size=3, strides=2, padding=1), dict(kernel_size=3, stride=2, padding=1),
     (2, 3, 9, 8), None),
    (dict(kernel_size=(3, 2), strides=(2, 1), dilation_rate=2, padding=(2, 1)),
     dict(kernel_size=(3, 2), stride=(2, 1), dilation=2, padding=(2, 1)), (2, 3, 11, 9), None),
    (dict(kernel_size=4, padding="same", groups=3, dilation_rate=2, use_bias=False),
     dict(kernel_size=4, padding="same", groups=3, dilation=2, bias=False), (2, 6, 9, 8), None),
    # Keras "same" with stride 2: H 9 → 5 (total 2: 1 | 1), W 8 → 4 (total 1: 0 | 1)
    (dict(kernel_size=3, strides=2, padding="same"), dict(kernel_size=3, stride=2),
     (2, 3, 9, 8), (0, 1, 1, 1)),
]


@pytest.mark.parametrize("kw,tkw,shape,pad", CONV2D)
def test_conv2d_matches_torch(kw, tkw, shape, pad):
    c = shape[1]
    layer = nn.Conv2D(6, **kw)
    ref = torch.nn.Conv2d(c, 6, **tkw)
    y = compare(layer, ref if pad is None else Padded(pad, ref), rand(*shape),
                conv_pairs(layer, ref))
    if kw.get("padding") == "same":
        assert y.shape[2:] == tuple(-(-n // s) for n, s in
                                    zip(shape[2:], layer.strides))  # ⌈n / stride⌉


CONV1D = [
    (dict(kernel_size=3, strides=2, dilation_rate=2), dict(kernel_size=3, stride=2,
                                                           dilation=2), None),
    (dict(kernel_size=4, padding="same", groups=2), dict(kernel_size=4, padding="same",
                                                         groups=2), None),
    (dict(kernel_size=3, padding="causal", dilation_rate=2), dict(kernel_size=3, dilation=2),
     (4, 0)),
    # Keras "same", L 13 → 7 with kernel 3, stride 2: total padding 2 = 1 | 1 (op pads)
    (dict(kernel_size=3, strides=2, padding="same"), dict(kernel_size=3, stride=2), (1, 1)),
    # Keras "same", L 13 → 5 with kernel 4, stride 3: total padding 3 = 1 | 2
    (dict(kernel_size=4, strides=3, padding="same"), dict(kernel_size=4, stride=3), (1, 2)),
]


@pytest.mark.parametrize("kw,tkw,pad", CONV1D)
def test_conv1d_matches_torch(kw, tkw, pad):
    layer, ref = nn.Conv1D(4, **kw), torch.nn.Conv1d(4, 4, **tkw)
    y = compare(layer, ref if pad is None else Padded(pad, ref), rand(3, 4, 13),
                conv_pairs(layer, ref))
    if kw.get("padding") in ("same", "causal"):
        assert y.shape[2] == -(-13 // layer.strides[0])


CONV_T = [  # (sj kwargs, torch ConvTranspose2d kwargs, crop of torch's output at the start)
    (dict(kernel_size=3), dict(kernel_size=3), 0),
    (dict(kernel_size=3, strides=2, padding="same"),
     dict(kernel_size=3, stride=2, padding=1, output_padding=1), 0),
    (dict(kernel_size=4, strides=2, padding="same"),
     dict(kernel_size=4, stride=2, padding=1), 0),
    (dict(kernel_size=2, strides=3), dict(kernel_size=2, stride=3, output_padding=1), 0),
    (dict(kernel_size=3, strides=2, padding=1, output_padding=1, groups=2, dilation_rate=2),
     dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=2, dilation=2), 0),
    # stride 1, even kernel, "same": torch cannot express it; pad less and crop one row
    (dict(kernel_size=4, padding="same"), dict(kernel_size=4, padding=1), 1),
]


@pytest.mark.parametrize("kw,tkw,crop", CONV_T)
def test_conv2d_transpose_matches_torch(kw, tkw, crop):
    layer, ref = nn.Conv2DTranspose(6, **kw), torch.nn.ConvTranspose2d(4, 6, **tkw)
    x = rand(2, 4, 5, 6)
    y = compare(layer, ref, x, conv_pairs(layer, ref), post=lambda t: t[:, :, crop:, crop:])
    assert layer.kernel.shape[:2] == (4, 6 // layer.groups)  # torch layout (in, out/groups)
    s, k = layer.strides[0], layer.kernel_size[0]
    if kw.get("padding") == "same":
        assert y.shape[2:] == (5 * s, 6 * s)  # Keras: strides × input
    elif "padding" not in kw:
        assert y.shape[2:] == ((5 - 1) * s + max(k, s), (6 - 1) * s + max(k, s))


def test_conv1d_transpose_matches_torch():
    layer = nn.Conv1DTranspose(2, 3, strides=2, padding="same")
    ref = torch.nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1)
    y = compare(layer, ref, rand(2, 3, 7), conv_pairs(layer, ref))
    assert y.shape == (2, 2, 14)


def test_torch_weights_copy_straight_in():
    ref = torch.nn.Conv2d(3, 8, 3, padding=1)
    layer = nn.Conv2D(8, 3, padding=1, input_shape=(3, 16, 16))
    layer.load_state_dict({"kernel": ref.weight.detach().numpy(),
                           "bias": ref.bias.detach().numpy()})
    x = rand(1, 3, 16, 16)
    np.testing.assert_allclose(layer(x).numpy(), ref(torch.tensor(x)).detach().numpy(),
                               atol=1e-5)


def test_activation_lazy_build_and_autocast():
    layer = nn.Conv2D(4, 3, activation="relu")
    assert not layer.built and list(layer.parameters()) == []
    y = layer(sj.tensor(rand(2, 5, 6, 6).astype(np.float64)))
    assert layer.kernel.shape == (4, 5, 3, 3) and y.dtype == np.float32
    assert y.numpy().min() >= 0


def test_wrong_rank_error_names_layer_and_shapes():
    layer = nn.Conv2D(8, 3, name="conv2d_1")
    msg = ("Conv2D 'conv2d_1' expects 4-D input (batch, channels, height, width), "
           "got shape (32, 28, 28)")
    with pytest.raises(ValueError, match=re.escape(msg)):
        layer(sj.zeros((32, 28, 28)))
    with pytest.raises(ValueError, match=r"Conv1D 'c1' expects 3-D input \(batch, channels, "
                                         r"length\), got shape \(2, 3, 4, 5\)"):
        nn.Conv1D(2, 3, name="c1")(sj.zeros((2, 3, 4, 5)))


def test_wrong_channels_error():
    layer = nn.Conv2D(8, 3, name="conv")
    layer(sj.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"Conv2D 'conv' expects inputs with 3 channels "
                                         r"\(axis 1\), got shape \(2, 1, 8, 8\)"):
        layer(sj.zeros((2, 1, 8, 8)))
    t = nn.Conv2DTranspose(4, 3, name="up")
    t(sj.zeros((1, 5, 4, 4)))
    with pytest.raises(ValueError, match=r"Conv2DTranspose 'up' expects inputs with 5 "
                                         r"channels \(axis 1\), got shape \(1, 4, 4, 4\)"):
        t(sj.zeros((1, 4, 4, 4)))


def test_groups_errors():
    with pytest.raises(ValueError, match="groups=4, which must divide the input channels: "
                                         r"got 6 channels in input shape \(2, 6, 5, 5\)"):
        nn.Conv2D(8, 3, groups=4, name="g")(sj.zeros((2, 6, 5, 5)))
    with pytest.raises(ValueError, match="groups.*filters=6, groups=4"):
        nn.Conv2D(6, 3, groups=4)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2D(6, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2D(6, (3, 3, 3))


def test_op_errors_carry_the_layer_name():
    with pytest.raises(ValueError, match=r"Conv2D 'big': conv2d: the kernel .* larger"):
        nn.Conv2D(2, 5, name="big")(sj.zeros((1, 1, 3, 3)))


def test_auto_names_follow_keras():
    assert re.fullmatch(r"conv2d(_\d+)?", nn.Conv2D(2, 3).name)
    assert re.fullmatch(r"conv2d_transpose(_\d+)?", nn.Conv2DTranspose(2, 3).name)
    assert re.fullmatch(r"conv1d(_\d+)?", nn.Conv1D(2, 3).name)


@pytest.mark.parametrize("cls,kw", [
    (nn.Conv2D, dict(filters=4, kernel_size=(3, 2), strides=2, padding="same",
                     activation="relu", use_bias=False, input_shape=(3, 8, 8))),
    (nn.Conv1D, dict(filters=2, kernel_size=5, padding="causal", dilation_rate=2)),
    (nn.Conv2DTranspose, dict(filters=4, kernel_size=3, strides=2, padding=1,
                              output_padding=1, groups=2)),
])
def test_get_config_round_trip(cls, kw):
    layer = cls(**kw)
    config = layer.get_config()
    for key, value in kw.items():  # tuples stay tuples; ints become tuples of the rank
        if type(value) is int and key not in ("filters", "groups"):
            value = (value,) * layer.rank
        assert config[key] == value, key
    clone = cls.from_config({**config, "name": config["name"] + "_clone"})
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == \
        {k: v for k, v in config.items() if k != "name"}


def test_summary_shows_conv_shapes_and_params():
    model = sj.Sequential([
        nn.Conv2D(6, 5, activation="relu", input_shape=(1, 28, 28)),
        nn.MaxPooling2D(),
        nn.Conv2D(16, 5, activation="relu"),
        nn.BatchNormalization(),
        nn.MaxPooling2D(),
        nn.Flatten(),
        nn.Dense(10),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    rows = [line for line in lines if "(None" in line]
    expected = [("(None, 6, 24, 24)", "156"), ("(None, 6, 12, 12)", "0"),
                ("(None, 16, 8, 8)", "2416"), ("(None, 16, 8, 8)", "64"),
                ("(None, 16, 4, 4)", "0"), ("(None, 256)", "0"), ("(None, 10)", "2570")]
    assert [r.split()[-1] for r in rows] == [p for _, p in expected]
    assert all(shape in row for row, (shape, _) in zip(rows, expected))
    assert "Total params: 5,206" in text
    assert "Non-trainable params: 32" in text  # the BN moving mean and variance
