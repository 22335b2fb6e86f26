"""Callbacks that write files each epoch: ``ModelCheckpoint`` (weights or the whole model)
and ``CSVLogger`` (one row of logs per epoch)."""
from __future__ import annotations

import csv
import os
import sys

from .callback_base import Callback, MonitorCallback

__all__ = ["ModelCheckpoint", "CSVLogger"]


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) as it trains.

    ``filepath`` may hold format fields filled from the epoch (1-based, as Keras), the batch
    (with an integer ``save_freq``) and the logs: ``"ckpt/{epoch:02d}-{val_loss:.2f}.weights"``.
    ``save_freq``: ``"epoch"`` or a number of batches.  With ``save_best_only`` a file is
    written only when ``monitor`` improves on the best so far (``current < best`` for mode
    ``"min"``, ``>`` for ``"max"``), starting from ``initial_value_threshold`` if given; when
    ``monitor`` is missing from the logs it warns and saves anyway (as Keras).

    >>> ckpt = sj.callbacks.ModelCheckpoint("best.weights", monitor="val_accuracy",
    ...                                     save_best_only=True, save_weights_only=True)
    >>> model.fit(x, y, epochs=20, validation_split=0.2, callbacks=[ckpt])
    >>> model.load_weights("best.weights")
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint save_freq must be 'epoch' or a positive number "
                             f"of batches, got {save_freq!r}.")
        self.initial_value_threshold = initial_value_threshold
        super().__init__(monitor, mode)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = save_freq
        self._epoch = 0
        if save_freq != "epoch":  # only then pay for a per-batch hook
            self.on_train_batch_end = self._batch_end

    def _reset(self):
        self.best = self.initial_value_threshold
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, batch, logs or {})

    def _path(self, epoch, batch, logs) -> str:
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as e:
            raise KeyError(f"ModelCheckpoint cannot fill {self.filepath!r}: no field {e} "
                           f"(available: epoch{', batch' if batch is not None else ''}, "
                           f"{', '.join(sorted(logs))}).") from None

    def _should_save(self, epoch, logs, path) -> bool:
        if not self.save_best_only:
            return True
        current = self._monitor_value(logs)
        if current is None:
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self._is_improvement(current, self.best):
            self._say(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
            return False
        self._say(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to "
                  f"{current:.5f}, saving model to {path}")
        self.best = current
        return True

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        elif hasattr(self.model, "save"):
            self.model.save(path)
        else:
            raise AttributeError(f"ModelCheckpoint: {type(self.model).__name__} has no save(); "
                                 "pass save_weights_only=True.")
        if not self.save_best_only:
            self._say(f"Epoch {epoch + 1}: saving model to {path}")

    def _say(self, text):
        if self.verbose:
            print(text, file=sys.stderr, flush=True)


class CSVLogger(Callback):
    """Write the epoch-end logs to a CSV file, one row per epoch, flushed at once.

    Columns: ``epoch`` (0-based, as Keras) then the log names, sorted, from the first epoch.
    ``append=True`` adds to an existing file (its header kept).  When a run resumes through
    ``set_state``, rows logged after the checkpoint are dropped and new rows appended.

    >>> model.fit(x, y, epochs=10, callbacks=[sj.callbacks.CSVLogger("training.csv")])
    >>> open("training.csv").readline()
    'epoch,accuracy,loss\\n'
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self.keys = None
        self.rows = 0
        self._resume_rows = None

    def get_state(self) -> dict:
        return {"rows": self.rows}

    def set_state(self, state: dict) -> None:
        self._resume_rows = int(state.get("rows", 0))

    def on_train_begin(self, logs=None):
        resume, self._resume_rows = self._resume_rows, None
        append = self.append or resume is not None
        existing = self._existing_rows(resume) if append else []
        self._header = not existing
        self.keys = existing[0][1:] if existing else None   # append under the same columns
        self.rows = max(len(existing) - 1, 0)
        self._file = open(self.filename, "a" if append else "w", newline="")
        self._writer = None

    def _existing_rows(self, keep):
        """The file's rows, header first; with ``keep``, cut to the header and ``keep`` rows
        (those logged before the checkpoint being resumed)."""
        if not os.path.exists(self.filename):
            return []
        with open(self.filename, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.sep))
        if keep is not None and len(rows) > keep + 1:
            rows = rows[:keep + 1]
            with open(self.filename, "w", newline="") as f:
                csv.writer(f, delimiter=self.sep).writerows(rows)
        return rows

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, ["epoch", *self.keys], restval="NA",
                                          extrasaction="ignore", delimiter=self.sep)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._file.flush()
        self.rows += 1

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None
