"""Learning-rate callbacks: ``LearningRateScheduler`` (a function of the epoch, or a
PyTorch-style scheduler object) and ``ReduceLROnPlateau`` (Keras's)."""
from __future__ import annotations

import inspect
import sys

import numpy as np

from .callback_base import Callback, MonitorCallback

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


def _say(verbose, text):
    if verbose:
        print(text, file=sys.stderr, flush=True)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate from a schedule; ``logs["learning_rate"]`` records it.

    ``schedule`` is either
      * a function ``schedule(epoch, lr) -> new lr`` (Keras; ``schedule(epoch)`` also
        accepted), called at the start of each epoch (0-based), or
      * an ``sj.optim.lr_scheduler`` object built on the model's optimizer: it is stepped so
        that epoch ``e`` trains with its step ``e`` (``update_freq="epoch"``, catching up when
        fit starts at ``initial_epoch``), or after every batch (``update_freq="batch"``, for
        ``OneCycleLR``); a ``ReduceLROnPlateau`` scheduler is stepped with ``logs[monitor]``
        at the end of each epoch.

    >>> sj.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    >>> sched = sj.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    >>> model.compile(optimizer=opt, loss="mse")
    >>> model.fit(x, y, epochs=30, callbacks=[sj.callbacks.LearningRateScheduler(sched)])
    """

    def __init__(self, schedule, verbose=0, update_freq="epoch", monitor="val_loss"):
        super().__init__()
        self.stepper = hasattr(schedule, "step") and hasattr(schedule, "state_dict")
        if not self.stepper and not callable(schedule):
            raise TypeError(f"LearningRateScheduler expects a function (epoch, lr) -> lr or an "
                            f"sj.optim.lr_scheduler object, got {type(schedule).__name__}.")
        if update_freq not in ("epoch", "batch"):
            raise ValueError(f"LearningRateScheduler update_freq must be 'epoch' or 'batch', "
                             f"got {update_freq!r}.")
        self.schedule, self.verbose = schedule, verbose
        self.update_freq, self.monitor = update_freq, monitor
        self.on_plateau = self.stepper and hasattr(schedule, "is_better")
        if self.stepper and update_freq == "batch":  # only then pay for a per-batch hook
            self.on_train_batch_end = lambda batch, logs=None: self.schedule.step()

    def on_epoch_begin(self, epoch, logs=None):
        if self.stepper:
            while (self.update_freq == "epoch" and not self.on_plateau
                   and self.schedule.last_epoch < epoch):
                self.schedule.step()
            return
        opt = self.model.optimizer
        lr = self._call(epoch, float(opt.lr))
        if not isinstance(lr, (float, int, np.floating, np.integer)) or isinstance(lr, bool):
            raise ValueError(f"the LearningRateScheduler schedule must return a number, got "
                             f"{lr!r} at epoch {epoch}.")
        opt.lr = float(lr)
        _say(self.verbose, f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate "
                           f"to {float(lr)}.")

    def _call(self, epoch, lr):
        try:
            inspect.signature(self.schedule).bind(epoch, lr)
        except TypeError:  # the one-argument form schedule(epoch)
            return self.schedule(epoch)
        except ValueError:  # no signature to inspect (a builtin): try the Keras form
            pass
        return self.schedule(epoch, lr)

    def on_epoch_end(self, epoch, logs=None):
        if self.on_plateau:
            value = (logs or {}).get(self.monitor)
            if value is None:
                raise KeyError(f"LearningRateScheduler: the ReduceLROnPlateau scheduler "
                               f"monitors {self.monitor!r}, which is not in the logs "
                               f"(available: {sorted(logs or {})}).")
            self.schedule.step(value)
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.lr)

    def get_state(self) -> dict:
        return self.schedule.state_dict() if self.stepper else {}

    def set_state(self, state: dict) -> None:
        if self.stepper and state:
            self.schedule.load_state_dict(state)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (Keras).

    Improvement: ``current < best - min_delta`` (mode ``"min"``; ``"max"``: ``> best +
    min_delta``).  After a reduction, ``cooldown`` epochs pass before bad epochs count again;
    the rate never goes below ``min_lr``.  Adds ``logs["learning_rate"]`` (before any change).

    >>> model.fit(x, y, epochs=50, validation_split=0.2, callbacks=[
    ...     sj.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3)])
    """

    _state = ("best", "wait", "cooldown_counter")

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau factor must be in [0, 1), got {factor!r}.")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = float(factor), patience, verbose
        self.cooldown, self.min_lr = cooldown, float(min_lr)

    def _reset(self):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["learning_rate"] = float(opt.lr)
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(opt, epoch)

    def _reduce(self, opt, epoch):
        old = float(opt.lr)
        if old > np.float32(self.min_lr):
            opt.lr = new = max(old * self.factor, self.min_lr)
            _say(self.verbose, f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                               f"to {new}.")
            self.cooldown_counter, self.wait = self.cooldown, 0
