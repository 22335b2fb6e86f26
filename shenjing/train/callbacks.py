"""Callbacks (``sj.callbacks``): objects whose hooks ``fit`` calls at the start and end of
training, epochs and batches (Keras hook names).

    class PrintLoss(sj.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])

    model.fit(x, y, epochs=50, validation_split=0.2, callbacks=[
        PrintLoss(),
        sj.callbacks.EarlyStopping(patience=5, restore_best_weights=True),
        sj.callbacks.ModelCheckpoint("ckpt/epoch{epoch:02d}-{val_loss:.2f}.weights",
                                     save_best_only=True, save_weights_only=True),
        sj.callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
        sj.callbacks.CSVLogger("log.csv"),
        sj.callbacks.TensorBoard("runs/exp1", histogram_freq=1),
        sj.callbacks.TerminateOnNaN(),
        sj.callbacks.BackupAndRestore("ckpt/backup"),   # a rerun resumes where this stopped
    ])

``logs`` holds the running means of the loss and metrics (``"loss"``, ``"accuracy"``, and at
epoch end ``"val_loss"``, ...).  A callback reaches the model as ``self.model`` and may set
``self.model.stop_training = True``; callbacks run in list order, before ``History`` and the
progress bar, so values they add to ``logs`` (``"learning_rate"``) are recorded.
"""
from __future__ import annotations

import sys

from .backup import BackupAndRestore
from .callback_base import Callback, CallbackList, LambdaCallback, MonitorCallback
from .checkpoint_callbacks import CSVLogger, ModelCheckpoint
from .history import History
from .lr_callbacks import LearningRateScheduler, ReduceLROnPlateau
from .progress import ProgbarLogger
from .tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping",
           "History", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
           "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard",
           "TerminateOnNaN"]


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has stopped improving for ``patience`` epochs (Keras 3).

    An epoch improves when ``current < best - min_delta`` (mode ``"min"``) or
    ``current > best + min_delta`` (``"max"``; ``"auto"`` picks it for accuracy-like names).
    Each epoch from ``start_from_epoch`` on adds one to ``wait``; an improvement resets it to 0
    only if it also beats ``baseline`` (when given); training stops once ``wait >= patience``
    (never after the first epoch).  With ``restore_best_weights`` the weights of the best
    epoch (``best_weights``, a ``state_dict`` copy) are put back when training ends, stopped
    early or not.  ``get_state`` holds the counters and those weights, so a run resumed
    from a checkpoint (``model.save`` stores the arrays as ``shenjing/callbacks/<i>/
    best_weights/<name>`` tensors) stops and restores exactly as the uninterrupted run.

    >>> stop = sj.callbacks.EarlyStopping(monitor="val_loss", patience=3,
    ...                                   restore_best_weights=True)
    >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop])
    >>> stop.stopped_epoch, stop.best_epoch     # 0-based, as Keras (0: never stopped)
    """

    _state = ("best", "wait", "stopped_epoch", "best_epoch")

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping patience must be a non-negative int, got "
                             f"{patience!r}.")
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def _reset(self):
        self.best, self.wait, self.stopped_epoch, self.best_epoch = None, 0, 0, 0
        self.best_weights = None

    def get_state(self) -> dict:
        """The counters, plus ``best_weights`` (name → array) once there are any."""
        state = super().get_state()
        if self.best_weights is not None:
            state["best_weights"] = dict(self.best_weights)
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if state.get("best_weights") is not None:
            self.best_weights = dict(state["best_weights"])

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.state_dict(), epoch  # as Keras
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()  # copies
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
        return True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", file=sys.stderr)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.", file=sys.stderr)
            self.model.load_state_dict(self.best_weights)


class TerminateOnNaN(Callback):
    """Stop training gracefully when the loss becomes nan or inf.

    Without it, ``fit`` raises ``NonFiniteLossError`` at the first non-finite loss.  With it,
    that batch's update is skipped, a message goes to stderr, ``model.stop_training`` is set,
    the epoch ends (its logs, with the nan loss, reach ``on_epoch_end`` and ``History``, as in
    Keras) and ``on_train_end`` runs as usual; ``fit`` returns the History.

    >>> terminate = sj.callbacks.TerminateOnNaN()
    >>> history = model.fit(x, y, epochs=10, callbacks=[terminate])
    >>> terminate.stopped_at      # (epoch, batch), 0-based, or None
    """

    def __init__(self):
        super().__init__()
        self.stopped_at = None

    def on_train_begin(self, logs=None):
        self.stopped_at = None
        # the training step calls this instead of raising NonFiniteLossError; a handler left
        # behind by a fit that died of another error is recognised as stale by its History
        self._run = getattr(self.model, "history", None)
        self.model._on_nonfinite_loss = self._terminate

    def on_train_end(self, logs=None):
        if getattr(self.model, "_on_nonfinite_loss", None) == self._terminate:
            del self.model._on_nonfinite_loss

    def _terminate(self, value, epoch, batch) -> bool:
        """Called by the training step on a non-finite loss; True: handled (stop gracefully)."""
        if getattr(self.model, "history", None) is not self._run:
            return False
        self.stopped_at = (epoch, batch)
        print(f"Epoch {epoch + 1}, batch {batch + 1}: invalid loss {value}, terminating "
              "training", file=sys.stderr, flush=True)
        self.model.stop_training = True
        return True
