"""Magnitude pruning: zero the smallest weights of the kernels and keep them zero.

Kernels are the parameters with two or more axes (Dense / Linear / Conv kernels, recurrent
and embedding matrices); biases and normalisation scales are never pruned.

    scope="global":  one threshold over all kernels together: the ``amount`` fraction of
                     smallest |w| in the whole model is zeroed (layers end up unequally sparse)
    scope="layer":   the ``amount`` fraction of smallest |w| of each kernel

>>> masks = sj.quantize.prune_magnitude(model, amount=0.5)       # {name: bool array}
>>> model.fit(x, y, epochs=3, callbacks=[sj.quantize.KeepPruned(masks)])   # fine-tune
>>> sj.quantize.sparsity(model)
0.5
"""
from __future__ import annotations

import numbers
from collections import OrderedDict

from ..backend import array_module
from ..train.callbacks import Callback

__all__ = ["prune_magnitude", "apply_masks", "sparsity", "KeepPruned"]


def _kernels(model, names=None):
    found = [(n, p) for n, p in model.named_parameters() if p.ndim >= 2]
    if names is not None:
        names = set(names)
        unknown = names - {n for n, _ in found}
        if unknown:
            raise ValueError(f"prune_magnitude: no kernel named {sorted(unknown)}; kernels: "
                             f"{', '.join(n for n, _ in found)}.")
        found = [(n, p) for n, p in found if n in names]
    if not found:
        raise ValueError(f"{type(model).__name__} '{model.name}' has no kernels (parameters "
                         "with 2 or more axes) to prune; is it built?  Call it on a batch.")
    return found


def _keep_mask(values, amount):
    """Bool mask of ``values``' shape: False on the round(amount·n) smallest |values|."""
    xp = array_module(values)
    flat = xp.abs(values).ravel()
    k = int(round(amount * flat.size))
    keep = xp.ones(flat.size, dtype=bool)
    if k:
        keep[xp.argpartition(flat, k - 1)[:k]] = False
    return keep.reshape(values.shape)


def prune_magnitude(model, amount=0.5, scope="global", names=None):
    """Zero the ``amount`` fraction of smallest-magnitude kernel weights, in place.

    Returns the masks, an OrderedDict ``{parameter name: bool array}`` (True = kept), for
    ``apply_masks`` / ``KeepPruned`` during fine-tuning.  ``names`` limits pruning to those
    parameters (``["layers.0.kernel"]``).  Pruning an already pruned model again with a
    larger ``amount`` prunes further (zeros are the smallest weights).

    >>> masks = prune_magnitude(model, amount=0.8, scope="layer")
    """
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or \
            not 0 <= amount <= 1:
        raise ValueError(f"prune_magnitude expects `amount` in [0, 1], got {amount!r}.")
    if scope not in ("global", "layer"):
        raise ValueError(f"prune_magnitude expects scope 'global' or 'layer', got {scope!r}.")
    kernels = _kernels(model, names)
    masks = OrderedDict()
    if scope == "layer":
        for name, p in kernels:
            masks[name] = _keep_mask(p.data, amount)
    else:
        xp = array_module(kernels[0][1].data)
        flat = xp.concatenate([p.data.ravel().astype(xp.float64) for _, p in kernels])
        keep, start = _keep_mask(flat, amount), 0
        for name, p in kernels:
            masks[name] = keep[start:start + p.size].reshape(p.shape)
            start += p.size
    apply_masks(model, masks)
    return masks


def apply_masks(model, masks):
    """Multiply each masked parameter by its mask in place (zero the pruned weights again,
    e.g. after an optimizer step moved them through momentum or weight decay); ``model``."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise KeyError(f"apply_masks: {type(model).__name__} '{model.name}' has no "
                           f"parameter {name!r}.")
        p = params[name]
        if tuple(mask.shape) != tuple(p.shape):
            raise ValueError(f"apply_masks: the mask for {name!r} has shape "
                             f"{tuple(mask.shape)}, the parameter {tuple(p.shape)}.")
        p.data *= mask
    return model


def sparsity(model, masks=None) -> float:
    """Fraction of exact zeros in the kernels (or in the parameters named by ``masks``)."""
    kernels = _kernels(model, None if masks is None else list(masks))
    zeros = sum(int((p.data == 0).sum()) for _, p in kernels)
    return zeros / sum(int(p.size) for _, p in kernels)


class KeepPruned(Callback):
    """Keeps pruned weights at zero while ``fit`` fine-tunes: applies the masks at the start
    of training and after every batch (after the optimizer step).

    >>> model.fit(x, y, epochs=3, callbacks=[sj.quantize.KeepPruned(masks)])
    """

    def __init__(self, masks):
        super().__init__()
        self.masks = masks

    def on_train_begin(self, logs=None):
        apply_masks(self.model, self.masks)

    def on_train_batch_end(self, batch, logs=None):
        apply_masks(self.model, self.masks)
