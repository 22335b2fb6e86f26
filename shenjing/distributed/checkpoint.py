"""Checkpoints for distributed training: rank 0 writes, every rank can read, any world size.

A checkpoint is one ``.npz`` file: the model's ``state_dict`` (``model/<name>``), the
optimizer's state (``optimizer/<index>/<key>`` arrays plus JSON for the rest) and the number
of epochs done.  Nothing in it depends on the number of ranks (every rank holds the same
weights and optimizer state), so a job of 4 ranks can resume one of 2, or a single process.

    sj.distributed.save_checkpoint("ck.npz", model, model.optimizer, epoch=3)  # on all ranks
    epoch = sj.distributed.load_checkpoint("ck.npz", model, model.optimizer)   # 3
    model.fit(x, y, epochs=10, initial_epoch=epoch, distributed=True)
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..backend import to_numpy
from ..io.serialization import write_atomic
from ..train.callbacks import Callback
from .world import get_world

__all__ = ["save_checkpoint", "load_checkpoint", "Checkpoint"]


def _plain(value):
    """NumPy scalars (a step count kept as np.int64) as Python numbers for JSON."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint's JSON part.")


def _pack(model, optimizer, epoch):
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    meta = {"epoch": epoch, "optimizer": None}
    if optimizer is not None and optimizer.param_groups:
        sd = optimizer.state_dict()
        scalars = {}
        for i, s in sd["state"].items():
            for k, v in s.items():
                if hasattr(v, "shape"):
                    arrays[f"optimizer/{i}/{k}"] = to_numpy(v)
                else:
                    scalars.setdefault(str(i), {})[k] = v
        meta["optimizer"] = {"class": type(optimizer).__name__, "scalars": scalars,
                             "param_groups": sd["param_groups"]}
    arrays["meta"] = np.array(json.dumps(meta, default=_plain))
    return arrays


def save_checkpoint(path, model, optimizer=None, epoch=None, world=None):
    """Rank 0 writes ``path`` atomically (temporary file, then ``os.replace``); all ranks
    then meet at a barrier, so the file is complete when any rank returns.  Call it on every
    rank.  ``epoch``: epochs done (the ``initial_epoch`` to resume with)."""
    world = world or get_world()
    path = os.fspath(path)
    if world.rank == 0:
        arrays = _pack(model, optimizer, epoch)

        def write(tmp):
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
                np.savez(f, **arrays)

        write_atomic(path, write)
    world.barrier()
    return path


def load_checkpoint(path, model, optimizer=None):
    """Load a checkpoint into ``model`` (built: its weights must exist) and ``optimizer``
    (bound to ``model``'s parameters first if it is unbound); returns the epoch saved
    (None if none).  Every rank reads the file itself (it must be on a shared file system
    or copied to every machine)."""
    with np.load(os.fspath(path)) as data:
        meta = json.loads(str(data["meta"]))
        state = {k[6:]: data[k] for k in data.files if k.startswith("model/")}
        opt_arrays = {k: data[k] for k in data.files if k.startswith("optimizer/")}
    if any(not m.built for m in model.modules()):
        raise ValueError(f"load_checkpoint: {type(model).__name__} '{model.name}' is not built "
                         "yet; call it once on a batch (or give the first layer input_dim) "
                         "before loading.")
    model.load_state_dict(state)
    saved = meta.get("optimizer")
    if optimizer is not None and saved is not None:
        if not optimizer.param_groups:
            optimizer.bind(list(model.parameters()))
        optimizer.load_state_dict(_optimizer_state(saved, opt_arrays))
    return meta.get("epoch")


def _optimizer_state(saved, arrays):
    state = {}
    for key, value in arrays.items():
        _, i, k = key.split("/", 2)
        state.setdefault(int(i), {})[k] = value
    for i, scalars in saved["scalars"].items():
        state.setdefault(int(i), {}).update(scalars)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()}
              for g in saved["param_groups"]]
    return {"state": state, "param_groups": groups}


class Checkpoint(Callback):
    """A ``fit`` callback: ``save_checkpoint(path, ...)`` after every epoch (rank 0 writes).

    Resume with ``epoch = load_checkpoint(path, model, model.optimizer)`` and
    ``fit(..., initial_epoch=epoch)``, with the same or another number of ranks.

    >>> ck = sj.distributed.Checkpoint("ck.npz")
    >>> model.fit(x, y, epochs=10, distributed=True, callbacks=[ck])
    """

    def __init__(self, path):
        super().__init__()
        self.path = os.fspath(path)

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.path, self.model, self.model.optimizer, epoch + 1)
