"""The ``F`` namespace: stateless functions under PyTorch's names.

    from shenjing.nn import functional as F
    y = F.relu(F.linear(x, weight, bias))      # weight of shape (out, in), as in torch
    loss = F.cross_entropy(logits, labels)

Activations and dropout come from ``shenjing.ops``, the losses from ``shenjing.losses``.
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
