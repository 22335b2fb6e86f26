"""SimpleRNN / LSTM / GRU / Bidirectional layers against torch with copied weights (outputs,
states, gradients to inputs, initial states and weights; every combination of
return_sequences, return_state, go_backwards, initial state and use_bias), masks from
Embedding(mask_zero) through a Sequential, stacking, truncated BPTT, dropout, Keras
initialisation, configs and error messages."""
import itertools

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn
from shenjing.explain import gradcheck

B, T, D, H = 3, 6, 4, 5
LAYERS = {"SimpleRNN": (nn.SimpleRNN, torch.nn.RNN), "LSTM": (nn.LSTM, torch.nn.LSTM),
          "GRU": (nn.GRU, torch.nn.GRU)}
TOL = dict(rtol=1e-4, atol=1e-5)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pair(name, seed=0, bidirectional=False, num_layers=1, bias=True):
    cls, tcls = LAYERS[name]
    torch.manual_seed(seed)
    ref = tcls(D, H, batch_first=True, bidirectional=bidirectional, num_layers=num_layers,
               bias=bias)
    return cls, ref


def close(a, b, what):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=what, **TOL)


def check_grads(layers_refs, x, tx, states=(), tstates=()):
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), err_msg="dx", **TOL)
    for s, ts in zip(states, tstates):
        close(s.grad.numpy(), ts.grad.numpy(), "d initial state")
    for layer, ref, suffix in layers_refs:
        tp = dict(ref.named_parameters())
        for name, p in layer.named_parameters():
            close(p.grad.numpy(), tp[name.split(".")[-1] + suffix].grad.numpy(), f"d {name}")


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("return_sequences,return_state,go_backwards,with_state,use_bias",
                         list(itertools.product([False, True], repeat=5)))
def test_layer_matches_torch(name, return_sequences, return_state, go_backwards, with_state,
                             use_bias):
    cls, ref = pair(name, bias=use_bias)
    layer = cls(H, return_sequences=return_sequences, return_state=return_state,
                go_backwards=go_backwards, use_bias=use_bias).load_torch_weights(ref)
    x_np = rand(B, T, D)
    n = 2 if name == "LSTM" else 1
    s_np = [rand(B, H, seed=i + 1) for i in range(n)]
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    states = [sj.tensor(s, requires_grad=True) for s in s_np] if with_state else []
    tstates = [torch.tensor(s, requires_grad=True) for s in s_np] if with_state else []
    out = layer(x, initial_state=states or None)
    t0 = [s[None] for s in tstates] or [torch.zeros(1, B, H)] * n
    ty, tst = ref(tx.flip(1) if go_backwards else tx, tuple(t0) if n == 2 else t0[0])
    tst = [s[0] for s in (tst if n == 2 else (tst,))]
    expect = ty if return_sequences else tst[0]
    outs = out if return_state else (out,)
    touts = (expect, *tst) if return_state else (expect,)
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape) and o.dtype == np.float32
        close(o.numpy(), t.detach().numpy(), "output")
    ups = [rand(*o.shape, seed=9 + i) for i, o in enumerate(outs)]
    sum(((o * sj.tensor(u)).sum() for o, u in zip(outs, ups)), start=sj.tensor(0.0)).backward()
    sum((t * torch.tensor(u)).sum() for t, u in zip(touts, ups)).backward()
    check_grads([(layer, ref, "_l0")], x, tx, states, tstates)


def padded_batch(lengths=(6, 4, 1), vocab=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), T), np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, vocab, n)
    return ids


