"""Datasets: anything with ``__len__`` and ``__getitem__``; TensorDataset holds whole arrays.

    ds = sj.data.TensorDataset(x, y)          # x: (N, ...), y: (N,)
    train, val = sj.data.random_split(ds, [0.8, 0.2], seed=0)
    x0, y0 = train[0]
"""
from __future__ import annotations

import abc
import math
import numbers

import numpy as np

from ..random import generator
from ..tensor import Tensor


class Dataset(abc.ABC):
    """A map-style data set: ``len(ds)`` samples, ``ds[i]`` returns sample ``i``.

    Subclasses write ``__len__`` and ``__getitem__``; a sample is usually a tuple
    ``(features, label)`` of arrays or numbers, which ``DataLoader`` stacks into batches.

    >>> class Squares(sj.data.Dataset):
    ...     def __len__(self): return 10
    ...     def __getitem__(self, i): return np.float32(i), np.int64(i * i)
    """

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, index): ...


class TensorDataset(Dataset):
    """Samples are rows of the given arrays: ``ds[i] == (a[i], b[i], ...)``.

    Takes NumPy arrays, ``sj.Tensor`` s or nested lists (turned into NumPy arrays); all must
    share their first dimension.  Items keep the type of their source (Tensor rows come back
    as Tensors without history).  An int index gives one sample; an index array or slice gives
    a tuple of stacked rows.  ``DataLoader`` batches a TensorDataset by indexing whole arrays.

    >>> ds = sj.data.TensorDataset(np.zeros((5, 3)), np.arange(5))
    >>> x, y = ds[np.array([0, 2])]        # x.shape == (2, 3), y.tolist() == [0, 2]
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array, got none.")
        self.arrays = tuple(_as_source(a, i) for i, a in enumerate(arrays))
        lengths = [a.shape[0] for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(
                f"TensorDataset arrays must have the same first dimension (number of samples), "
                f"got lengths {lengths}; check that features and labels line up."
            )

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            index = np.asarray(index, dtype=np.int64)
        return tuple(_index(a, index) for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``sub[i] == dataset[indices[i]]``.

    >>> evens = sj.data.Subset(ds, range(0, len(ds), 2))
    """

    def __init__(self, dataset, indices):
        _check_dataset(dataset, "Subset")
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (numbers.Integral, np.integer)):
            return self.dataset[int(self.indices[index])]
        return self.dataset[self.indices[np.asarray(index) if isinstance(index, list) else index]]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {type(self.dataset).__name__})"


def random_split(dataset, lengths, seed=None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping Subsets of the given ``lengths``.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (counts are
    then floored and the leftover samples go one each to the first splits, as PyTorch does).
    With ``seed`` the permutation comes from ``np.random.default_rng(seed)``; without it from
    ``shenjing.random.generator()`` (so ``sj.manual_seed`` fixes it).

    >>> train, val = sj.data.random_split(ds, [0.8, 0.2], seed=0)
    """
    _check_dataset(dataset, "random_split")
    n = len(dataset)
    counts = _split_counts(list(lengths), n)
    rng = generator() if seed is None else np.random.default_rng(seed)
    order = rng.permutation(n)
    ends = np.cumsum(counts)
    return [Subset(dataset, order[end - c:end]) for c, end in zip(counts, ends)]


def _split_counts(lengths, n):
    if not lengths:
        raise ValueError("random_split needs at least one length, got an empty list.")
    if all(isinstance(v, (numbers.Integral, np.integer)) for v in lengths):
        counts = [int(v) for v in lengths]
        if any(c < 0 for c in counts) or sum(counts) != n:
            raise ValueError(f"random_split lengths {counts} must be non-negative and sum to "
                             f"the dataset size {n} (or be fractions summing to 1).")
        return counts
    fractions = [float(v) for v in lengths]
    if any(f < 0 or f > 1 for f in fractions) or not math.isclose(sum(fractions), 1.0,
                                                                  abs_tol=1e-6):
        raise ValueError(f"random_split fractions {fractions} must lie in [0, 1] and sum to 1 "
                         f"(or give integer counts summing to {n}).")
    counts = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(counts)):  # leftovers, round robin, as torch.utils.data does
        counts[i % len(counts)] += 1
    return counts


def _as_source(a, position):
    """Keep Tensors and raw arrays (NumPy/CuPy) as they are; lists become NumPy arrays."""
    if not isinstance(a, Tensor) and not hasattr(a, "__array_interface__") and \
            not hasattr(a, "__cuda_array_interface__"):
        a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"TensorDataset argument {position} is a scalar (shape ()); each array "
                         f"needs a first dimension indexing the samples.")
    return a


def _index(a, index):
    if isinstance(a, Tensor):
        return Tensor._wrap(a.data[index])
    return a[index]


def _check_dataset(dataset, who):
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"{who} expects a dataset with __len__ and __getitem__ (a Dataset, "
                        f"TensorDataset or sequence), got {type(dataset).__name__}.")
