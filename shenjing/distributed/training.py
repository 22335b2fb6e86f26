"""``fit`` across ranks: the Keras loop, run on every rank over its shard of the data.

``sj.distributed.fit(model, x, y, ...)`` (what ``model.fit(..., distributed=True)`` calls)
takes ``Model.fit``'s arguments and, on each of the W ranks:

- shards the training data with a ``DistributedSampler`` (one permutation per epoch, the same
  on every rank; padding of < W repeated samples, see ``sampler``); ``batch_size`` is the
  *global* batch, B/W samples per rank, so a run trains the model a single process would
  with the same arguments (``batch_size`` not divisible by W: B//W per rank, with a warning);
- makes the optimizer a ``DistributedOptimizer`` (gradients averaged over the ranks before
  every step; the weights are broadcast from rank 0 when the optimizer gets them);
- averages the epoch's training logs (loss, metrics) over the ranks, so ``History``,
  ``EarlyStopping`` and checkpoints see the same numbers everywhere, and stops every rank
  when a callback stops one;
- averages batch-norm running statistics before validation and at each epoch end;
- with ``compile(..., mixed_precision=True)``: starts every rank from rank 0's loss scale,
  and checks the gradients for inf/NaN after they are averaged (``Model.fit`` calls the
  optimizer's ``synchronize`` before the scaler's step), so all ranks skip a step together;
- validates on the whole validation set on every rank (the same numbers everywhere);
- shows the progress bar (``verbose``) and runs writing callbacks (ModelCheckpoint,
  CSVLogger, TensorBoard, or any with ``rank_zero_only = True``) on rank 0 only.

    mpirun -n 2 python train.py        # train.py: model.fit(x, y, batch_size=64, distributed=True)
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

from ..data import DataLoader, TensorDataset
from ..random import generator
from ..train import data_adapter
from ..train.backup import BackupAndRestore
from ..train.callbacks import Callback
from ..train.model import Model
from .ddp import DistributedOptimizer, broadcast_optimizer_state, broadcast_state, sync_buffers
from .sampler import DistributedSampler
from .world import get_world

__all__ = ["fit", "shard", "DistributedCallback", "rank_zero_only"]

_WRITERS = ("ModelCheckpoint", "CSVLogger", "TensorBoard", "ProgbarLogger")


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
        steps_per_epoch=None, validation_batch_size=None, seed=None, bucket_cap_mb=1.0,
        world=None, distributed=True):
    """``model.fit`` over all ranks (see the module docstring); returns the ``History``.

    ``seed``: the shuffling seed (default: rank 0's run seed of the model, see
    ``shared_seed``).
    ``bucket_cap_mb``: gradient bucket size.  Call it on every rank with the same arguments.

    >>> history = sj.distributed.fit(model, x, y, batch_size=64, epochs=5)
    """
    if not distributed:
        return Model.fit(model, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                         callbacks=callbacks, validation_split=validation_split,
                         validation_data=validation_data, shuffle=shuffle,
                         initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                         validation_batch_size=validation_batch_size)
    world = world or get_world()
    if not getattr(model, "compiled", False):
        raise RuntimeError("call model.compile(optimizer=..., loss=...) before fit().")
    if any(isinstance(cb, BackupAndRestore) for cb in callbacks or ()):
        raise ValueError("BackupAndRestore does not support distributed fit yet (only rank 0 "
                         "would restore and the ranks would diverge); use ModelCheckpoint and "
                         "fit(initial_epoch=model.epoch) after sj.load_model to resume.")
    if validation_split and validation_data is None:
        (x, y), validation_data = data_adapter.split_validation(x, y, validation_split)
    seed = shared_seed(seed, world, model)
    train, sampler = shard(x, y, batch_size, shuffle, seed, world)
    DistributedOptimizer(model.optimizer, bucket_cap_mb, world=world)
    cbs = [DistributedCallback(sampler, world), *rank_zero_only(callbacks or (), world),
           _StopTogether(world)]
    return Model.fit(model, train, epochs=epochs, verbose=verbose if world.rank == 0 else 0,
                     callbacks=cbs, validation_data=validation_data,
                     initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                     validation_batch_size=validation_batch_size or batch_size)


def shared_seed(seed, world, model=None):
    """The shuffling seed, the same on every rank: ``seed``, else rank 0's run seed of
    ``model`` (``Model._run_seed``, saved with the model), which every rank then adopts, so
    that epoch e's order is the one ``Model.fit`` would draw in one process."""
    if seed is None:
        run_seed = getattr(model, "_run_seed", None)
        seed = run_seed() if callable(run_seed) else int(generator().integers(2 ** 31 - 1))
        seed = int(world.broadcast_object(int(seed), 0))
        if hasattr(model, "_seed"):
            model._seed = seed
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"fit(distributed=True) expects a non-negative int seed, got {seed!r}.")
    return int(seed)


