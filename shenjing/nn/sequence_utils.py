"""Variable-length sequences: ``pad_sequences`` (Keras) and masks from lengths."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor


def pad_sequences(sequences, maxlen=None, dtype="int64", padding="pre", truncating="pre",
                  value=0):
    """Pad (or cut) a list of sequences to one length: a (num_samples, maxlen) array.

    As Keras: ``maxlen`` defaults to the longest sequence; ``truncating`` drops values from
    the start ("pre") or the end ("post") of longer ones; ``padding`` adds ``value`` before
    ("pre") or after ("post") shorter ones.  Items may themselves be arrays (the result
    gets their trailing shape).  The default dtype is int64 (Keras: int32).

    >>> pad_sequences([[1, 2, 3], [4, 5]], maxlen=2, padding="post")
    array([[2, 3],
           [4, 5]])
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences expects a list of sequences, got "
                         f"{type(sequences).__name__}.")
    if padding not in ("pre", "post"):
        raise ValueError(f'pad_sequences: padding must be "pre" or "post", got {padding!r}.')
    if truncating not in ("pre", "post"):
        raise ValueError(f'pad_sequences: truncating must be "pre" or "post", got '
                         f"{truncating!r}.")
    lengths, sample_shape = [], None
    for s in sequences:
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences expects a list of sequences (lists or arrays), "
                             f"found a non-sequence item {s!r}.")
        lengths.append(len(s))
        if sample_shape is None and len(s):
            sample_shape = np.asarray(s).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None, got "
                         f"{maxlen!r}.")
    x = np.full((len(lengths), int(maxlen), *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return x
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        cut = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if cut.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has items of shape {cut.shape[1:]}, "
                             f"the others {sample_shape}.")
        if padding == "post":
            x[i, :len(cut)] = cut
        else:
            x[i, maxlen - len(cut):] = cut
    return x


def sequence_mask(lengths, maxlen=None, padding="post"):
    """Bool mask (batch, maxlen), True on the first ``lengths[i]`` steps of row i ("post"
    padding) or on the last ones ("pre").

    >>> sequence_mask([1, 3], 4)
    array([[ True, False, False, False],
           [ True,  True,  True, False]])
    """
    n = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if n.ndim != 1 or n.dtype.kind not in "iu" or (n.size and n.min() < 0):
        raise ValueError(f"sequence_mask expects a 1-D array of non-negative int lengths, "
                         f"got {n!r}.")
    maxlen = int(n.max(initial=0)) if maxlen is None else int(maxlen)
    steps = np.arange(maxlen)
    if padding == "post":
        return steps[None, :] < n[:, None]
    if padding == "pre":
        return steps[None, :] >= maxlen - n[:, None]
    raise ValueError(f'sequence_mask: padding must be "pre" or "post", got {padding!r}.')
