"""Fused recurrent ops (sj.ops.simple_rnn / lstm / gru) against torch.nn.RNN/LSTM/GRU with the
same weights: outputs, final states and every gradient; masks against torch run on each
sample's unmasked steps; float64 finite differences; errors."""
import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing.explain import gradcheck

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

B, T, D, H = 3, 7, 4, 5
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
OPS = {"rnn": sj.ops.simple_rnn, "lstm": sj.ops.lstm, "gru": sj.ops.gru}
NAMES = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def torch_ref(kind, bias=True, seed=0):
    torch.manual_seed(seed)
    return TORCH[kind](D, H, batch_first=True, bias=bias)


def run_sj(kind, x, states, weights, **kw):
    """(outputs, *final states) of the shenjing op; None states start from zeros."""
    if kind == "lstm":
        return OPS[kind](x, states[0], states[1], *weights, **kw)
    return OPS[kind](x, states[0], *weights, **kw)


def run_torch(ref, kind, x, states):
    """torch outputs and final states; states given as (B, H) each."""
    if kind == "lstm":
        y, (h, c) = ref(x, (states[0][None], states[1][None]))
        return y, h[0], c[0]
    y, h = ref(x, states[0][None])
    return y, h[0]


def leaves(kind, ref, x_np, seed=1):
    n = 2 if kind == "lstm" else 1
    states = [rand(B, H, seed=seed + i) for i in range(n)]
    sj_x = sj.tensor(x_np, requires_grad=True)
    sj_s = [sj.tensor(s, requires_grad=True) for s in states]
    t_x = torch.tensor(x_np, requires_grad=True)
    t_s = [torch.tensor(s, requires_grad=True) for s in states]
    names = [n for n, _ in ref.named_parameters()]
    sj_w = [sj.tensor(p.detach().numpy().copy(), requires_grad=True)
            for p in ref.parameters()]
    return sj_x, sj_s, sj_w, t_x, t_s, names


def backprop_same(sj_outs, t_outs, seed=5):
    """Backpropagate the same random upstream gradients through both."""
    rng = np.random.default_rng(seed)
    ups = [rng.standard_normal(o.shape).astype(np.float32) for o in sj_outs]
    sum(((o * sj.tensor(u)).sum() for o, u in zip(sj_outs, ups)),
        start=sj.tensor(0.0)).backward()
    sum((o * torch.tensor(u)).sum() for o, u in zip(t_outs, ups)).backward()


