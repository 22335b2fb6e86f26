"""The callback machinery: ``Callback`` (hook names as Keras), ``CallbackList`` (calls them in
order), ``LambdaCallback`` and ``MonitorCallback`` (the base of callbacks that watch one logged
value: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau).

The concrete callbacks live in ``callbacks.py`` (which re-exports all of this), so import them
from there: ``sj.callbacks.EarlyStopping``.
"""
from __future__ import annotations

import warnings

__all__ = ["Callback", "CallbackList", "LambdaCallback", "MonitorCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")

# names whose larger value is better when mode="auto" (after dropping a "val_" prefix)
_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "fmeasure", "iou", "r2")


class Callback:
    """Base class: override the hooks you need; every hook does nothing by default.

    ``on_train_batch_begin/end`` call ``on_batch_begin/end`` (the older Keras names), so a
    subclass may override either spelling.  ``get_state()``/``set_state(state)`` carry the
    callback's counters across a resumed run (a dict of JSON values and NumPy arrays, which
    ``model.save`` stores as tensors of the file; the default has none).
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def get_state(self) -> dict:
        """What a checkpoint must keep for training to resume as if never stopped."""
        return {}

    def set_state(self, state: dict) -> None:
        """Restore ``get_state()``'s dict (call before ``fit(..., initial_epoch=...)``)."""

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
                raise TypeError(f"callbacks must be sj.callbacks.Callback instances, got "
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


def resolve_mode(who, monitor, mode) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` picks ``"max"`` for accuracy/AUC/precision/recall/
    F1/IoU/R² names and ``"min"`` otherwise (losses, errors)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who} mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = monitor.lower().removeprefix("val_")
    return "max" if any(word in name for word in _MAX_WORDS) else "min"


class MonitorCallback(Callback):
    """Base of callbacks that watch ``logs[monitor]``.

    Improvement: ``current < best - min_delta`` (mode ``"min"``) or ``current > best +
    min_delta`` (``"max"``); ``best is None`` (nothing seen yet) counts any value as one.
    Subclasses list their counters in ``_state`` (saved by ``get_state``) and reset them in
    ``_reset``; ``on_train_begin`` resets, unless ``set_state`` has just restored them.
    """

    _state = ("best",)

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"{type(self).__name__} monitor must be a log name such as "
                            f"'val_loss', got {monitor!r}.")
        self.monitor, self.min_delta = monitor, abs(float(min_delta))
        self.mode = resolve_mode(type(self).__name__, monitor, mode)
        self._resumed = False
        self._reset()

    def _reset(self):
        self.best = None

    def _is_improvement(self, current, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _monitor_value(self, logs):
        """``logs[monitor]`` as a float, or None with a warning naming the available keys."""
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"{type(self).__name__} is monitoring {self.monitor!r}, which is not "
                          f"in the logs (available: {sorted(logs or {})}); pass validation "
                          "data or choose another monitor.", stacklevel=3)
            return None
        return float(current)

    def get_state(self) -> dict:
        return {k: getattr(self, k) for k in self._state}

    def set_state(self, state: dict) -> None:
        for k in self._state:
            if k in state:
                setattr(self, k, state[k])
        self._resumed = True

    def on_train_begin(self, logs=None):
        if not self._resumed:
            self._reset()
        self._resumed = False
