"""``BackupAndRestore``: a run killed mid-way (preemption, crash, Ctrl-C) continues where it
stopped when the same script is simply run again (Keras's ``BackupAndRestore``).

    model.fit(x, y, epochs=50, callbacks=[sj.callbacks.BackupAndRestore("backup/")])

At the end of every epoch (or every ``save_freq`` batches) the whole training state goes,
atomically, to ``<backup_dir>/backup.safetensors`` (a ``model.save`` file): weights,
optimizer and loss-scaler state, ``model.epoch``, the run seed and the callbacks' states,
plus where the run stands: the epoch, and with an integer ``save_freq`` the batches done in
it, the random generator's state after the last of them and the epoch's running loss and
metric sums.  When ``fit`` starts and a backup exists, all of it is loaded into the model
and training continues from there (the ``initial_epoch`` passed is overridden, as in Keras);
a mid-epoch backup skips the epoch's batches already done (the epoch's order is drawn from
``sj.random.derive(seed, epoch)``, so it is the same) and continues with the same dropout
masks, so the resumed run ends bit-identical to an uninterrupted one (on the CPU; on a GPU
a mid-epoch resume draws the rest of that epoch's dropout masks anew).
"""
from __future__ import annotations

import numbers
import os

import numpy as np

from .. import random
from ..metrics import Metric
from .callback_base import Callback
from .data_adapter import ArrayBatches, DeviceBatches, IterableBatches

__all__ = ["BackupAndRestore"]

BACKUP_FILE = "backup.safetensors"


class BackupAndRestore(Callback):
    """Back the training state up to ``backup_dir``; a rerun of ``fit`` resumes from it.

    Args:
        backup_dir: a folder for this run only (created when needed); the backup is the
            file ``backup.safetensors`` in it.
        save_freq: ``"epoch"`` — back up at the end of every epoch — or an int ``n``: after
            every ``n`` training batches (counted across epochs, as Keras), so a run stopped
            mid-epoch resumes at the next batch.  An int needs training data whose order is
            repeatable: arrays, or an ``sj.data.DataLoader`` (without a sampler, or with a
            list/array sampler).
        delete_checkpoint: delete the backup when ``fit`` ends without an error (default),
            so the next run starts afresh; after an exception the last backup always stays.

    The backup is written after the other callbacks' ``on_epoch_end`` (this callback moves
    itself last), so it holds their updated states wherever it is listed.

    >>> model.fit(x, y, epochs=20, callbacks=[sj.callbacks.EarlyStopping(patience=3),
    ...                                       sj.callbacks.BackupAndRestore("run1/backup")])
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            raise ValueError(f"BackupAndRestore needs a folder path for `backup_dir`, got "
                             f"{backup_dir!r}.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, numbers.Integral) or save_freq <= 0):
            raise ValueError(f"BackupAndRestore `save_freq` must be 'epoch' or a positive int "
                             f"(batches between backups), got {save_freq!r}.")
        if not isinstance(delete_checkpoint, bool):
            raise TypeError(f"BackupAndRestore `delete_checkpoint` must be True or False, got "
                            f"{delete_checkpoint!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.delete_checkpoint = delete_checkpoint
        self._epoch = 0  # the epoch running (fit's index)
        self._batches_since_save = 0
        self._position = None  # what get_state reports while a backup is written
        if self.save_freq != "epoch":  # only then does fit call a hook per batch
            self.on_train_batch_end = self._backup_after_batch

    @property
    def path(self) -> str:
        """The backup file: ``<backup_dir>/backup.safetensors``."""
        return os.path.join(self.backup_dir, BACKUP_FILE)

    def get_state(self) -> dict:
        """Where the run stands, while a backup is written (else nothing)."""
        return dict(self._position or {})

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup({"epoch": epoch + 1, "batch": 0, "since_save": 0})

    def _backup_after_batch(self, batch, logs=None):
        self._batches_since_save += 1
        if self._batches_since_save < self.save_freq:
            return
        self._batches_since_save = 0
        self._backup({"epoch": self._epoch, "batch": batch + 1, "since_save": 0,
                      "generator": random.generator().bit_generator.state,
                      "metrics": [_metric_state(m) for m in _tracked_metrics(self.model)]})

    def _backup(self, position):
        self._position = position
        try:
            self.model.save(self.path)  # atomic: a crash mid-write keeps the last backup
        finally:
            self._position = None

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.path):
            os.remove(self.path)
            try:
                os.rmdir(self.backup_dir)  # only if nothing else is in it
            except OSError:
                pass


# ---------------------------------------------------------------- resuming (fit calls this)
class ResumePosition:
    """A mid-epoch backup: ``batches`` of the epoch are done; ``apply`` puts back the random
    stream and the running loss/metric sums as they were after the last of them."""

    def __init__(self, batches, generator_state, metric_states):
        self.batches, self.generator_state = batches, generator_state
        self.metric_states = metric_states

    def apply(self, model) -> None:
        gen = np.random.Generator(np.random.PCG64())
        gen.bit_generator.state = self.generator_state
        random.set_generator(gen)  # a new object: a GPU's dropout generator is reseeded
        for metric, state in zip(_tracked_metrics(model), self.metric_states, strict=True):
            _set_metric_state(metric, state)


def resume_from_backup(model, cbs, train):
    """Called by ``fit`` before ``on_train_begin``: load the backup of the
    ``BackupAndRestore`` among ``cbs`` into ``model``, if there is one.  Returns the epoch
    to start from (None: no backup) and sets ``model._resume_position`` when the backup was
    taken mid-epoch; ``model._resume_states`` then holds the callbacks' saved states."""
    found = [cb for cb in cbs if isinstance(cb, BackupAndRestore)]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"fit() got {len(found)} BackupAndRestore callbacks; pass one.")
    cb = found[0]
    cbs.callbacks.remove(cb)
    cbs.callbacks.append(cb)  # last: backs up after the other callbacks' epoch-end updates
    if cb.save_freq != "epoch":
        _check_repeatable(train)
    cb._batches_since_save = 0
    if not os.path.exists(cb.path):
        return None
    _load_backup(model, cb.path)
    position = next((s["state"] for s in model._resume_states
                     if s["class_name"] == type(cb).__name__), None)
    if not position or "epoch" not in position:
        raise ValueError(f"{cb.path!r} is a model file, not a BackupAndRestore backup; use "
                         "another backup_dir (or delete the file).")
    cb._batches_since_save = int(position.get("since_save", 0))
    if position.get("batch"):
        model._resume_position = ResumePosition(int(position["batch"]),
                                                position["generator"], position["metrics"])
    return int(position["epoch"])