def close(a, b, what, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch(kind, go_backwards, bias):
    ref = torch_ref(kind, bias)
    x_np = rand(B, T, D)
    sj_x, sj_s, sj_w, t_x, t_s, names = leaves(kind, ref, x_np)
    outs = run_sj(kind, sj_x, sj_s, sj_w, go_backwards=go_backwards)
    # go_backwards = torch on the time-reversed input, outputs in processing order
    t_outs = run_torch(ref, kind, t_x.flip(1) if go_backwards else t_x, t_s)
    for i, (o, t) in enumerate(zip(outs, t_outs)):
        assert o.shape == tuple(t.shape) and o.dtype == np.float32
        close(o.numpy(), t.detach().numpy(), f"output {i}")
    backprop_same(outs, t_outs)
    close(sj_x.grad.numpy(), t_x.grad.numpy(), "dx")
    for i, (s, t) in enumerate(zip(sj_s, t_s)):
        close(s.grad.numpy(), t.grad.numpy(), f"d initial state {i}")
    for w, name, p in zip(sj_w, names, ref.parameters()):
        assert w.grad.dtype == np.float32
        close(w.grad.numpy(), p.grad.numpy(), f"d {name}")


def unmasked_reference(ref, kind, x_np, states_np, mask):
    """torch on each sample's kept steps only: the semantics of a mask (masked steps are
    skipped; outputs there repeat the carried state)."""
    ys, finals = [], []
    for b in range(len(x_np)):
        keep = np.flatnonzero(mask[b])
        st = [torch.tensor(s[b:b + 1]) for s in states_np]
        y_full = np.empty((x_np.shape[1], H), np.float32)
        prev = states_np[0][b]
        if keep.size:
            out = run_torch(ref, kind, torch.tensor(x_np[b:b + 1, keep]), st)
            y_kept = out[0][0].detach().numpy()
            fin = [o[0].detach().numpy() for o in out[1:]]
        else:
            y_kept, fin = np.empty((0, H)), [s[b] for s in states_np]
        k = 0
        for t in range(x_np.shape[1]):
            if mask[b, t]:
                prev = y_kept[k]
                k += 1
            y_full[t] = prev
        ys.append(y_full)
        finals.append(fin)
    return np.stack(ys), [np.stack([f[i] for f in finals]) for i in range(len(states_np))]


MASKS = {
    "post": np.array([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]]),
    "pre": np.array([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1]]),
    "holes": np.array([[1, 0, 1, 0, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0], [1, 1, 0, 1, 1, 0, 1]]),
}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pattern", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_mask_skips_steps_like_torch_on_unpadded(kind, pattern, go_backwards):
    ref = torch_ref(kind)
    mask = MASKS[pattern].astype(bool)
    x_np = rand(B, T, D)
    sj_x, sj_s, sj_w, _, _, _ = leaves(kind, ref, x_np)
    outs = run_sj(kind, sj_x, sj_s, sj_w, mask=mask, go_backwards=go_backwards)
    # go_backwards: torch on the time-reversed input and mask, outputs in processing order
    flip = (lambda a: a[:, ::-1]) if go_backwards else (lambda a: a)
    y_ref, finals = unmasked_reference(ref, kind, np.ascontiguousarray(flip(x_np)),
                                       [s.numpy() for s in sj_s], flip(mask))
    close(outs[0].numpy(), y_ref, "outputs (masked steps carry the state)")
    for o, f in zip(outs[1:], finals):
        close(o.numpy(), f, "final state")
    # padded steps get no gradient; zero_output_for_mask zeroes their outputs
    (outs[0].sum() + outs[1].sum()).backward()
    assert np.all(sj_x.grad.numpy()[~mask] == 0)
    assert np.any(sj_x.grad.numpy()[mask] != 0)
    y0 = run_sj(kind, sj_x, sj_s, sj_w, mask=mask, zero_output_for_mask=True,
                go_backwards=go_backwards)[0]
    close(y0.numpy(), y_ref * flip(mask)[..., None], "zero outputs at masked steps")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_mask_gradients_match_torch_packed(kind):
    """Right-padded batch: gradients equal torch's pack_padded_sequence ones."""
    ref = torch_ref(kind)
    lengths = [7, 4, 2]
    mask = np.arange(T)[None] < np.array(lengths)[:, None]
    x_np = rand(B, T, D)
    sj_x, sj_s, sj_w, t_x, t_s, names = leaves(kind, ref, x_np)
    outs = run_sj(kind, sj_x, sj_s, sj_w, mask=mask, zero_output_for_mask=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(t_x, lengths, batch_first=True)
    t_outs = run_torch(ref, kind, packed, t_s)
    ty = torch.nn.utils.rnn.pad_packed_sequence(t_outs[0], batch_first=True)[0]
    t_outs = (ty, *t_outs[1:])
    for o, t in zip(outs, t_outs):
        close(o.numpy(), t.detach().numpy(), "output")
    backprop_same(outs, t_outs)
    close(sj_x.grad.numpy(), t_x.grad.numpy(), "dx")
    for s, t in zip(sj_s, t_s):
        close(s.grad.numpy(), t.grad.numpy(), "d initial state")
    for w, name, p in zip(sj_w, names, ref.parameters()):
        close(w.grad.numpy(), p.grad.numpy(), f"d {name}")


def torch_loop(kind, x, states, w_ih, w_hh, b_ih, b_hh, rec):
    """The cell equations step by step in torch, with h multiplied by ``rec`` before the
    recurrent matmul only (Keras' recurrent dropout)."""
    h, ys = states[0], []
    c = states[1] if kind == "lstm" else None
    for t in range(x.shape[1]):
        gi, gh = x[:, t] @ w_ih.T + b_ih, (h * rec) @ w_hh.T + b_hh
        if kind == "rnn":
            h = torch.tanh(gi + gh)
        elif kind == "lstm":
            i, f, g, o = (gi + gh).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            (ir, iz, i_n), (hr, hz, hn) = gi.chunk(3, 1), gh.chunk(3, 1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            h = (1 - z) * torch.tanh(i_n + r * hn) + z * h
        ys.append(h)
    return (torch.stack(ys, 1), h) + ((c,) if kind == "lstm" else ())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_dropout_mask_matches_torch_loop(kind):
    ref = torch_ref(kind)
    x_np = rand(B, T, D)
    rec = (np.random.default_rng(4).random((B, H)) > 0.4).astype(np.float32) / 0.6
    sj_x, sj_s, sj_w, t_x, t_s, names = leaves(kind, ref, x_np)
    t_w = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in ref.parameters()]
    outs = run_sj(kind, sj_x, sj_s, sj_w, recurrent_dropout_mask=rec)
    t_outs = torch_loop(kind, t_x, t_s, *t_w, torch.tensor(rec))
    for i, (o, t) in enumerate(zip(outs, t_outs)):
        close(o.numpy(), t.detach().numpy(), f"output {i}")
    backprop_same(outs, t_outs)
    for a, b, what in [(sj_x, t_x, "dx"), *zip(sj_s, t_s, ["dh0", "dc0"]),
                       *zip(sj_w, t_w, names)]:
        close(a.grad.numpy(), b.grad.numpy(), f"d {what}")


GRADCHECK = [  # (kind, options)
    ("rnn", {}), ("rnn", dict(activation="sigmoid", go_backwards=True)),
    ("lstm", {}), ("lstm", dict(activation="linear", recurrent_activation="sigmoid")),
    ("gru", {}), ("gru", dict(activation="sigmoid", go_backwards=True)),
]


@pytest.mark.parametrize("kind,opts", GRADCHECK)
def test_gradcheck_float64(kind, opts):
    b, t, d, h, g = 2, 4, 3, 3, GATES[kind]
    rng = np.random.default_rng(3)
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 0]], bool)
    rec = (rng.random((b, h)) > 0.3) / 0.7
    arrays = [rng.standard_normal(s) * 0.7 for s in
              [(b, t, d), (b, h), (b, h), (g * h, d), (g * h, h), (g * h,), (g * h,)]]
    if kind != "lstm":
        del arrays[2]

    def f(x, *rest):
        outs = run_sj(kind, x, rest[:-4] if kind == "lstm" else rest[:1], rest[-4:],
                      mask=mask, recurrent_dropout_mask=rec, **opts)
        return sj.concatenate([outs[0].reshape(b, -1), *outs[1:]], axis=1)

    assert gradcheck(f, arrays, atol=1e-6, rtol=1e-5).ok