@pytest.mark.parametrize("name", list(LAYERS))
def test_embedding_mask_zero_in_sequential_matches_packed_torch(name):
    cls, ref = pair(name)
    lengths = (6, 4, 1)
    ids = padded_batch(lengths)
    emb = nn.Embedding(9, D, mask_zero=True)
    rnn = cls(H).load_torch_weights(ref)
    model = sj.Sequential([emb, nn.Dropout(0.5), rnn])
    model.eval()  # dropout off; the mask still has to pass through it
    temb = torch.nn.Embedding(9, D)
    temb.weight.data[...] = torch.tensor(emb.embeddings.numpy())
    packed = torch.nn.utils.rnn.pack_padded_sequence(temb(torch.tensor(ids)), list(lengths),
                                                     batch_first=True)
    h = ref(packed)[1]
    h = (h[0] if name == "LSTM" else h)[0]
    y = model(ids)
    close(y.numpy(), h.detach().numpy(), "last valid state")
    g = rand(B, H, seed=3)
    (y * sj.tensor(g)).sum().backward()
    (h * torch.tensor(g)).sum().backward()
    close(emb.embeddings.grad.numpy(), temb.weight.grad.numpy(), "d embeddings")
    tp = dict(ref.named_parameters())
    for n_, p in rnn.named_parameters():
        close(p.grad.numpy(), tp[n_ + "_l0"].grad.numpy(), f"d {n_}")


class TorchStyleMask(nn.Module):
    """A layer whose ``mask`` is not a padding mask (like torch's TransformerEncoder)."""

    def forward(self, x, mask=None):
        assert mask is None, "a padding mask must not reach a layer without compute_mask"
        return x * 2.0


def test_sequential_mask_propagation_rules():
    ids = padded_batch((6, 2, 3))
    sj.manual_seed(0)
    emb, dense, lstm = nn.Embedding(9, D, mask_zero=True), nn.Dense(D), nn.LSTM(H)
    masked = sj.Sequential([emb, TorchStyleMask(), dense, lstm])(ids)
    h = sj.Sequential([emb, TorchStyleMask(), dense])(ids)
    close(masked.numpy(), lstm(h, mask=ids != 0).numpy(), "mask passed through Dense")
    assert not np.allclose(masked.numpy(), lstm(h).numpy())
    flat = sj.Sequential([emb, lstm, nn.Dense(3)])  # LSTM without sequences ends the mask
    assert flat(ids).shape == (B, 3)


def test_mask_errors_and_explicit_mask():
    layer = nn.LSTM(H, return_sequences=True)
    x = sj.randn(B, T, D)
    with pytest.raises(ValueError, match=r"LSTM 'lstm\w*' got a mask of shape \(3, 5\) for "
                                         r"inputs of shape \(3, 6, 4\).*\(3, 6\)"):
        layer(x, mask=np.ones((3, 5), bool))
    m = np.ones((B, T), bool)
    m[0, 3:] = False
    y = layer(x, mask=sj.tensor(m)).numpy()
    np.testing.assert_array_equal(y[0, 3:], np.broadcast_to(y[0, 2], (3, H)))  # carried


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_matches_torch(name, merge_mode):
    cls, ref = pair(name, bidirectional=True)
    layer = nn.Bidirectional(cls(H, return_sequences=True), merge_mode=merge_mode)
    layer.load_torch_weights(ref)
    lengths = [6, 3, 5]
    mask = np.arange(T)[None] < np.array(lengths)[:, None]
    x_np = rand(B, T, D)
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True,
                                                     enforce_sorted=False)
    ty = torch.nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True)[0]
    f, b = ty[..., :H], ty[..., H:]
    expect = {"concat": ty, "sum": f + b, "ave": (f + b) / 2, "mul": f * b, None: (f, b)}
    out = layer(x, mask=mask)
    outs = out if merge_mode is None else (out,)
    touts = expect[merge_mode] if merge_mode is None else (expect[merge_mode],)
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape)
        close(o.numpy(), t.detach().numpy(), "output")
    ups = [rand(*o.shape, seed=4 + i) for i, o in enumerate(outs)]
    sum(((o * sj.tensor(u)).sum() for o, u in zip(outs, ups)), start=sj.tensor(0.0)).backward()
    sum((t * torch.tensor(u)).sum() for t, u in zip(touts, ups)).backward()
    check_grads([(layer.forward_layer, ref, "_l0"), (layer.backward_layer, ref, "_l0_reverse")],
                x, tx)


