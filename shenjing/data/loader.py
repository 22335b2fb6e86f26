"""DataLoader: iterate over a data set in (shuffled) mini-batches of ``sj.Tensor`` s.

    loader = sj.data.DataLoader(sj.data.TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    for xb, yb in loader:
        ...

Dtypes of batches: float64 NumPy data (and Python floats) become the default float dtype
(float32), because a float64 array in a float32 graph halves the speed; other dtypes are kept
(float32/float16 stay, int64 labels stay int64, uint8 images stay uint8).  Data given as
float64 ``sj.Tensor`` s was made float64 on purpose and stays float64.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes
from ..backend import array_module
from ..random import derive, generator
from ..tensor import Tensor
from .dataset import Subset, TensorDataset, _check_dataset


class DataLoader:
    """Batches of ``dataset``, one epoch per ``for`` loop; each batch is a tuple of Tensors.

    Args:
        dataset: a Dataset (anything with ``__len__`` and ``__getitem__``), or arrays: one
            array/Tensor, or a tuple of them, is wrapped in a ``TensorDataset``.
        batch_size: samples per batch (positive int); the last batch may be smaller.
        shuffle: draw a new random order at the start of every epoch.
        drop_last: drop the last batch when it has fewer than ``batch_size`` samples.
        seed: with a seed, epoch e's order comes from ``shenjing.random.derive(seed, e)``
            alone, so it repeats whatever else draws random numbers (and a loader made anew
            in a resumed run gives the same orders); without one, orders come from
            ``shenjing.random.generator()`` (fixed by ``sj.manual_seed``; ``fit`` derives it
            from the run seed and the epoch).  Only used with ``shuffle=True``.
        collate_fn: turns a list of samples into a batch; given, it is always used (samples
            are fetched one by one).  The default stacks arrays (see ``default_collate``).
        sampler: an iterable of sample indices giving the order of each epoch (re-iterated
            every epoch); it replaces ``shuffle``.

    The loader counts its epochs (each ``for`` loop is one); ``set_epoch(e)`` sets the
    count, as ``fit`` does at the start of every epoch.

    A ``TensorDataset`` (or a ``Subset`` of one, e.g. from ``random_split``) takes the fast
    path: each batch is one fancy-index of each whole array, no per-sample Python loop.  Other
    data sets are read sample by sample and collated.  ``len(loader)`` is the batch count.

    >>> loader = sj.data.DataLoader((x, y), batch_size=32, shuffle=True, seed=0)
    >>> xb, yb = next(iter(loader))          # xb: float32 (32, ...), yb: int64 (32,)
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, seed=None,
                 collate_fn=None, sampler=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size <= 0:
            raise ValueError(f"DataLoader expects a positive int for `batch_size`, "
                             f"got {batch_size!r}.")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader got both `sampler` and `shuffle=True`; the sampler "
                             "decides the order, so pass one or the other.")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"`collate_fn` must be callable, got {type(collate_fn).__name__}.")
        self.dataset = _as_dataset(dataset)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.collate_fn = collate_fn
        self.sampler = sampler
        self._epoch = 0
        if seed is not None and not (isinstance(seed, numbers.Integral) and seed >= 0):
            raise ValueError(f"DataLoader expects a non-negative int for `seed`, got {seed!r}.")

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``for`` loop epoch ``epoch`` (its order, with a ``seed``)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"set_epoch expects a non-negative int, got {epoch!r}.")
        self._epoch = int(epoch)

    def __iter__(self):
        # The epoch's order is drawn here, when the epoch starts, not at the first batch.
        order = self._epoch_order()
        self._epoch += 1
        source = None if self.collate_fn is not None else _fast_source(self.dataset)
        if source is not None:
            return self._fast_batches(order, *source)
        return self._generic_batches(order)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")

    def _epoch_order(self):
        """This epoch's sample indices, or None for 0..n-1 in order (batches become slices)."""
        if self.sampler is not None:
            return np.asarray(list(self.sampler), dtype=np.int64)
        if self.shuffle:
            rng = generator() if self.seed is None else derive(self.seed, self._epoch)
            return rng.permutation(len(self.dataset))
        return None

    def _index_batches(self, order):
        n = len(self.dataset) if order is None else len(order)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            yield slice(start, end) if order is None else order[start:end]

    def _fast_batches(self, order, arrays, index_map):
        for idx in self._index_batches(order):
            if index_map is not None:
                idx = index_map[idx]
            yield tuple(Tensor._wrap(_gather(a, idx)) for a in arrays)

    def _generic_batches(self, order):
        collate = self.collate_fn or default_collate
        for idx in self._index_batches(order):
            if isinstance(idx, slice):
                idx = range(idx.start, idx.stop)
            yield collate([self.dataset[int(i)] for i in idx])


def default_collate(samples):
    """Stack a list of samples into a batch, keeping their structure.

    Tuples/lists of fields give a tuple of batches, dicts a dict, Tensors/arrays/numbers a
    stacked Tensor (float64 NumPy data and Python floats → default float dtype, Python ints →
    int64), strings a list.
    """
    first = samples[0]
    if isinstance(first, Tensor):
        xp = array_module(first.data)
        return Tensor._wrap(xp.stack([s.data for s in samples]))
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields: "
                             f"{sorted({len(s) for s in samples})}.")
        return tuple(default_collate(list(field)) for field in zip(*samples))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, (str, bytes)) or first is None:
        return list(samples)
    return Tensor._wrap(_stack_raw(samples))


def _stack_raw(samples):
    first = samples[0]
    if isinstance(first, numbers.Integral) and not isinstance(first, (bool, np.integer)):
        return np.asarray(samples, dtype=np.int64)
    xp = array_module(first)
    out = xp.stack([xp.asarray(s) for s in samples])
    if out.dtype == object:
        raise TypeError(f"default_collate cannot batch samples of type {type(first).__name__}; "
                        "pass a `collate_fn`.")
    if out.dtype == np.float64:
        out = out.astype(dtypes.get_default_dtype(), copy=False)
    return out


def _as_dataset(data):
    """Arrays given straight to the loader become a TensorDataset."""
    if isinstance(data, Tensor) or hasattr(data, "__array_interface__") or \
            hasattr(data, "__cuda_array_interface__"):
        return TensorDataset(data)
    if isinstance(data, tuple) and data and all(
            isinstance(a, Tensor) or hasattr(a, "shape") for a in data):
        return TensorDataset(*data)
    _check_dataset(data, "DataLoader")
    return data


def _fast_source(dataset):
    """(arrays, index_map) when batches can be cut from whole arrays, else None.

    Only for a TensorDataset (or Subsets of one) whose ``__getitem__`` is not overridden, so a
    subclass that transforms samples keeps its per-sample path.  ``index_map`` maps loader
    positions to array rows (None: identity).
    """
    if type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset.arrays, None
    if type(dataset).__getitem__ is Subset.__getitem__:
        inner = _fast_source(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        return arrays, dataset.indices if index_map is None else index_map[dataset.indices]
    return None


def _gather(a, idx):
    """Rows ``idx`` of ``a`` as a fresh array (a slice is copied so batches never alias data)."""
    raw = a.data if isinstance(a, Tensor) else a
    xp = array_module(raw)
    if xp is not np and not isinstance(idx, slice):
        idx = xp.asarray(idx)
    out = raw[idx]
    dtype = out.dtype
    if dtype == np.float64 and not isinstance(a, Tensor):
        dtype = dtypes.get_default_dtype()
    return out.astype(dtype, copy=isinstance(idx, slice))
