"""DistributedSampler: this rank's share of a data set, reshuffled identically on every rank.

Each epoch every rank draws the same permutation of 0..n-1 from ``(seed, epoch)``, without
communication (the generator of ``np.random.SeedSequence([seed, epoch])``, i.e.
``sj.random.derive(seed, epoch)``, whose first draw is also the order ``Model.fit`` shuffles
arrays with in that epoch of a run with that seed), pads it to a multiple of the world size
W by repeating its first indices (or, with ``drop_last``, cuts the tail), and takes every
W-th index from its rank:

    order   = permutation_{seed, epoch}(n)            (0..n-1 when shuffle=False)
    padded  = order + order[:pad]                      pad = ceil(n/W)·W - n   (< W)
    shard_r = padded[r :: W]                           ceil(n/W) indices on every rank

So the shards of one epoch cover the data set exactly once, plus ``pad`` (< W) repeated
samples; with ``drop_last`` they cover n - (n mod W) samples once, none twice.  Striding keeps
global batches intact: batch k of every rank together is ``padded[k·B·W : (k+1)·B·W]``, the
batch a single process with batch size B·W would take.

    sampler = sj.distributed.DistributedSampler(dataset, shuffle=True, seed=0)
    loader = sj.data.DataLoader(dataset, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)          # a new order each epoch, the same on all ranks
        for xb, yb in loader: ...
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DistributedSampler"]


def _int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"DistributedSampler expects an int >= {low} for `{name}`, got "
                         f"{value!r}.")
    return int(value)


class DistributedSampler:
    """Indices of rank ``rank``'s shard of ``dataset`` (anything with ``len``, or an int n).

    ``num_replicas``/``rank`` default to the world's.  ``shuffle``: a new permutation every
    epoch (``set_epoch``); ``seed`` must be the same on every rank.  ``drop_last``: cut the
    last n mod W samples instead of padding.  ``len(sampler)`` is the shard size.

    >>> s = DistributedSampler(10, num_replicas=4, rank=1, shuffle=False)
    >>> list(s)            # padded order 0..9, 0, 1: every 4th from position 1
    [1, 5, 9]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from .world import get_world  # noqa: PLC0415

            world = get_world()
            num_replicas = world.size if num_replicas is None else num_replicas
            rank = world.rank if rank is None else rank
        self.num_replicas = _int(num_replicas, "num_replicas", 1)
        self.rank = _int(rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not below num_replicas "
                             f"{num_replicas}.")
        n = dataset if isinstance(dataset, numbers.Integral) else len(dataset)
        self.n = _int(n, "the data set size", 0)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _int(seed, "seed", 0)
        self.epoch = 0
        if self.drop_last and self.n < self.num_replicas:
            raise ValueError(f"DistributedSampler with drop_last: {self.n} samples cannot give "
                             f"each of {self.num_replicas} ranks one.")
        if self.drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    @property
    def padding(self) -> int:
        """Samples repeated per epoch to even the shards (0 with ``drop_last``)."""
        return max(0, self.total_size - self.n)

    def set_epoch(self, epoch):
        """Choose the epoch's permutation (call it at the start of every epoch)."""
        self.epoch = _int(epoch, "epoch", 0)

    def global_order(self):
        """The whole epoch's padded (or cut) order; shard r is ``global_order()[r::W]``."""
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch]))
            order = rng.permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.total_size > self.n:
            reps = math.ceil(self.total_size / max(self.n, 1))
            order = np.concatenate([order] + [order] * reps)[:self.total_size]
        return order[:self.total_size]

    def __iter__(self):
        return iter(self.global_order()[self.rank::self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(n={self.n}, rank={self.rank}/{self.num_replicas}, "
                f"shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch}, "
                f"drop_last={self.drop_last})")
