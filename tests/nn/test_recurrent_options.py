"""Recurrent-layer options beyond tests/nn/test_recurrent.py: SimpleRNN's relu against torch,
dropout and recurrent dropout reproduced from the layer's seeded masks, Bidirectional
without sequences (last states under a mask), its states for every cell, masks through a
Bidirectional in a Sequential, and errors raised through the wrapper."""
import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn
from shenjing.explain import gradcheck
from shenjing.nn import functional as F
from shenjing.ops.nn import dropout_mask

B, T, D, H = 3, 6, 4, 5
TOL = dict(rtol=1e-4, atol=1e-5)
TORCH = {nn.SimpleRNN: torch.nn.RNN, nn.LSTM: torch.nn.LSTM, nn.GRU: torch.nn.GRU}


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(a, b, what):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **TOL)


def grads_match(layer_ref_suffix, x, tx):
    close(x.grad.numpy(), tx.grad.numpy(), "dx")
    for layer, ref, suffix in layer_ref_suffix:
        tp = dict(ref.named_parameters())
        for name, p in layer.named_parameters():
            close(p.grad.numpy(), tp[name + suffix].grad.numpy(), f"d {name}{suffix}")


@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_relu_matches_torch(go_backwards):
    torch.manual_seed(0)
    ref = torch.nn.RNN(D, H, nonlinearity="relu", batch_first=True)
    layer = nn.SimpleRNN(H, activation="relu", return_sequences=True,
                         go_backwards=go_backwards).load_torch_weights(ref)
    x_np = rand(B, T, D)
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = layer(x), ref(tx.flip(1) if go_backwards else tx)[0]
    close(y.numpy(), ty.detach().numpy(), "outputs")
    g = rand(*y.shape, seed=1)
    (y * sj.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    grads_match([(layer, ref, "_l0")], x, tx)


@pytest.mark.parametrize("cls", [nn.SimpleRNN, nn.LSTM, nn.GRU])
def test_dropout_and_recurrent_dropout_are_the_seeded_masks(cls):
    """Training output = the fused op on x ⊙ m_x (one (B, 1, D) mask for all steps) with h ⊙ m_h
    before the recurrent matmul, the masks drawn in that order from the layer's generator;
    the gradient flows through both masks."""
    layer = cls(H, dropout=0.3, recurrent_dropout=0.4, return_sequences=True, seed=11)
    x_np = rand(B, T, D)
    layer(sj.tensor(x_np), training=False)  # build
    rng = np.random.default_rng(11)
    m_x = dropout_mask((B, 1, D), 0.3, "float32", np, rng)
    m_h = dropout_mask((B, H), 0.4, "float32", np, rng)
    x = sj.tensor(x_np, requires_grad=True)
    y = layer(x, training=True)
    x_ref = sj.tensor(x_np, requires_grad=True)
    op = {nn.SimpleRNN: F.rnn_tanh, nn.GRU: F.gru,
          nn.LSTM: lambda x, h, *w, **k: F.lstm(x, h, None, *w, **k)}[cls]
    y_ref = op(x_ref * sj.tensor(m_x), None, layer.weight_ih, layer.weight_hh, layer.bias_ih,
               layer.bias_hh, recurrent_dropout_mask=m_h)[0]
    np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
    g = sj.tensor(rand(*y.shape, seed=2))
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), x_ref.grad.numpy())
    assert not x.grad.numpy()[np.broadcast_to(m_x == 0, x.shape)].any()  # dropped features


