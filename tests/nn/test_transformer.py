"""TransformerEncoderLayer / TransformerDecoderLayer / TransformerEncoder against torch with
copied weights (eval mode: no dropout), post-norm and pre-norm, relu and gelu, padding and
causal masks: outputs and gradients of the inputs and of every weight.  Positional
encodings against their formulas."""
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn

TOL = dict(rtol=2e-4, atol=3e-5)
GRID = [(nf, act) for nf in (False, True) for act in ("relu", "gelu")]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def randomise(module, seed=0):
    """Non-trivial LayerNorm weights and biases, so a swapped norm would show."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name or "bias" in name:
                p.normal_(mean=1.0 if name.endswith("weight") else 0.0, std=0.5)
    return module.eval()


def check(ours, ref, arrays, kwargs, tkwargs):
    """Outputs, input gradients and every weight gradient of ours vs torch's."""
    xs = [sj.tensor(a, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = ours(*xs, **kwargs), ref(*txs, **tkwargs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    g = rand(*out.shape, seed=9)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for i, (x, tx) in enumerate(zip(xs, txs)):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), err_msg=f"input {i}", **TOL)
    ours_p = dict(ours.named_parameters())
    assert set(ours_p) == {n for n, _ in ref.named_parameters()}
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours_p[name].grad.numpy(), p.grad.numpy(), err_msg=name,
                                   **TOL)


@pytest.mark.parametrize("norm_first,activation", GRID)
def test_encoder_layer_matches_torch(norm_first, activation):
    ref = randomise(torch.nn.TransformerEncoderLayer(
        16, 4, 32, activation=activation, batch_first=True, norm_first=norm_first))
    ours = nn.TransformerEncoderLayer(16, 4, 32, activation=activation, norm_first=norm_first)
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    kpm = np.zeros((3, 6), bool)
    kpm[1, 4:] = True
    check(ours, ref, [rand(3, 6, 16)], dict(src_key_padding_mask=kpm),
          dict(src_key_padding_mask=torch.tensor(kpm)))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(6)
    ours.zero_grad()
    ref.zero_grad()
    check(ours, ref, [rand(3, 6, 16, seed=1)], dict(is_causal=True),
          dict(src_mask=causal, is_causal=True))


@pytest.mark.parametrize("norm_first,activation", GRID)
def test_decoder_layer_matches_torch(norm_first, activation):
    ref = randomise(torch.nn.TransformerDecoderLayer(
        16, 4, 32, activation=activation, batch_first=True, norm_first=norm_first), seed=1)
    ours = nn.TransformerDecoderLayer.from_torch(ref).eval()
    tgt_pad, mem_pad = np.zeros((2, 5), bool), np.zeros((2, 7), bool)
    tgt_pad[0, 4:], mem_pad[1, 5:] = True, True
    causal = np.isinf(nn.generate_square_subsequent_mask(5))  # boolean, True = masked
    check(ours, ref, [rand(2, 5, 16), rand(2, 7, 16, seed=1)],
          dict(tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=mem_pad),
          dict(tgt_mask=torch.tensor(causal), tgt_key_padding_mask=torch.tensor(tgt_pad),
               memory_key_padding_mask=torch.tensor(mem_pad)))


def test_batch_first_false_and_from_torch_config():
    ref = randomise(torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.2, activation="gelu",
                                                     layer_norm_eps=1e-6, norm_first=True))
    ours = nn.TransformerEncoderLayer.from_torch(ref).eval()
    assert (ours.batch_first, ours.norm_first, ours.dropout_rate) == (False, True, 0.2)
    assert ours.activation_name == "gelu" and ours.layer_norm_eps == 1e-6
    check(ours, ref, [rand(5, 2, 8)], {}, {})


def test_encoder_stack_matches_torch():
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    ref = randomise(torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(8),
                                                enable_nested_tensor=False), seed=2)
    ours = nn.TransformerEncoder(lambda: nn.TransformerEncoderLayer(8, 2, 16), 2,
                                 norm=nn.LayerNorm(8))
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    kpm = np.zeros((2, 4), bool)
    kpm[0, 3] = True
    check(ours, ref, [rand(2, 4, 8)], dict(src_key_padding_mask=kpm),
          dict(src_key_padding_mask=torch.tensor(kpm)))


