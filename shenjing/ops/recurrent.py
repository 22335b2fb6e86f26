"""Recurrent sequence ops: SimpleRNN, LSTM and GRU over a whole sequence, one autograd node.

Batch-first inputs (B, T, D); PyTorch's weight layout, gate order and equations, so torch
weights copy in unchanged (``weight_ih`` (G·H, D), ``weight_hh`` (G·H, H), two biases):

    SimpleRNN  h' = act(W_ih x + b_ih + W_hh h + b_hh)
    LSTM       [i f g o] = W_ih x + b_ih + W_hh h + b_hh;  i, f, o = σ(·), g = act(·)
               c' = f⊙c + i⊙g,   h' = o⊙act(c')
    GRU        [r z] = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
               n = act(W_in x + b_in + r⊙(W_hn h + b_hn)),   h' = (1 - z)⊙n + z⊙h

(σ is ``recurrent_activation``, act is ``activation``; torch's are sigmoid and tanh.)

Forward: the input projection of all steps is one matmul (B·T, D)@(D, G·H); each step adds
one h@W_hhᵀ for all gates and does the gate math in place in preallocated buffers, which
keep the gate activations.  Backward through time reuses them: each step does one
(B, G·H)@(G·H, H) product for dh; dW_ih, dW_hh, the biases and dx are one matmul (or sum)
each at the end, over all steps stacked.

Masks (B, T) bool: a masked step leaves the state as it was (h, c carried) and passes no
gradient to the weights or the input; its output is the carried state, or zero with
``zero_output``.  ``reverse`` runs from the last step to the first and returns outputs in
processing order (Keras ``go_backwards``).  ``rec_mask`` (B, H) multiplies h before the
recurrent matmul (Keras recurrent dropout: one mask for every step and gate).

The Function returns one packed array (B, T + S, H): the T outputs, then the S final states
(h; and c for the LSTM); the public functions split it into Tensors.
"""
from __future__ import annotations

from numpy import errstate  # a context manager only (CuPy does not warn)

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._rnn_util import (
    ACTIVATIONS,
    FORWARD,
    input_grad,
    keep_masked,
    new_states,
    out_grads,
    pack,
    prepare,
    prev_h,
    split_masked,
    times_deriv,
)
from ._util import lift
from .shape import getitem


class _Scan(Function):
    """Shared plumbing; subclasses write ``run`` (forward loop) and ``grads`` (BPTT)."""

    n_states = 1

    def forward(self, x, *args, acts, reverse, mask, rec_mask, zero_output):
        xp = array_module(x)
        states, (w_ih, w_hh, *b) = args[:self.n_states], args[self.n_states:]
        w_in, w_rec, bias = self.fused_weights(w_ih, w_hh, b, acts)
        x2, proj, tmask = prepare(x, w_in, bias, mask, reverse)
        with errstate(over="ignore"):
            saved, finals = self.run(xp, proj, states, w_rec, b, tmask, rec_mask, acts)
        self.saved = (x2, x.shape, w_ih, w_hh, tmask, rec_mask, acts, reverse, zero_output,
                      saved)
        return pack(xp, saved[0], finals, tmask, zero_output)

    def fused_weights(self, w_ih, w_hh, b, acts):
        """(W_ih, W_hh, bias) the forward computes with; the bias of the projection."""
        return w_ih, w_hh, (b[0] + b[1] if b else None)

    def backward(self, g):
        x2, shape, w_ih, w_hh, mask, rec_mask, acts, reverse, zero_output, saved = self.saved
        xp = array_module(g)
        dy, dstates = out_grads(xp, g, shape[1], self.n_states, mask, zero_output)
        return self.grads(xp, dy, dstates, saved, x2, w_ih, w_hh, mask, rec_mask, acts,
                          reverse)