def test_float64_stays_float64_and_states_default_to_zeros():
    x = sj.tensor(rand(2, 3, 4, dtype=np.float64))
    w_ih, w_hh = sj.tensor(rand(20, 4, dtype=np.float64)), sj.tensor(rand(20, 5, seed=1,
                                                                          dtype=np.float64))
    y, h, c = sj.ops.lstm(x, None, None, w_ih, w_hh)
    assert y.dtype == h.dtype == c.dtype == np.float64
    zeros = sj.tensor(np.zeros((2, 5)))
    y2, _, _ = sj.ops.lstm(x, zeros, zeros, w_ih, w_hh)
    np.testing.assert_array_equal(y.numpy(), y2.numpy())


def test_op_errors():
    x, w_ih, w_hh = sj.randn(2, 3, 4), sj.randn(20, 4), sj.randn(20, 5)
    with pytest.raises(ValueError, match=r"shape \(batch, time, features\), got shape \(2, 3\)"):
        sj.ops.lstm(sj.randn(2, 3), None, None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"expected \(20, 4\) and \(20, 5\)"):
        sj.ops.lstm(x, None, None, sj.randn(20, 3), w_hh)
    with pytest.raises(ValueError, match=r"mask has shape \(2, 4\).*\(batch, time\) = \(2, 3\)"):
        sj.ops.lstm(x, None, None, w_ih, w_hh, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"initial states must have shape .* \(2, 5\), got "
                                         r"\(3, 5\)"):
        sj.ops.lstm(x, sj.randn(3, 5), None, w_ih, w_hh)
    with pytest.raises(TypeError, match="dtype float32"):
        sj.ops.lstm(x, None, None, w_ih.astype("float64"), w_hh)
    with pytest.raises(ValueError, match="activation 'gelu' is not supported"):
        sj.ops.gru(x, None, sj.randn(15, 4), sj.randn(15, 5), activation="gelu")
    with pytest.raises(ValueError, match="both bias_ih and bias_hh"):
        sj.ops.simple_rnn(x, None, sj.randn(5, 4), sj.randn(5, 5), sj.randn(5))