def test_bidirectional_states_and_last_output():
    cls, ref = pair("LSTM", bidirectional=True)
    layer = nn.Bidirectional(cls(H, return_state=True)).load_torch_weights(ref)
    x_np = rand(B, T, D)
    out, hf, cf, hb, cb = layer(sj.tensor(x_np))
    ty, (th, tc) = ref(torch.tensor(x_np))
    close(out.numpy(), torch.cat([th[0], th[1]], -1).detach().numpy(), "merged last outputs")
    for a, b in [(hf, th[0]), (cf, tc[0]), (hb, th[1]), (cb, tc[1])]:
        close(a.numpy(), b.detach().numpy(), "state")
    with pytest.raises(TypeError, match="wraps a SimpleRNN, LSTM or GRU"):
        nn.Bidirectional(nn.Dense(3))
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        nn.Bidirectional(nn.GRU(3), merge_mode="max")


def test_stacked_lstm_matches_two_layer_torch():
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H, num_layers=2, batch_first=True)
    l1 = nn.LSTM(H, return_sequences=True).load_torch_weights(ref, layer=0)
    l2 = nn.LSTM(H).load_torch_weights(ref, layer=1)
    model = sj.Sequential([l1, l2])
    x_np = rand(B, T, D)
    x, tx = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y = model(x)
    th = ref(tx)[1][0][-1]
    close(y.numpy(), th.detach().numpy(), "top layer's last state")
    y.sum().backward()
    th.sum().backward()
    check_grads([(l1, ref, "_l0"), (l2, ref, "_l1")], x, tx)


def test_truncated_bptt_with_detached_states():
    layer = nn.LSTM(H, return_sequences=True, return_state=True)
    x = sj.tensor(rand(B, 2 * T, D))
    full, h_full, c_full = layer(x)
    y1, h, c = layer(x[:, :T])
    x2 = sj.tensor(x.numpy()[:, T:], requires_grad=True)
    y2, h2, c2 = layer(x2, initial_state=[h.detach(), c.detach()])
    close(np.concatenate([y1.numpy(), y2.numpy()], 1), full.numpy(), "chunked = full")
    close(h2.numpy(), h_full.numpy(), "final h")
    h2.sum().backward()
    assert x2.grad is not None and h.grad is None and not h.detach().requires_grad


def test_dropout_masks_shared_over_time_and_off_in_eval():
    layer = nn.SimpleRNN(H, activation="linear", dropout=0.5, use_bias=False,
                         return_sequences=True)
    layer(sj.randn(B, T, D))
    layer.weight_hh.data[...] = 0  # output_t = W_ih (x_t ⊙ mask): constant x → constant y
    x = sj.tensor(np.broadcast_to(rand(B, 1, D), (B, T, D)).copy())
    sj.manual_seed(0)
    y = layer(x).numpy()
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :1], y.shape), rtol=1e-6)
    sj.manual_seed(0)
    np.testing.assert_array_equal(layer(x).numpy(), y)  # seeded: repeats
    layer.eval()
    np.testing.assert_allclose(layer(x).numpy(), (x.numpy() @ layer.weight_ih.numpy().T),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(y, layer(x).numpy())
    rec = nn.LSTM(H, recurrent_dropout=0.4, return_sequences=True)
    xs = sj.randn(B, T, D)
    a, b = rec(xs, training=True).numpy(), rec(xs, training=False).numpy()
    assert not np.allclose(a, b) and np.isfinite(a).all()


def test_keras_initialisation():
    sj.manual_seed(1)
    lstm = nn.LSTM(H)
    lstm(sj.randn(2, 3, D))
    b = lstm.bias_ih.numpy()
    np.testing.assert_array_equal(b[H:2 * H], 1)  # unit_forget_bias
    np.testing.assert_array_equal(np.delete(b, np.s_[H:2 * H]), 0)
    np.testing.assert_array_equal(lstm.bias_hh.numpy(), 0)
    w = lstm.weight_hh.numpy().astype(np.float64)  # Keras (H, 4H) orthogonal rows → columns
    np.testing.assert_allclose(w.T @ w, np.eye(H), atol=1e-5)
    limit = np.sqrt(6 / (D + 4 * H))  # glorot on Keras' (D, 4H)
    assert np.abs(lstm.weight_ih.numpy()).max() <= limit
    assert lstm.weight_ih.shape == (4 * H, D)
    gru = nn.GRU(H, bias_initializer="ones")
    gru(sj.randn(2, 3, D))
    assert gru.bias_ih.numpy().min() == gru.bias_hh.numpy().min() == 1


@pytest.mark.parametrize("cls", [nn.SimpleRNN, nn.LSTM, nn.GRU])
def test_gradcheck_layer_float64(cls):
    layer = cls(3, return_sequences=True, go_backwards=True, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    mask = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], bool)
    assert gradcheck(lambda x: layer(x, mask=mask), [x], atol=1e-6, rtol=1e-5).ok
    assert gradcheck(layer, [x], atol=1e-6, rtol=1e-5).ok  # inputs and all weights