def _check_repeatable(train):
    """An integer save_freq skips batches on resume: the epoch's order must repeat."""
    from ..data.loader import DataLoader  # noqa: PLC0415  (data sits beside train)

    if isinstance(train, DeviceBatches):
        train = train.source
    if isinstance(train, ArrayBatches):
        return
    source = getattr(train, "source", None)
    if isinstance(train, IterableBatches) and isinstance(source, DataLoader) and (
            source.sampler is None or isinstance(source.sampler, (list, tuple, range,
                                                                  np.ndarray))):
        return
    raise ValueError(f"BackupAndRestore with an integer save_freq resumes mid-epoch by "
                     f"skipping the batches already done, which needs data whose order "
                     f"repeats: arrays or an sj.data.DataLoader (no sampler, or a list/array "
                     f"one); got {type(source or train).__name__}. Use save_freq='epoch'.")


def _tracked_metrics(model) -> list:
    """The running sums an epoch's logs come from: loss, regularization, compiled metrics."""
    return [model._loss_tracker, model._reg_tracker, *model.compiled_metrics]


def _metric_state(metric) -> dict:
    """A metric's accumulators: its attributes holding numbers, arrays or None (copies); a
    metric inside it (``"accuracy"``'s chosen one) as ``{"metric": it, "state": ...}``."""
    def is_plain(v):
        if isinstance(v, (list, tuple)):
            return all(is_plain(item) for item in v)
        return v is None or isinstance(v, (numbers.Number, np.ndarray))

    state = {}
    for k, v in vars(metric).items():
        if isinstance(v, Metric):
            state[k] = {"metric": v, "state": _metric_state(v)}
        elif is_plain(v):
            state[k] = v.copy() if isinstance(v, np.ndarray) else v
    return state


def _set_metric_state(metric, state) -> None:
    """The inverse of ``_metric_state`` (an inner metric as saved, rebuilt from its config)."""
    for k, v in state.items():
        if isinstance(v, dict) and isinstance(v.get("metric"), Metric):
            inner = getattr(metric, k, None)
            inner = inner if type(inner) is type(v["metric"]) else v["metric"]
            _set_metric_state(inner, v["state"])
            v = inner
        setattr(metric, k, v)


def _load_backup(model, path) -> None:
    """Load a ``model.save`` file into ``model`` itself (not a new one, unlike
    ``sj.load_model``): weights, optimizer and loss-scaler state, epoch, seed, callback
    states; every key and shape is checked before anything changes."""
    from ..io.config import Decoder  # noqa: PLC0415  (io sits above train)
    from ..io.serialization import ModelFileError, _document, _load_state, _weights, read_file
    from ..io.state import apply_training, build_lazy  # noqa: PLC0415

    tensors, metadata = read_file(path)
    doc = _document(path, metadata)
    saved = doc["model"].get("class_name")
    if saved != type(model).__qualname__:
        raise ModelFileError(f"the backup {path!r} holds a {saved} model, not this "
                             f"{type(model).__qualname__}; give this run its own backup_dir.")
    dec = Decoder(tensors)
    build_lazy(model, (doc.get("structure") or {}).get("shapes", {}), dec)
    _load_state(model, _weights(tensors), path)
    _load_optimizer(model, doc.get("compile") or {}, dec, path)
    apply_training(model, doc.get("training") or {}, dec)


def _load_optimizer(model, doc, dec, path) -> None:
    """The saved optimizer state into the model's own (compiled) optimizer, and the loss
    scaler's state."""
    if doc.get("loss_scaler") and model.mixed_precision.scaler.is_enabled():
        model.mixed_precision.scaler.load_state_dict(doc["loss_scaler"])
    if "groups" not in doc:
        return
    named = dict(model.named_parameters())
    try:
        groups = [{"params": [named[n] for n in g]} for g in doc["groups"]]
        model.optimizer.bind(groups)  # a no-op when already bound to these parameters
        model.optimizer.load_state_dict(dec(doc["state"]))
    except (KeyError, ValueError, RuntimeError) as e:
        raise ValueError(f"the optimizer state in the backup {path!r} does not fit this "
                         f"model's {type(model.optimizer).__name__} ({e}); give this run its "
                         "own backup_dir, or delete the backup to start afresh.") from e
    model._bind_optimizer = bool(doc.get("bind", True))
