"""History: what ``fit`` returns — the per-epoch logs, as in Keras.

    history = model.fit(x, y, epochs=10, validation_split=0.2)
    history.history["loss"]          # [0.91, 0.52, ...] one float per epoch
    history.history["val_accuracy"]  # present when there is validation data
    history.epoch                    # [0, 1, ..., 9]
    history.params                   # {"epochs": 10, "steps": 3, "verbose": 1, ...}
    history.plot("curves.png")       # loss and metric curves, train and validation
"""
from __future__ import annotations

from .callback_base import Callback

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

    def plot(self, path=None, keys=None):
        """One subplot per metric, its training curve and (``val_<name>``) validation curve
        against the epoch (1-based); saved as PNG to ``path`` if given.  Returns the
        matplotlib ``Figure`` (drawn off-screen with Agg: works without a display).

        ``keys``: the metric names to draw (default: every logged name, ``val_`` prefixes
        folded into their metric).

        >>> fig = history.plot("curves.png", keys=["loss", "accuracy"])
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
            from matplotlib.figure import Figure  # noqa: PLC0415
        except ImportError as e:
            raise ImportError("History.plot draws with matplotlib, which is not installed: "
                              "pip install shenjing[plot]") from e
        keys = self._plot_keys(keys)
        fig = Figure(figsize=(4.5 * len(keys), 3.5), layout="constrained")
        FigureCanvasAgg(fig)
        for ax, key in zip(fig.subplots(1, len(keys), squeeze=False)[0], keys):
            for name, label in ((key, "train"), ("val_" + key, "validation")):
                values = self.history.get(name)
                if values:
                    ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
            ax.set(title=key, xlabel="epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        if path is not None:
            fig.savefig(path, format="png", dpi=100)
        return fig

    def _plot_keys(self, keys):
        if keys is None:
            keys = list(dict.fromkeys(k.removeprefix("val_") for k in self.history))
        elif isinstance(keys, str):
            keys = [keys]
        missing = [k for k in keys if k not in self.history and "val_" + k not in self.history]
        if missing or not keys:
            raise ValueError(f"History.plot: nothing logged under {missing or keys}; logged: "
                             f"{sorted(self.history)} (train fit first).")
        return keys

    def __getitem__(self, key):
        """``history["loss"]`` as a shortcut for ``history.history["loss"]``."""
        return self.history[key]

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self.epoch)}{', ' + last if last else ''})"
