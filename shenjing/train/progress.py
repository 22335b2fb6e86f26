"""Progress display for ``fit`` (on stderr, so stdout stays free for results).

``verbose=1``: one tqdm bar per epoch: batches done, elapsed time and ETA, batches/s, then
the running loss and metrics and samples/s (validation values added at the epoch's end):

    Epoch 3/10: 100%|█████| 47/47 [00:01<00:00, 40.1batch/s, loss=0.1234, accuracy=0.9876, ...]

``verbose=2``: one line per epoch, as Keras:

    Epoch 3/10 - 1.17s - 1,280 samples/s - loss: 0.1234 - accuracy: 0.9876 - val_loss: 0.2345

``verbose=0``: nothing.  tqdm is imported lazily; without it ``verbose=1`` falls back to the
one-line-per-epoch format.
"""
from __future__ import annotations

import sys
import time

from .callback_base import Callback

__all__ = ["ProgbarLogger", "format_logs"]

_REFRESH_S = 0.1  # reformat the bar's postfix at most this often (formatting costs µs per batch)


def format_logs(logs, sep=" - ", kv=": ") -> str:
    """``loss: 0.1234 - accuracy: 0.9500 - learning_rate: 1.0000e-04`` from a logs dict
    (values under 1e-3 in scientific notation, as Keras)."""
    return sep.join(f"{k}{kv}{_number(v)}" for k, v in logs.items()
                    if isinstance(v, (int, float)))


def _number(v) -> str:
    return f"{v:.4e}" if v and abs(v) < 1e-3 else f"{v:.4f}"


def _seconds(t) -> str:
    """``0.25s``, ``3.10s``, ``42s``: two decimals only where they matter."""
    return f"{t:.0f}s" if t >= 10 else f"{t:.2f}s"


def _tqdm():
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415  (optional; only needed for verbose=1)
    except ImportError:
        return None
    return tqdm


class ProgbarLogger(Callback):
    """Prints training progress; ``fit(verbose=...)`` adds one automatically.

    >>> model.fit(x, y, epochs=5, verbose=2)   # "Epoch 1/5 - 0.2s - 5400 samples/s - loss: ..."
    """

    def __init__(self, verbose=1, file=None):
        super().__init__()
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0 (silent), 1 (progress bar) or 2 (one line per "
                             f"epoch), got {verbose!r}.")
        self.verbose, self.file = verbose, file
        self._bar = None

    @property
    def _out(self):
        return self.file if self.file is not None else sys.stderr

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs")
        self.steps = self.params.get("steps")
        self.samples = self.params.get("samples")
        self.batch_size = self.params.get("batch_size")
        self._tqdm = _tqdm() if self.verbose == 1 else None

    def _seen(self):
        if self.batch_size is None:
            return None
        seen = self._step * self.batch_size
        return seen if self.samples is None else min(seen, self.samples)

    def _rate(self):
        """Training samples per second this epoch (up to the last batch: no validation)."""
        seen, elapsed = self._seen(), self._t_batch - self._t0
        return None if seen is None or elapsed <= 0 else seen / elapsed

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = self._last = self._t_batch = time.perf_counter()
        self._step = 0
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}",
                                   unit="batch", file=self._out, leave=True, dynamic_ncols=True,
                                   mininterval=_REFRESH_S)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._t_batch = now = time.perf_counter()
        if self._bar is None:
            return
        if now - self._last >= _REFRESH_S:
            self._last = now
            self._bar.set_postfix_str(self._postfix(logs or {}), refresh=False)
        self._bar.update(1)

    def _postfix(self, logs):
        text = format_logs(logs, sep=", ", kv="=")
        rate = self._rate()
        return text if rate is None else f"{text}, {rate:,.0f} samples/s"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(logs), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose:
            elapsed = time.perf_counter() - self._t0  # the whole epoch, validation included
            rate = self._rate()
            parts = [f"Epoch {epoch + 1}/{self.epochs}", _seconds(elapsed)]
            if rate is not None:
                parts.append(f"{rate:,.0f} samples/s")
            text = format_logs(logs)
            print(" - ".join(parts + ([text] if text else [])), file=self._out, flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # training stopped mid-epoch (an error or stop_training)
            self._bar.close()
            self._bar = None