class _Masked(nn.Module):
    """A layer called with fixed masks, so gradcheck sees its parameters too."""

    def __init__(self, layer, **masks):
        super().__init__()
        self.layer, self.masks = layer, masks

    def forward(self, *xs):
        return self.layer(*xs, **self.masks)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_float64(norm_first):
    pad = np.zeros((2, 4), bool)
    pad[1, 3] = True
    enc = nn.TransformerEncoderLayer(8, 2, 12, norm_first=norm_first, dtype="float64").eval()
    report = sj.explain.gradcheck(_Masked(enc, src_key_padding_mask=pad, is_causal=True),
                                  [rand(2, 4, 8).astype("float64")])
    assert report.ok, str(report)
    dec = nn.TransformerDecoderLayer(8, 2, 12, activation="gelu", norm_first=norm_first,
                                     dtype="float64").eval()
    report = sj.explain.gradcheck(_Masked(dec, memory_key_padding_mask=pad, tgt_is_causal=True),
                                  [rand(2, 3, 8).astype("float64"),
                                   rand(2, 4, 8, seed=1).astype("float64")])
    assert report.ok, str(report)


def test_stack_copies_are_independent_and_decoder_stack_runs():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 3)
    w = [lyr.linear1.weight for lyr in enc.layers]
    assert len({id(p) for p in w}) == 3 and len(list(enc.parameters())) == 3 * 12
    np.testing.assert_array_equal(w[0].numpy(), w[1].numpy())  # deep copies, as torch
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2)
    assert dec(sj.randn(2, 3, 8), sj.randn(2, 5, 8), tgt_is_causal=True).shape == (2, 3, 8)


def test_training_mode_dropout_repeats_with_seed():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    x = sj.tensor(rand(2, 5, 8))
    sj.manual_seed(1)
    a = layer(x)
    sj.manual_seed(1)
    b = layer(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(layer(x).numpy(), a.numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())


def test_config_round_trip_and_errors():
    layer = nn.TransformerDecoderLayer(8, 2, 16, activation="gelu", norm_first=True)
    copy = nn.TransformerDecoderLayer.from_config(layer.get_config())
    assert copy.get_config() == {**layer.get_config(), "name": copy.name}
    with pytest.raises(ValueError, match="d_model=10 must be divisible by nhead=4"):
        nn.TransformerEncoderLayer(10, 4)
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 3\)"):
        nn.TransformerEncoderLayer(8, 2, 16)(sj.randn(2, 4, 8), src_mask=np.zeros((3, 3)))


# ---------------------------------------------------------------------- positions


@pytest.mark.parametrize("d_model", [6, 7])
def test_sinusoidal_encoding_formula(d_model):
    pe = nn.SinusoidalPositionalEncoding(max_len=20, d_model=d_model)
    x = rand(2, 10, d_model)
    y = pe(sj.tensor(x), start_index=3).numpy()
    expected = np.empty((10, d_model))
    for t in range(10):
        pos = t + 3
        for i in range(d_model):
            angle = pos / 10000 ** ((i - i % 2) / d_model)
            expected[t, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(y - x, np.broadcast_to(expected, y.shape), atol=1e-6)
    assert pe.state_dict() == {} and y.dtype == np.float32
    with pytest.raises(ValueError, match="holds 20 positions.*need 25"):
        pe(sj.tensor(rand(1, 15, d_model)), start_index=10)


def test_learned_positional_embedding():
    pos = nn.PositionalEmbedding(sequence_length=8, output_dim=4)
    table = pos.position_embeddings
    x = sj.tensor(rand(2, 5, 4), requires_grad=True)
    y = pos(x, start_index=2)
    np.testing.assert_allclose(y.numpy(), x.numpy() + table.numpy()[2:7])
    y.sum().backward()
    expected = np.zeros((8, 4), np.float32)
    expected[2:7] = 2  # two samples per position
    np.testing.assert_array_equal(table.grad.numpy(), expected)
    lazy = nn.PositionalEmbedding(sequence_length=6)
    assert lazy(sj.randn(3, 6, 5)).shape == (3, 6, 5)
    assert lazy.position_embeddings.shape == (6, 5)
    with pytest.raises(ValueError, match=r"\(batch, time, 4\), got \(2, 5, 3\)"):
        pos(sj.randn(2, 5, 3))
