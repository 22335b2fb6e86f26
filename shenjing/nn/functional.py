"""The ``F`` namespace: stateless functions under PyTorch's names.

    from shenjing.nn import functional as F
    y = F.relu(F.linear(x, weight, bias))      # weight of shape (out, in), as in torch
    loss = F.cross_entropy(logits, labels)

Activations and dropout come from ``shenjing.ops``, the losses from ``shenjing.losses``;
``embedding`` and the recurrent functions (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu`` and
their one-step ``*_cell`` forms) run the fused ops of ``shenjing.ops.recurrent``.
"""
from __future__ import annotations

from .. import ops
from ..losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ..ops import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    elu,
    gelu,
    global_avg_pool2d,
    global_max_pool2d,
    group_norm,
    instance_norm,
    layer_norm,
    leaky_relu,
    log_softmax,
    max_pool1d,
    max_pool2d,
    pad2d,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
    tanh,
    upsample,
)
from ..ops._util import lift

__all__ = ["elu", "gelu", "leaky_relu", "log_softmax", "relu", "selu", "sigmoid", "silu",
           "softmax", "softplus", "swish", "tanh", "dropout", "linear", "mse_loss", "l1_loss",
           "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
           "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d",
           "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d",
           "global_avg_pool2d", "global_max_pool2d", "upsample", "pad2d", "batch_norm",
           "layer_norm", "group_norm", "instance_norm"]


def dropout(x, p=0.5, training=True):
    """Inverted dropout (torch's signature): zero with probability ``p`` when training."""
    return ops.dropout(x, p, training)


def linear(x, weight, bias=None):
    """x @ weightᵀ + bias with ``weight`` of shape (out, in), torch layout."""
    if x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: inputs with {x.shape[-1]} features do not match a weight "
                         f"of shape {tuple(weight.shape)} (out, in).")
    bias = None if bias is None else lift(bias)
    return ops.affine(lift(x), ops.transpose(weight), bias)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """torch's signature for ``ops.scaled_dot_product_attention``: softmax(q kᵀ·scale +
    mask) v; a boolean ``attn_mask`` is True where attention is allowed (as in torch's
    functional form), a float one is added.  Fully masked rows give 0 (torch: NaN)."""
    return ops.scaled_dot_product_attention(query, key, value, mask=attn_mask,
                                            causal=is_causal, dropout=dropout_p, scale=scale)


__all__ += ["scaled_dot_product_attention"]


# ---------------------------------------------------------------- embeddings, recurrent nets
def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) at the integer ids ``input`` → input.shape +
    (dim,) (torch's ``F.embedding``); row ``padding_idx`` receives no gradient."""
    return ops.embedding(input, weight, padding_idx=padding_idx)


# The sequence forms are batch-first, take states of shape (batch, hidden) (None: zeros) and
# weights in torch's layout (``weight_ih_l0`` etc. copy in as they are); they return what a
# one-layer torch.nn.RNN / LSTM / GRU returns, without its leading (layers·directions) axis.
# Keyword options are ``sj.ops.lstm``'s: ``mask`` (batch, time), ``go_backwards``,
# ``recurrent_dropout_mask`` (batch, hidden), ``zero_output_for_mask``.
def rnn_tanh(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, **options):
    """Elman RNN h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) over (B, T, D) →
    ``(output (B, T, H), h_T (B, H))``."""
    return ops.simple_rnn(input, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                          activation="tanh", **options)


def rnn_relu(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, **options):
    """``rnn_tanh`` with relu: h_t = max(0, W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    return ops.simple_rnn(input, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                          activation="relu", **options)


def lstm(input, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, **options):
    """LSTM over (B, T, D), torch's gates i, f, g, o: c_t = f⊙c_{t-1} + i⊙g,
    h_t = o⊙tanh(c_t) → ``(output (B, T, H), (h_T, c_T))`` as torch.nn.LSTM returns.

    >>> y, (h, c) = F.lstm(sj.randn(2, 5, 3), None, None, sj.randn(16, 3), sj.randn(16, 4))
    """
    y, h, c = ops.lstm(input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, **options)
    return y, (h, c)


def gru(input, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, **options):
    """GRU over (B, T, D), torch's gates r, z, n: n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)),
    h_t = (1 - z)⊙n + z⊙h_{t-1} → ``(output (B, T, H), h_T (B, H))``."""
    return ops.gru(input, h0, weight_ih, weight_hh, bias_ih, bias_hh, **options)


def _one_step(fn, x, states, *weights):
    """A cell is the sequence op on a length-1 sequence: (B, D) → final states (B, H)."""
    x = lift(x)
    if x.ndim != 2:
        raise ValueError(f"{fn.__name__}_cell expects input of shape (batch, features), got "
                         f"shape {tuple(x.shape)}.")
    return fn(ops.unsqueeze(x, 1), *states, *weights)[1:]


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``rnn_tanh`` (torch.rnn_tanh_cell): (B, D), h (B, H) → h' (B, H)."""
    return _one_step(rnn_tanh, input, [hx], w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``rnn_relu`` (torch.rnn_relu_cell): (B, D), h (B, H) → h' (B, H)."""
    return _one_step(rnn_relu, input, [hx], w_ih, w_hh, b_ih, b_hh)[0]


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step (torch.lstm_cell, torch.nn.LSTMCell): ``hx = (h, c)`` or None →
    ``(h', c')``."""
    h, c = (None, None) if hx is None else hx
    return _one_step(ops.lstm, input, [h, c], w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (torch.gru_cell, torch.nn.GRUCell): (B, D), h (B, H) → h' (B, H)."""
    return _one_step(gru, input, [hx], w_ih, w_hh, b_ih, b_hh)[0]


__all__ += ["embedding", "rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell",
            "rnn_relu_cell", "lstm_cell", "gru_cell"]