def shard(x, y, batch_size, shuffle, seed, world=None):
    """``(loader, sampler)``: this rank's batches of ``(x, y)`` arrays or of a DataLoader.

    Arrays, or a DataLoader's data set, are read through a ``DistributedSampler`` with
    ``batch_size // W`` samples per batch (``batch_size`` is global; the loader's own batch
    size is taken as global too).  Another iterable of batches is taken as already sharded.
    """
    world = world or get_world()
    if data_adapter.is_batch_iterable(x):
        if y is not None or batch_size is not None:
            raise ValueError("fit() got a loader as `x` and also `y` or `batch_size`; a loader "
                             "yields (x, y) batches of its own size, so leave them out.")
        if not isinstance(x, DataLoader):
            return x, None  # a user iterable: assumed to be this rank's shard already
        if isinstance(x.sampler, DistributedSampler):
            return x, x.sampler
        if x.sampler is not None:
            raise ValueError("fit(distributed=True) cannot shard a DataLoader with its own "
                             "sampler; give it an sj.distributed.DistributedSampler instead.")
        dataset, batch_size, shuffle = x.dataset, x.batch_size, x.shuffle
        options = {"drop_last": x.drop_last, "collate_fn": x.collate_fn}
    else:
        batch_size = data_adapter.check_batch_size(batch_size, "fit")
        if y is None:
            raise ValueError("fit() needs targets `y` along with the inputs `x`.")
        dataset = TensorDataset(data_adapter.as_array(x, "x"), data_adapter.as_array(y, "y"))
        options = {}
    sampler = DistributedSampler(dataset, world.size, world.rank, shuffle=bool(shuffle),
                                 seed=seed)
    return DataLoader(dataset, batch_size=per_rank_batch(batch_size, world), sampler=sampler,
                      **options), sampler


def per_rank_batch(batch_size, world):
    """``batch_size // W``; an error when below 1, a warning (rank 0) when not exact."""
    per = batch_size // world.size
    if per == 0:
        raise ValueError(f"fit(distributed=True): the global batch_size={batch_size} is smaller "
                         f"than the {world.size} ranks; use a batch_size of at least "
                         f"{world.size} (a multiple of it).")
    if per * world.size != batch_size and world.rank == 0:
        print(f"shenjing.distributed: batch_size={batch_size} is not a multiple of "
              f"{world.size} ranks; each rank takes {per} (global batch {per * world.size}).",
              file=sys.stderr, flush=True)
    return per


class DistributedCallback(Callback):
    """``fit``'s bookkeeping across ranks (first in the callback list): weights from rank 0
    at the start, the sampler's epoch, batch-norm statistics averaged before validation and
    at epoch end, training logs averaged at epoch end."""

    def __init__(self, sampler=None, world=None):
        super().__init__()
        self.sampler, self.world = sampler, world or get_world()

    def on_train_begin(self, logs=None):
        model, opt = self.model, self.model.optimizer
        if self.world.size > 1 and all(m.built for m in model.modules()):
            broadcast_state(model, 0, self.world)
            if opt is not None and opt.param_groups:
                broadcast_optimizer_state(opt, 0, self.world)
        scaler = getattr(getattr(model, "mixed_precision", None), "scaler", None)
        if self.world.size > 1 and scaler is not None and scaler.is_enabled():
            scaler.load_state_dict(self.world.broadcast_object(scaler.state_dict(), 0))

    def on_epoch_begin(self, epoch, logs=None):
        if self.sampler is not None:  # the model's epoch count, as Model.fit's shuffling
            count = getattr(self.model, "epoch", None)
            self.sampler.set_epoch(count if isinstance(count, int) else epoch)

    def on_test_begin(self, logs=None):
        sync_buffers(self.model, self.world)

    def on_epoch_end(self, epoch, logs=None):
        if self.world.size == 1:
            return
        sync_buffers(self.model, self.world)
        if logs:
            keys = [k for k in logs if not k.startswith("val_")]
            values = self.world.all_reduce(np.array([logs[k] for k in keys], np.float64), "mean")
            logs.update(zip(keys, (float(v) for v in values)))


class _StopTogether(Callback):
    """Last of the user's callbacks: if any rank's callbacks stopped training, all stop."""

    def __init__(self, world):
        super().__init__()
        self.world = world

    def on_epoch_end(self, epoch, logs=None):
        if self.world.size > 1:
            stop = self.world.all_reduce(np.array([float(self.model.stop_training)]), "max")
            self.model.stop_training = bool(stop[0])


class _Silent(Callback):
    """Stands in for a writing callback on ranks other than 0: every hook does nothing."""

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)


def _writes(callback) -> bool:
    return bool(getattr(callback, "rank_zero_only", False)) or any(
        c.__name__ in _WRITERS for c in type(callback).__mro__)


def rank_zero_only(callbacks, world=None):
    """``callbacks`` with the writing ones (ModelCheckpoint, CSVLogger, TensorBoard, progress
    bars, or any with ``rank_zero_only = True``) silenced on ranks other than 0."""
    world = world or get_world()
    if world.rank == 0:
        return list(callbacks)
    return [_Silent(cb) if _writes(cb) else cb for cb in callbacks]