@pytest.mark.parametrize("cls", [nn.SimpleRNN, nn.LSTM, nn.GRU])
def test_bidirectional_last_states_under_a_mask_match_packed_torch(cls):
    torch.manual_seed(0)
    ref = TORCH[cls](D, H, batch_first=True, bidirectional=True)
    layer = nn.Bidirectional(cls(H), merge_mode="concat").load_torch_weights(ref)
    lengths = [6, 2, 4]
    mask = np.arange(T)[None] < np.array(lengths)[:, None]
    x_np = rand(B, T, D)
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True,
                                                     enforce_sorted=False)
    h_n = ref(packed)[1]
    h_n = h_n[0] if cls is nn.LSTM else h_n
    expect = torch.cat([h_n[0], h_n[1]], -1)  # forward's last valid step, backward's first
    y = layer(x, mask=mask)
    assert y.shape == (B, 2 * H)
    close(y.numpy(), expect.detach().numpy(), "merged last states")
    g = rand(B, 2 * H, seed=3)
    (y * sj.tensor(g)).sum().backward()
    (expect * torch.tensor(g)).sum().backward()
    grads_match([(layer.forward_layer, ref, "_l0"), (layer.backward_layer, ref, "_l0_reverse")],
                x, tx)


@pytest.mark.parametrize("cls", [nn.SimpleRNN, nn.GRU])
def test_bidirectional_states_of_single_state_cells(cls):
    torch.manual_seed(0)
    ref = TORCH[cls](D, H, batch_first=True, bidirectional=True)
    layer = nn.Bidirectional(cls(H, return_sequences=True, return_state=True))
    layer.load_torch_weights(ref)
    x_np = rand(B, T, D)
    h0 = [rand(B, H, seed=5), rand(B, H, seed=6)]
    y, h_f, h_b = layer(sj.tensor(x_np), initial_state=[sj.tensor(h) for h in h0])
    ty, th = ref(torch.tensor(x_np), torch.tensor(np.stack(h0)))
    close(y.numpy(), ty.detach().numpy(), "outputs")
    close(h_f.numpy(), th[0].detach().numpy(), "forward state")
    close(h_b.numpy(), th[1].detach().numpy(), "backward state")


def test_mask_passes_through_bidirectional_in_a_sequential():
    ids = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 0, 0, 0, 0], [5, 3, 5, 0, 0, 0]])
    sj.manual_seed(0)
    emb, bi, top = (nn.Embedding(10, D, mask_zero=True),
                    nn.Bidirectional(nn.LSTM(H, return_sequences=True)), nn.GRU(H))
    y = sj.Sequential([emb, bi, top])(ids)
    mask = ids != 0
    expect = top(bi(emb(ids), mask=mask), mask=mask)
    np.testing.assert_array_equal(y.numpy(), expect.numpy())
    assert not np.allclose(y.numpy(), top(bi(emb(ids), mask=mask)).numpy())  # it mattered
    # padded steps change nothing: the short rows equal the same rows run unpadded
    short = sj.Sequential([emb, bi, top])(ids[1:2, :2])
    close(y.numpy()[1], short.numpy()[0], "padding ignored")


def test_bidirectional_errors_name_the_layer():
    bi = nn.Bidirectional(nn.LSTM(H, name="enc"))
    with pytest.raises(ValueError, match=r"LSTM 'forward_enc' expects 3-D input \(batch, time, "
                                         r"features\), got shape \(3, 4\)"):
        bi(sj.randn(B, D))
    with pytest.raises(ValueError, match=r"LSTM 'forward_enc' got a mask of shape \(3, 5\) for "
                                         r"inputs of shape \(3, 6, 4\)"):
        bi(sj.randn(B, T, D), mask=np.ones((B, T - 1), bool))
    with pytest.raises(ValueError, match=r"Bidirectional '\w+' expects initial_state as a list "
                                         r"of 4 tensors"):
        bi(sj.randn(B, T, D), initial_state=[sj.randn(B, H)] * 2)
    with pytest.raises(ValueError, match="backward_layer must be a recurrent layer with the "
                                         "opposite go_backwards"):
        nn.Bidirectional(nn.GRU(H), backward_layer=nn.GRU(H))


@pytest.mark.parametrize("cls", [nn.SimpleRNN, nn.LSTM, nn.GRU])
def test_bidirectional_gradcheck_float64(cls):
    layer = nn.Bidirectional(cls(3, return_sequences=True, dtype="float64"), merge_mode="mul")
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    assert gradcheck(lambda x: layer(x, mask=mask), [x], atol=1e-6, rtol=1e-5).ok
    assert gradcheck(layer, [x], atol=1e-6, rtol=1e-5).ok  # inputs and both layers' weights
