"""Helpers of the fused recurrent ops (``ops/recurrent.py``): in-place activations with
their derivatives from the output, and the time-major plumbing shared by the three cells."""
from __future__ import annotations

from ..backend import array_module


# ------------------------------------------------------------------ activations
# f(a, xp, out) writes f(a) into out (may be a itself); DERIV[f](y) is f' written with y = f(a).
def _tanh(a, xp, out):
    xp.tanh(a, out=out)


def sigmoid(a, xp, out):  # 1/(1 + e^-a); e^-a = inf for a < -88 gives 0 (warning silenced)
    xp.negative(a, out=out)
    xp.exp(out, out=out)
    out += 1
    xp.reciprocal(out, out=out)


def _hard_sigmoid(a, xp, out):  # Keras 3: relu6(a + 3)/6
    xp.multiply(a, 1 / 6, out=out)
    out += 0.5
    xp.clip(out, 0, 1, out=out)


def _relu(a, xp, out):
    xp.maximum(a, 0, out=out)


def _linear(a, xp, out):
    if out is not a:
        out[...] = a


FORWARD = {"tanh": _tanh, "sigmoid": sigmoid, "hard_sigmoid": _hard_sigmoid,
           "relu": _relu, "linear": _linear}
DERIV = {"tanh": lambda y: 1 - y * y, "sigmoid": lambda y: y - y * y,
         "hard_sigmoid": lambda y: ((y > 0) & (y < 1)) * y.dtype.type(1 / 6),
         "relu": lambda y: y > 0, "linear": None}
ACTIVATIONS = tuple(FORWARD)


def times_deriv(d, name, y):
    """d *= f'(·), f' from the saved activation y."""
    df = DERIV[name]
    if df is not None:
        d *= df(y)


# ------------------------------------------------------------------ shared steps
# Inside the op everything is time-major and in processing order (reversed for
# go_backwards), so each step reads and writes contiguous (B, ·) blocks.
def prepare(x, w_ih, bias, mask, reverse):
    """x as (T·B, D), the projection W_ih x + bias as (T, B, G·H), the mask as (T, B)."""
    xp = array_module(x)
    B, T, D = x.shape
    xt = x.transpose(1, 0, 2)
    mt = None if mask is None else mask.T
    if reverse:
        xt, mt = xt[::-1], None if mt is None else mt[::-1]
    x2 = xp.ascontiguousarray(xt).reshape(T * B, D)
    proj = x2 @ w_ih.T
    if bias is not None:
        proj += bias
    return x2, proj.reshape(T, B, -1), None if mt is None else xp.ascontiguousarray(mt)


def new_states(h0, T, xp, dtype):
    hs = xp.empty((T + 1, *h0.shape), dtype)
    hs[0] = h0
    return hs


def keep_masked(xp, hs, t, mask):
    """Masked rows keep the previous state: hs[t+1] = hs[t] where mask[t] is False."""
    if mask is not None:
        xp.copyto(hs[t + 1], hs[t], where=~mask[t, :, None])


def pack(xp, hs, finals, mask, zero_output):
    """(B, T + S, H): outputs back to batch-first, then the final states."""
    T = hs.shape[0] - 1
    out = xp.empty((hs.shape[1], T + len(finals), hs.shape[2]), hs.dtype)
    out[:, :T] = hs[1:].transpose(1, 0, 2)
    if zero_output and mask is not None:
        out[:, :T] *= mask.T[..., None]
    for k, s in enumerate(finals):
        out[:, T + k] = s
    return out


def out_grads(xp, g, T, n_states, mask, zero_output):
    dy = xp.ascontiguousarray(g[:, :T].transpose(1, 0, 2))
    if zero_output and mask is not None:
        dy *= mask[..., None]
    return dy, [g[:, T + k].copy() for k in range(n_states)]


def split_masked(dh, mask, t):
    """(gradient into this step's computation, gradient carried past a masked step)."""
    if mask is None:
        return dh, None
    new = dh * mask[t, :, None]
    return new, dh - new


def prev_h(hs, rec_mask):
    """h_{t-1} of every step as (T·B, H), as the recurrent matmul saw it."""
    hp = hs[:-1] if rec_mask is None else hs[:-1] * rec_mask
    return hp.reshape(-1, hs.shape[2])


def input_grad(xp, dx, reverse):
    dx = dx[::-1] if reverse else dx
    return xp.ascontiguousarray(dx.transpose(1, 0, 2))
