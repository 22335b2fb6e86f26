"""Embedding lookup: rows of a table picked by integer ids, with a scatter-add backward.

    y[..., :] = W[ids[...], :]          dW[v] = Σ_{positions p with ids[p] = v} dy[p]

The gradient is a dense (V, D) array (as torch's default ``sparse=False``) that is zero
except in the rows the batch used.  The scatter-add runs as one ``add.at`` over the flat
element indices ``id·D + j``: NumPy's fast 1-D path, about 5x faster than ``add.at`` on
rows and 3x faster than a sort + ``add.reduceat`` segment sum (64x50 ids into 10000x128).
"""
from __future__ import annotations

import numbers

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import lift


class EmbeddingLookup(Function):
    """y = W[ids]; dW scatter-adds dy into the used rows (repeated ids accumulate).  The row
    ``padding_idx`` (if given) gets no gradient, as in torch."""

    def forward(self, w, ids, padding_idx=None):
        self.saved = (ids, w.shape, padding_idx)
        return array_module(w).take(w, ids, axis=0)

    def backward(self, g):
        ids, (V, D), padding_idx = self.saved
        xp = array_module(g)
        dw = xp.zeros((V, D), g.dtype)
        flat = (ids.reshape(-1, 1).astype(xp.int64) * D + xp.arange(D)).reshape(-1)
        xp.add.at(dw.reshape(-1), flat, g.reshape(-1))
        if padding_idx is not None:
            dw[padding_idx] = 0
        return dw


def integer_ids(ids, who="embedding"):
    """``ids`` as a raw integer array; floats are accepted only when they hold whole numbers."""
    a = ids.data if isinstance(ids, Tensor) else ids
    if not hasattr(a, "dtype"):
        a = lift(a).data
    xp = array_module(a)
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise TypeError(f"{who} expects integer token ids, got dtype {a.dtype}.")
    if a.dtype.kind == "f":
        if a.size and not bool((a == xp.floor(a)).all()):
            raise TypeError(f"{who} expects integer token ids, got non-integral floats "
                            f"(dtype {a.dtype}); round or cast them with .astype('int64').")
        a = a.astype(xp.int64)
    return a


def check_ids(ids, input_dim, who="embedding"):
    """Raise if an id is negative or ≥ ``input_dim``, naming the first bad id."""
    if ids.size == 0:
        return
    xp = array_module(ids)
    # one device-to-host read on a GPU (each read waits for the queued kernels)
    lo, hi = (int(v) for v in xp.stack([ids.min(), ids.max()]).tolist())
    if lo < 0 or hi >= input_dim:
        bad = lo if lo < 0 else hi
        raise IndexError(f"{who} got token id {bad}, outside [0, {input_dim - 1}]: the "
                         f"table has input_dim={input_dim} rows. Raise input_dim to the "
                         "vocabulary size (+1 with mask_zero), or map unknown tokens to a "
                         "valid id.")


def _padding_index(padding_idx, V):
    """torch's rule: an int in [-V, V), negative counting from the end; None for none."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
            or not -V <= padding_idx < V:
        raise ValueError(f"embedding: padding_idx must be an int in [{-V}, {V - 1}] for a "
                         f"table of {V} rows, got {padding_idx!r}.")
    return int(padding_idx) % V


def embedding(ids, weight, padding_idx=None):
    """Look up rows of ``weight`` (V, D) at integer ``ids`` of any shape → ids.shape + (D,).

    ``padding_idx``: that row still gets looked up but receives no gradient (torch's
    ``F.embedding``), so a padding vector stays as initialised.

    >>> sj.ops.embedding(sj.tensor([[1, 2], [0, 1]]), sj.randn(5, 3)).shape
    (2, 2, 3)
    """
    w = lift(weight)
    if w.ndim != 2:
        raise ValueError(f"embedding expects a 2-D weight (num_embeddings, dim), got shape "
                         f"{tuple(w.shape)}.")
    pad = _padding_index(padding_idx, w.shape[0])
    a = integer_ids(ids)
    check_ids(a, w.shape[0])
    return EmbeddingLookup.apply(w, ids=a, padding_idx=pad)
