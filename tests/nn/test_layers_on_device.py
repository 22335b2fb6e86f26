"""Every layer family on every device (cpu, simulated cuda, real cuda): the same weights
give the same outputs and gradients as on the CPU (which the other tests compare with
PyTorch)."""
import numpy as np
import pytest
from helpers import assert_close, host, randn

import shenjing as sj
from shenjing import nn


def _run(layer, x, device, seed=0, **call):
    """Output, input gradient and weight gradients of ``layer`` on ``device`` (host arrays)."""
    layer.to(device)
    xt = sj.tensor(x, requires_grad=x.dtype.kind == "f", device=device)
    sj.manual_seed(seed)  # the same dropout masks on every device
    out = layer(xt, **call)
    out = out[0] if isinstance(out, (tuple, list)) else out
    assert out.device == device, f"output on {out.device}, expected {device}"
    up = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    (out * sj.tensor(up, device=device)).sum().backward()
    grads = {n: p.grad for n, p in layer.named_parameters() if p.grad is not None}
    assert all(g.device == device for g in grads.values())
    return (host(out), None if xt.grad is None else host(xt.grad),
            {n: host(g) for n, g in grads.items()})


def check_layer(make, x, device, atol=1e-5, **call):
    """Build ``make()`` on the CPU and on ``device`` with identical weights; compare."""
    cpu, dev = make(), make()
    sj.manual_seed(0)
    cpu(sj.tensor(x), **call)  # build
    dev.to(device)(sj.tensor(x, device=device), **call)  # built on the device
    dev.load_state_dict(cpu.state_dict())
    dev.train(cpu.training)
    want, got = _run(cpu, x, "cpu", **call), _run(dev, x, device, **call)
    assert set(dev.state_dict()) == set(cpu.state_dict())
    assert_close(got[0], want[0], atol=atol, what="output")
    if want[1] is not None:
        assert_close(got[1], want[1], atol=atol, what="input gradient")
    assert set(got[2]) == set(want[2])
    for name in want[2]:
        assert_close(got[2][name], want[2][name], atol=atol, what=f"gradient of {name}")
    for (name, a), b in zip(dev.state_dict().items(), cpu.state_dict().values()):
        assert isinstance(a, np.ndarray) and type(a) is np.ndarray, f"{name} not on the host"
        assert_close(a, b, atol=atol, what=f"state {name}")  # running statistics too


IMAGES = randn(4, 3, 8, 8)
SEQ = randn(3, 6, 5)

LAYERS = {
    "dense": (lambda: nn.Dense(7, activation="gelu"), randn(4, 5)),
    "conv2d": (lambda: nn.Conv2D(4, 3, padding="same", activation="relu"), IMAGES),
    "conv1d": (lambda: nn.Conv1D(4, 3, strides=2), randn(2, 9, 3)),
    "max_pool": (lambda: nn.Sequential(nn.MaxPooling2D(2), nn.AveragePooling2D(2)), IMAGES),
    "avg_pool_same": (lambda: nn.AveragePooling2D(3, strides=2, padding="same"),  # asymmetric
                      randn(2, 3, 8, 7)),
    "global_pool": (lambda: nn.GlobalAveragePooling2D(), IMAGES),
    "batch_norm": (lambda: nn.BatchNormalization(axis=1), IMAGES),
    "layer_norm": (lambda: nn.LayerNormalization(), SEQ),
    "lstm": (lambda: nn.LSTM(4, return_sequences=True), SEQ),
    "gru": (lambda: nn.GRU(4), SEQ),
    "simple_rnn": (lambda: nn.SimpleRNN(4, return_sequences=True), SEQ),
    "bidirectional": (lambda: nn.Bidirectional(nn.LSTM(3, return_sequences=True)), SEQ),
    "embedding": (lambda: nn.Embedding(10, 4), np.array([[1, 2, 9], [2, 2, 0]])),
    # a seeded Dropout draws on the host on every device (the global stream draws on the
    # GPU itself: tests/test_device.py checks those masks)
    "dropout": (lambda: nn.Sequential(nn.Dense(6), nn.Dropout(0.5, seed=3)), randn(4, 5)),
    "positional": (lambda: nn.SinusoidalPositionalEncoding(10, 5), SEQ),
    "upsampling": (lambda: nn.UpSampling2D(2, interpolation="bilinear"), IMAGES),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_on_device_matches_cpu(name, device):
    make, x = LAYERS[name]
    check_layer(make, x, device)


def test_multi_head_attention_on_device(device):
    def make():
        return nn.MultiHeadAttention(num_heads=2, key_dim=3)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = make()

        def forward(self, x):
            return self.mha(x, x, use_causal_mask=True)

    check_layer(SelfAttention, SEQ, device)


def test_transformer_encoder_on_device(device):
    def make():
        return nn.TransformerEncoderLayer(d_model=5, nhead=1, dim_feedforward=8, dropout=0.0)

    check_layer(make, SEQ, device)
    mask = nn.transformer.generate_square_subsequent_mask(SEQ.shape[1])  # a host array
    check_layer(make, SEQ, device, src_mask=mask)