def test_config_roundtrip_and_repr():
    lstm = nn.LSTM(7, return_sequences=True, go_backwards=True, dropout=0.1,
                   recurrent_activation="hard_sigmoid", unit_forget_bias=False)
    config = lstm.get_config()
    again = nn.LSTM.from_config(config)
    assert again.get_config() == config
    bi = nn.Bidirectional(nn.GRU(4, return_sequences=True), merge_mode="sum")
    bi2 = nn.Bidirectional.from_config(bi.get_config())
    assert bi2.get_config() == bi.get_config()
    assert bi2.backward_layer.go_backwards and bi2.forward_layer.zero_output_for_mask
    assert "units=7" in repr(lstm)
    assert bi2(sj.randn(2, 3, 5)).shape == (2, 3, 4)
    names = [n for n, _ in bi2.named_parameters()]
    assert names[0] == "forward_layer.weight_ih" and names[-1] == "backward_layer.bias_hh"


def test_layer_errors():
    layer = nn.LSTM(8, name="lstm")
    with pytest.raises(ValueError, match=r"^LSTM 'lstm' expects 3-D input \(batch, time, "
                                         r"features\), got shape \(32, 10\)\.$"):
        layer(sj.randn(32, 10))
    layer(sj.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"LSTM 'lstm' expects inputs with 4 features \(last "
                                         r"axis\), got shape \(2, 3, 5\)"):
        layer(sj.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"expects initial_state as \[h, c\]: 2 tensor\(s\)"):
        layer(sj.randn(2, 3, 4), initial_state=[sj.randn(2, 8)])
    with pytest.raises(ValueError, match=r"initial state c must have shape \(batch, units\) = "
                                         r"\(2, 8\), got \(2, 7\)"):
        layer(sj.randn(2, 3, 4), initial_state=[sj.randn(2, 8), sj.randn(2, 7)])
    with pytest.raises(ValueError, match="positive int for `units`"):
        nn.GRU(0)
    with pytest.raises(ValueError, match="reset_after=True only"):
        nn.GRU(3, reset_after=False)
    with pytest.raises(ValueError, match=r"`activation` in tanh, sigmoid.*got 'gelu'"):
        nn.SimpleRNN(3, activation="gelu")
    with pytest.raises(ValueError, match=r"`dropout` in \[0, 1\)"):
        nn.LSTM(3, dropout=1.0)
    with pytest.raises(KeyError, match="no weight_ih_l3"):
        nn.GRU(3).load_torch_weights(torch.nn.GRU(2, 3), layer=3)
