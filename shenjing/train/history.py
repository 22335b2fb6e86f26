"""History: what ``fit`` returns — the per-epoch logs, as in Keras.

    history = model.fit(x, y, epochs=10, validation_split=0.2)
    history.history["loss"]          # [0.91, 0.52, ...] one float per epoch
    history.history["val_accuracy"]  # present when there is validation data
    history.epoch                    # [0, 1, ..., 9]
    history.params                   # {"epochs": 10, "steps": 3, "verbose": 1, ...}
"""
from __future__ import annotations

from .callbacks import Callback

__all__ = ["History"]


class History(Callback):
    """Records the epoch-end logs of one ``fit`` call; ``fit`` returns it.

    ``history`` maps each log name (``"loss"``, ``"accuracy"``, ``"val_loss"``, ...) to a
    list with one float per epoch; ``epoch`` lists the epoch indices (0-based, as Keras);
    ``params`` holds fit's settings; ``model`` is the model trained.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key):
        """``history["loss"]`` as a shortcut for ``history.history["loss"]``."""
        return self.history[key]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self.epoch)}{', ' + last if last else ''})"