def _weight_grads(xp, needs, dg, dh0, more_states, x2, w_ih, hs, rec_mask, reverse, k):
    """Gradients of (x, *states, W_ih, W_hh, b_ih, b_hh) when all gates share one stacked
    pre-activation gradient dg (T, B, G·H) (SimpleRNN, LSTM); k = number of state inputs."""
    T, B, GH = dg.shape
    dg = dg.reshape(T * B, GH)
    dx = input_grad(xp, (dg @ w_ih).reshape(T, B, -1), reverse) if needs[0] else None
    grads = [dx, dh0 if needs[1] else None]
    grads += [s if n else None for s, n in zip(more_states, needs[2:k + 1])]
    grads += [dg.T @ x2 if needs[k + 1] else None,
              dg.T @ prev_h(hs, rec_mask) if needs[k + 2] else None]
    if len(needs) > k + 3:
        db = dg.sum(axis=0)
        grads += [db if needs[k + 3] else None, db if needs[k + 4] else None]
    return tuple(grads)


class SimpleRNNScan(_Scan):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh) over the sequence (see the module docstring)."""

    def run(self, xp, proj, states, w_hh, b, mask, rec_mask, acts):
        T = proj.shape[0]
        hs = new_states(states[0], T, xp, proj.dtype)
        buf, act, whT = xp.empty_like(proj[0]), FORWARD[acts[0]], w_hh.T
        for t in range(T):
            h = hs[t] if rec_mask is None else hs[t] * rec_mask
            xp.matmul(h, whT, out=buf)
            a = proj[t]
            a += buf
            act(a, xp, hs[t + 1])
            keep_masked(xp, hs, t, mask)
        return (hs,), (hs[T],)

    def grads(self, xp, dy, dstates, saved, x2, w_ih, w_hh, mask, rec_mask, acts, reverse):
        (hs,), (dh,) = saved, dstates
        dg = xp.empty_like(dy)
        for t in range(dy.shape[0] - 1, -1, -1):
            dh, carry = split_masked(dh + dy[t], mask, t)
            d = dg[t]
            d[...] = dh
            times_deriv(d, acts[0], hs[t + 1])
            dh = d @ w_hh
            if rec_mask is not None:
                dh *= rec_mask
            if carry is not None:
                dh += carry
        return _weight_grads(xp, self.needs_grad, dg, dh, [], x2, w_ih, hs, rec_mask, reverse,
                             1)


class LSTMScan(_Scan):
    """LSTM over the sequence, gate order i, f, g, o (see the module docstring)."""

    n_states = 2

    def fused_weights(self, w_ih, w_hh, b, acts):
        """With tanh/sigmoid, one pass serves all four gates: the weights are scaled by -1
        (-2 for g) so the pre-activation arrives as -x (-2x), then σ(x) = 1/(1 + e^(-x)) and
        tanh(x) = 2σ(2x) - 1 need no negation pass."""
        w_ih, w_hh, bias = super().fused_weights(w_ih, w_hh, b, acts)
        if tuple(acts) != ("tanh", "sigmoid"):
            return w_ih, w_hh, bias
        H = w_hh.shape[1]
        scale = array_module(w_ih).full(4 * H, -1, w_ih.dtype)
        scale[2 * H:3 * H] = -2
        return (w_ih * scale[:, None], w_hh * scale[:, None],
                None if bias is None else bias * scale)

    def run(self, xp, proj, states, w_hh, b, mask, rec_mask, acts):
        T, B, H4 = proj.shape
        H, fused = H4 // 4, tuple(acts) == ("tanh", "sigmoid")
        act, ract, dt = FORWARD[acts[0]], FORWARD[acts[1]], proj.dtype
        hs, cs = new_states(states[0], T, xp, dt), new_states(states[1], T, xp, dt)
        tc = xp.empty((T, B, H), dt)  # act(c_t), kept for the backward
        buf, tmp, whT = xp.empty((B, H4), dt), xp.empty((B, H), dt), w_hh.T
        for t in range(T):
            h = hs[t] if rec_mask is None else hs[t] * rec_mask
            xp.matmul(h, whT, out=buf)
            a = proj[t]
            a += buf
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            if fused:  # a holds -x (-2x for g): σ = 1/(1 + e^a)
                xp.exp(a, out=a)
                a += 1
                xp.reciprocal(a, out=a)
                g *= 2
                g -= 1
            else:
                ract(a[:, :2 * H], xp, a[:, :2 * H])
                act(g, xp, g)
                ract(o, xp, o)
            c = cs[t + 1]
            xp.multiply(f, cs[t], out=c)
            xp.multiply(i, g, out=tmp)
            c += tmp
            act(c, xp, tc[t])
            xp.multiply(o, tc[t], out=hs[t + 1])
            keep_masked(xp, hs, t, mask)
            keep_masked(xp, cs, t, mask)
        return (hs, cs, tc, proj), (hs[T], cs[T])

    def grads(self, xp, dy, dstates, saved, x2, w_ih, w_hh, mask, rec_mask, acts, reverse):
        hs, cs, tc, gates = saved
        T, B, H = dy.shape
        (dh, dc), (act, ract) = dstates, acts
        dg = xp.empty((T, B, 4 * H), dy.dtype)
        for t in range(T - 1, -1, -1):
            a, d, ct = gates[t], dg[t], tc[t]
            i, g, o = a[:, :H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dh, carry_h = split_masked(dh + dy[t], mask, t)
            dc, carry_c = split_masked(dc, mask, t)
            times_deriv(xp.multiply(dh, ct, out=d[:, 3 * H:]), ract, o)
            dct = dh * o
            times_deriv(dct, act, ct)
            dc += dct
            xp.multiply(dc, g, out=d[:, :H])
            xp.multiply(dc, cs[t], out=d[:, H:2 * H])
            times_deriv(d[:, :2 * H], ract, a[:, :2 * H])
            times_deriv(xp.multiply(dc, i, out=d[:, 2 * H:3 * H]), act, g)
            dc *= a[:, H:2 * H]
            dh = d @ w_hh
            if rec_mask is not None:
                dh *= rec_mask
            if carry_h is not None:
                dh += carry_h
                dc += carry_c
        return _weight_grads(xp, self.needs_grad, dg, dh, [dc], x2, w_ih, hs, rec_mask,
                             reverse, 2)


class GRUScan(_Scan):
    """GRU over the sequence, gate order r, z, n, reset gate after the matmul (torch)."""

    def fused_weights(self, w_ih, w_hh, b, acts):
        if not b:
            return w_ih, w_hh, None
        H = w_hh.shape[1]
        bias = b[0].copy()
        bias[:2 * H] += b[1][:2 * H]  # b_hn stays inside r⊙(W_hn h + b_hn)
        return w_ih, w_hh, bias

    def run(self, xp, proj, states, w_hh, b, mask, rec_mask, acts):
        T, B, H3 = proj.shape
        H = H3 // 3
        act, ract, dt = FORWARD[acts[0]], FORWARD[acts[1]], proj.dtype
        hs = new_states(states[0], T, xp, dt)
        hn = xp.empty((T, B, H), dt)  # W_hn h + b_hn, kept for the backward
        buf, tmp, whT = xp.empty((B, H3), dt), xp.empty((B, H), dt), w_hh.T
        b_hn = b[1][2 * H:] if b else None
        for t in range(T):
            h = hs[t] if rec_mask is None else hs[t] * rec_mask
            xp.matmul(h, whT, out=buf)
            a = proj[t]
            rz, n = a[:, :2 * H], a[:, 2 * H:]
            rz += buf[:, :2 * H]
            ract(rz, xp, rz)
            if b_hn is None:
                hn[t] = buf[:, 2 * H:]
            else:
                xp.add(buf[:, 2 * H:], b_hn, out=hn[t])
            xp.multiply(a[:, :H], hn[t], out=tmp)
            n += tmp
            act(n, xp, n)
            h_new = hs[t + 1]  # h' = n + z⊙(h - n)
            xp.subtract(hs[t], n, out=h_new)
            h_new *= a[:, H:2 * H]
            h_new += n
            keep_masked(xp, hs, t, mask)
        return (hs, proj, hn), (hs[T],)

    def grads(self, xp, dy, dstates, saved, x2, w_ih, w_hh, mask, rec_mask, acts, reverse):
        hs, gates, hn = saved
        T, B, H = dy.shape
        (dh,), (act, ract) = dstates, acts
        dg = xp.empty((T, B, 4 * H), dy.dtype)  # [dr, dz, d(W_hn h + b_hn), dn] pre-activation
        for t in range(T - 1, -1, -1):
            a, d = gates[t], dg[t]
            dh, carry = split_masked(dh + dy[t], mask, t)
            dhz = dh * a[:, H:2 * H]
            dn = xp.subtract(dh, dhz, out=d[:, 3 * H:])
            times_deriv(dn, act, a[:, 2 * H:])
            dz = xp.subtract(hs[t], a[:, 2 * H:], out=d[:, H:2 * H])
            dz *= dh
            xp.multiply(dn, hn[t], out=d[:, :H])
            times_deriv(d[:, :2 * H], ract, a[:, :2 * H])
            xp.multiply(dn, a[:, :H], out=d[:, 2 * H:3 * H])
            dh = d[:, :3 * H] @ w_hh
            if rec_mask is not None:
                dh *= rec_mask
            dh += dhz
            if carry is not None:
                dh += carry
        return self._weight_grads(xp, dg, dh, x2, w_ih, hs, rec_mask, reverse)

    def _weight_grads(self, xp, dg, dh0, x2, w_ih, hs, rec_mask, reverse):
        needs, (T, B, H4) = self.needs_grad, dg.shape
        H, dg = H4 // 4, dg.reshape(T * B, H4)
        dx = dw_ih = None
        if needs[0]:
            dx = dg[:, :2 * H] @ w_ih[:2 * H] + dg[:, 3 * H:] @ w_ih[2 * H:]
            dx = input_grad(xp, dx.reshape(T, B, -1), reverse)
        if needs[2]:
            dw_ih = xp.concatenate([dg[:, :2 * H].T @ x2, dg[:, 3 * H:].T @ x2])
        dw_hh = dg[:, :3 * H].T @ prev_h(hs, rec_mask) if needs[3] else None
        grads = [dx, dh0 if needs[1] else None, dw_ih, dw_hh]
        if len(needs) > 4:
            s = dg.sum(axis=0)
            grads += [xp.concatenate([s[:2 * H], s[3 * H:]]) if needs[4] else None,
                      s[:3 * H] if needs[5] else None]
        return tuple(grads)


# ------------------------------------------------------------------ public functions
def _check_weights(name, gates, x, weight_ih, weight_hh, bias_ih, bias_hh):
    B, T, D = x.shape
    w_ih, w_hh = lift(weight_ih), lift(weight_hh)
    H = w_hh.shape[-1]
    if w_ih.shape != (gates * H, D) or w_hh.shape != (gates * H, H):
        raise ValueError(f"{name}: weight_ih {tuple(w_ih.shape)} and weight_hh "
                         f"{tuple(w_hh.shape)} do not fit input {tuple(x.shape)}: expected "
                         f"({gates * H}, {D}) and ({gates * H}, {H}).")
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError(f"{name}: give both bias_ih and bias_hh, or neither.")
    biases = [] if bias_ih is None else [lift(bias_ih), lift(bias_hh)]
    if any(b.shape != (gates * H,) for b in biases):
        raise ValueError(f"{name}: biases must have shape ({gates * H},), got "
                         f"{[tuple(b.shape) for b in biases]}.")
    return w_ih, w_hh, biases


def _check_states(name, x, states, H):
    xp, B = array_module(x.data), x.shape[0]
    states = [Tensor._wrap(xp.zeros((B, H), x.dtype)) if s is None else lift(s)
              for s in states]
    for s in states:
        if s.shape != (B, H):
            raise ValueError(f"{name}: initial states must have shape (batch, units) = "
                             f"{(B, H)}, got {tuple(s.shape)}.")
    return states


def _raw_mask(name, x, mask, recurrent_dropout_mask):
    xp, m, rm = array_module(x.data), None, recurrent_dropout_mask
    if mask is not None:
        m = xp.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)
        if m.shape != x.shape[:2]:
            raise ValueError(f"{name}: mask has shape {tuple(m.shape)} but the input "
                             f"{tuple(x.shape)} needs (batch, time) = {x.shape[:2]}.")
    if rm is not None:
        rm = xp.asarray(rm.data if isinstance(rm, Tensor) else rm, dtype=x.dtype)
    return m, rm


def _run(cls, name, gates, x, states, weight_ih, weight_hh, bias_ih, bias_hh, acts, mask,
         go_backwards, recurrent_dropout_mask, zero_output_for_mask):
    """Validate, run the fused op, split its packed output into (outputs, *final states)."""
    x = lift(x)
    if x.ndim != 3 or x.dtype.kind != "f":
        raise ValueError(f"{name} expects float input of shape (batch, time, features), got "
                         f"shape {tuple(x.shape)} and dtype {x.dtype}.")
    w_ih, w_hh, biases = _check_weights(name, gates, x, weight_ih, weight_hh, bias_ih, bias_hh)
    states = _check_states(name, x, states, w_hh.shape[-1])
    for t in [*states, w_ih, w_hh, *biases]:
        if t.dtype != x.dtype:
            raise TypeError(f"{name}: all inputs need the input's dtype {x.dtype}, got "
                            f"{t.dtype}; cast them (e.g. .astype('{x.dtype}')).")
    m, rm = _raw_mask(name, x, mask, recurrent_dropout_mask)
    for a in acts:
        if a not in FORWARD:
            raise ValueError(f"{name}: activation {a!r} is not supported by the fused "
                             f"recurrent kernel; choose one of {', '.join(ACTIVATIONS)}.")
    out = cls.apply(x, *states, w_ih, w_hh, *biases, acts=tuple(acts),
                    reverse=bool(go_backwards), mask=m, rec_mask=rm,
                    zero_output=bool(zero_output_for_mask))
    T = x.shape[1]
    return (getitem(out, (slice(None), slice(0, T))),
            *[getitem(out, (slice(None), T + k)) for k in range(len(states))])


def simple_rnn(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, activation="tanh",
               mask=None, go_backwards=False, recurrent_dropout_mask=None,
               zero_output_for_mask=False):
    """Elman RNN over (B, T, D): h' = act(W_ih x + b_ih + W_hh h + b_hh) (torch.nn.RNN).

    Returns ``(outputs (B, T, H), h_T (B, H))``; ``h0=None`` starts from zeros.

    >>> y, h = sj.ops.simple_rnn(sj.randn(2, 5, 3), None, sj.randn(4, 3), sj.randn(4, 4))
    """
    return _run(SimpleRNNScan, "simple_rnn", 1, x, [h0], weight_ih, weight_hh, bias_ih,
                bias_hh, [activation], mask, go_backwards, recurrent_dropout_mask,
                zero_output_for_mask)


def lstm(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, activation="tanh",
         recurrent_activation="sigmoid", mask=None, go_backwards=False,
         recurrent_dropout_mask=None, zero_output_for_mask=False):
    """LSTM over (B, T, D), torch.nn.LSTM's gates i, f, g, o: c' = f⊙c + i⊙g, h' = o⊙tanh(c').

    Returns ``(outputs (B, T, H), h_T, c_T)``; ``h0``/``c0`` None start from zeros.

    >>> y, h, c = sj.ops.lstm(sj.randn(2, 5, 3), None, None, sj.randn(16, 3), sj.randn(16, 4))
    """
    return _run(LSTMScan, "lstm", 4, x, [h0, c0], weight_ih, weight_hh, bias_ih, bias_hh,
                [activation, recurrent_activation], mask, go_backwards,
                recurrent_dropout_mask, zero_output_for_mask)


def gru(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, activation="tanh",
        recurrent_activation="sigmoid", mask=None, go_backwards=False,
        recurrent_dropout_mask=None, zero_output_for_mask=False):
    """GRU over (B, T, D), torch.nn.GRU's gates r, z, n with n = tanh(W_in x + b_in +
    r⊙(W_hn h + b_hn)) and h' = (1 - z)⊙n + z⊙h (Keras ``reset_after=True``).

    Returns ``(outputs (B, T, H), h_T)``.

    >>> y, h = sj.ops.gru(sj.randn(2, 5, 3), None, sj.randn(12, 3), sj.randn(12, 4))
    """
    return _run(GRUScan, "gru", 3, x, [h0], weight_ih, weight_hh, bias_ih, bias_hh,
                [activation, recurrent_activation], mask, go_backwards,
                recurrent_dropout_mask, zero_output_for_mask)
