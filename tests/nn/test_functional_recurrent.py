"""F.embedding and the functional recurrent forms (F.rnn_tanh / rnn_relu / lstm / gru and their
``*_cell`` steps) against torch with the same weights: values, states and every gradient."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import shenjing as sj
from shenjing.nn import functional as F

B, T, D, H = 3, 5, 4, 6
TOL = dict(rtol=1e-4, atol=1e-5)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pairs(*arrays):
    """The same arrays as shenjing and torch leaves that require grad."""
    return ([sj.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def compare(sj_outs, t_outs, sj_leaves, t_leaves):
    """Equal outputs; then the same upstream gradients give equal gradients at every leaf."""
    assert len(sj_outs) == len(t_outs)
    ups = [rand(*o.shape, seed=20 + i) for i, o in enumerate(sj_outs)]
    for o, t in zip(sj_outs, t_outs):
        assert o.shape == tuple(t.shape) and o.dtype == np.float32
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), err_msg="output", **TOL)
    sum(((o * sj.tensor(u)).sum() for o, u in zip(sj_outs, ups)), start=sj.tensor(0.0)).backward()
    sum((t * torch.tensor(u)).sum() for t, u in zip(t_outs, ups)).backward()
    for i, (s, t) in enumerate(zip(sj_leaves, t_leaves)):
        np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), err_msg=f"grad {i}", **TOL)


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(padding_idx):
    ids = np.array([[1, 2, 2, 0], [6, 2, 1, 1]])
    (w,), (tw,) = pairs(rand(7, 3))
    y = F.embedding(sj.tensor(ids), w, padding_idx=padding_idx)
    ty = TF.embedding(torch.tensor(ids), tw, padding_idx=padding_idx)
    compare([y], [ty], [w], [tw])
    if padding_idx is not None:
        assert not w.grad.numpy()[padding_idx].any()  # the padding row learns nothing


def test_embedding_padding_idx_errors():
    with pytest.raises(ValueError, match=r"padding_idx must be an int in \[-7, 6\].*got 7"):
        F.embedding(np.array([1]), sj.randn(7, 3), padding_idx=7)


SEQUENCE = {  # F function, torch module, whether the state is (h, c)
    "rnn_tanh": (F.rnn_tanh, lambda: torch.nn.RNN(D, H, batch_first=True), False),
    "rnn_relu": (F.rnn_relu,
                 lambda: torch.nn.RNN(D, H, nonlinearity="relu", batch_first=True), False),
    "lstm": (F.lstm, lambda: torch.nn.LSTM(D, H, batch_first=True), True),
    "gru": (F.gru, lambda: torch.nn.GRU(D, H, batch_first=True), False),
}


@pytest.mark.parametrize("name", list(SEQUENCE))
@pytest.mark.parametrize("with_state", [True, False])
def test_sequence_functions_match_torch_modules(name, with_state):
    fn, make, two = SEQUENCE[name]
    torch.manual_seed(0)
    ref = make()
    weights = [p.detach().numpy().copy() for p in ref.parameters()]  # ih, hh, b_ih, b_hh
    states = [rand(B, H, seed=s) for s in (1, 2)[:2 if two else 1]] if with_state else []
    leaves, t_leaves = pairs(rand(B, T, D), *states, *weights)
    x, tx = leaves[0], t_leaves[0]
    sj_states = leaves[1:1 + len(states)] or [None] * (2 if two else 1)
    out = fn(x, *sj_states, *leaves[1 + len(states):])
    t_states = [s[None] for s in t_leaves[1:1 + len(states)]]
    t_hx = (tuple(t_states) if two else t_states[0]) if with_state else None
    ty, t_hn = ref(tx, t_hx)
    if two:
        y, (h, c) = out
        t_outs = [ty, t_hn[0][0], t_hn[1][0]]
        sj_outs = [y, h, c]
    else:
        sj_outs, t_outs = list(out), [ty, t_hn[0]]
    # torch's parameters are different leaves: compare their gradients through the module
    compare(sj_outs, t_outs, leaves[:1 + len(states)], t_leaves[:1 + len(states)])
    for w, p in zip(leaves[1 + len(states):], ref.parameters()):
        np.testing.assert_allclose(w.grad.numpy(), p.grad.numpy(), err_msg="d weight", **TOL)


CELLS = {
    "rnn_tanh": (F.rnn_tanh_cell, lambda bias: torch.nn.RNNCell(D, H, bias), False),
    "rnn_relu": (F.rnn_relu_cell, lambda bias: torch.nn.RNNCell(D, H, bias, "relu"), False),
    "lstm": (F.lstm_cell, lambda bias: torch.nn.LSTMCell(D, H, bias), True),
    "gru": (F.gru_cell, lambda bias: torch.nn.GRUCell(D, H, bias), False),
}


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch_cells(name, bias):
    fn, make, two = CELLS[name]
    torch.manual_seed(1)
    ref = make(bias)
    params = list(ref.parameters())  # weight_ih, weight_hh[, bias_ih, bias_hh]
    states = [rand(B, H, seed=s) for s in (1, 2)[:2 if two else 1]]
    leaves, t_leaves = pairs(rand(B, D), *states, *[p.detach().numpy().copy() for p in params])
    n = 1 + len(states)
    hx = tuple(leaves[1:n]) if two else leaves[1]
    out = fn(leaves[0], hx, *leaves[n:])
    t_out = ref(t_leaves[0], tuple(t_leaves[1:n]) if two else t_leaves[1])
    sj_outs, t_outs = (list(out), list(t_out)) if two else ([out], [t_out])
    compare(sj_outs, t_outs, leaves[:n], t_leaves[:n])
    for w, p in zip(leaves[n:], params):
        np.testing.assert_allclose(w.grad.numpy(), p.grad.numpy(), err_msg="d weight", **TOL)


def test_cell_zero_state_and_errors():
    w_ih, w_hh = sj.randn(4 * H, D), sj.randn(4 * H, H)
    h, c = F.lstm_cell(sj.randn(B, D), None, w_ih, w_hh)
    assert h.shape == c.shape == (B, H)
    with pytest.raises(ValueError, match=r"lstm_cell expects input of shape \(batch, features\)"
                                         r", got shape \(3, 1, 4\)"):
        F.lstm_cell(sj.randn(B, 1, D), None, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"^gru expects float input of shape \(batch, time"):
        F.gru(sj.randn(B, D), None, sj.randn(3 * H, D), sj.randn(3 * H, H))
