"""Callbacks: objects whose hooks ``fit`` calls at the start and end of training, epochs and
batches (Keras hook names).

    class PrintLoss(sj.train.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, logs["loss"])

    model.fit(x, y, epochs=5, callbacks=[PrintLoss(), sj.train.EarlyStopping(patience=2)])

``logs`` holds the running means of the loss and metrics (``"loss"``, ``"accuracy"``, and at
epoch end ``"val_loss"``, ...).  A callback reaches the model as ``self.model`` and may set
``self.model.stop_training = True``.
"""
from __future__ import annotations

import math
import sys
import warnings

__all__ = ["Callback", "CallbackList", "EarlyStopping", "LambdaCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: override the hooks you need; every hook does nothing by default.

    ``on_train_batch_begin/end`` call ``on_batch_begin/end`` (the older Keras names), so a
    subclass may override either spelling.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs)
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


def _overrides(cb, *names) -> bool:
    """True if ``cb`` defines any of the hooks ``names`` (in its class or on the instance)."""
    return any(n in vars(cb) or getattr(type(cb), n) is not getattr(Callback, n) for n in names)


class CallbackList:
    """Calls each hook on every callback in order.  Batch hooks are skipped entirely when
    no callback overrides them, so a plain ``fit`` pays nothing per batch for them."""

    def __init__(self, callbacks=(), model=None, params=None):
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be sj.train.Callback instances, got "
                                f"{type(cb).__name__}; wrap functions in LambdaCallback.")
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)
        self._find_batch_hooks()

    def _find_batch_hooks(self):
        batch = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        self.train_batch_hooks = any(_overrides(cb, *batch) for cb in self.callbacks)
        self.test_batch_hooks = any(_overrides(cb, "on_test_batch_begin", "on_test_batch_end")
                                    for cb in self.callbacks)

    def append(self, callback) -> None:
        self.callbacks.append(callback)
        self._find_batch_hooks()

    def set_model(self, model) -> None:
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params) -> None:
        for cb in self.callbacks:
            cb.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)


def _dispatch(name):
    def call(self, *args):
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    call.__name__ = name
    call.__doc__ = f"Call ``{name}`` on every callback, in order."
    return call


for _name in _HOOKS:
    setattr(CallbackList, _name, _dispatch(_name))


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving for ``patience`` epochs.

    An epoch improves when ``current < best - min_delta`` (mode ``"min"``) or
    ``current > best + min_delta`` (mode ``"max"``); ``"auto"`` picks ``"max"`` for
    accuracy/AUC-like names and ``"min"`` otherwise.  With ``restore_best_weights`` the
    weights of the best epoch are put back when training ends (stopped early or not).

    >>> stop = sj.train.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> model.fit(x, y, epochs=100, validation_split=0.2, callbacks=[stop])
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'auto', 'min' or 'max', got {mode!r}.")
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping patience must be a non-negative int, got "
                             f"{patience!r}.")
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.min_delta, self.baseline = abs(float(min_delta)), baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        if mode == "auto":
            name = monitor.lower()
            mode = "max" if any(k in name for k in ("acc", "auc", "precision", "recall",
                                                    "f1")) else "min"
        self.mode = mode

    def _improved(self, current, reference) -> bool:
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping is monitoring {self.monitor!r}, which is not in the "
                          f"logs (available: {sorted(logs or {})}); pass validation data or "
                          f"choose another monitor.", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()  # copies (nn.Module contract)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1})", file=sys.stderr)
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Accepts any hook name as a keyword (``on_train_begin(logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_batch_end(batch, logs)``, ...).
    """

    def __init__(self, **hooks):
        super().__init__()
        allowed = set(_HOOKS) | {"on_batch_begin", "on_batch_end"}
        for name, fn in hooks.items():
            if name not in allowed:
                raise TypeError(f"LambdaCallback got an unknown hook {name!r}; expected one of "
                                f"{sorted(allowed)}.")
            if fn is not None:
                setattr(self, name, fn)
