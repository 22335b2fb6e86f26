"""``TensorBoard``: write training curves, weight/gradient histograms and the model summary
as TensorBoard event files (through tensorboardX, imported when the callback is created).

    model.fit(x, y, epochs=20, validation_split=0.2,
              callbacks=[sj.callbacks.TensorBoard("runs/mlp", histogram_freq=1)])
    # then: tensorboard --logdir runs
"""
from __future__ import annotations

import os

from ..backend import to_numpy
from .callback_base import Callback

__all__ = ["TensorBoard"]


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter  # noqa: PLC0415  (optional, slow to import)
    except ImportError as e:
        raise ImportError("sj.callbacks.TensorBoard writes through tensorboardX, which is not "
                          "installed: pip install shenjing[tensorboard]") from e
    return SummaryWriter


class TensorBoard(Callback):
    """Log to ``log_dir/train`` and ``log_dir/validation`` as Keras does.

    Each epoch (step = epoch, 0-based): every log value as ``epoch_<name>`` (``val_<name>``
    goes to ``validation`` as ``epoch_<name>``) and the optimizer's ``epoch_learning_rate``.
    Every ``histogram_freq`` epochs (0: never): histograms ``weights/<param>`` and, from the
    epoch's last batch, ``gradients/<param>``.  ``write_graph``: the model's ``summary()``
    table as text (tag ``model_summary/text_summary``, the TEXT tab: the layer graph as a
    table, there being no TensorFlow graph to draw).  ``update_freq``: ``"epoch"``, or a
    number of batches between ``batch_<name>`` scalars (step = batches seen since training
    began).

    >>> tb = sj.callbacks.TensorBoard("runs/exp1", histogram_freq=5)
    >>> model.fit(x, y, epochs=50, validation_split=0.1, callbacks=[tb])
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, update_freq="epoch"):
        super().__init__()
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard histogram_freq must be an int >= 0, got "
                             f"{histogram_freq!r}.")
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"TensorBoard update_freq must be 'epoch' or a positive number of "
                             f"batches, got {update_freq!r}.")
        self._SummaryWriter = _summary_writer()
        self.log_dir, self.histogram_freq = os.fspath(log_dir), histogram_freq
        self.write_graph, self.update_freq = write_graph, update_freq
        self._writers = {}
        self._batches = 0
        if update_freq != "epoch":  # only then pay for a per-batch hook
            self.on_train_batch_end = self._batch_end

    def _writer(self, name):
        """The SummaryWriter of ``log_dir/name`` (created on first use)."""
        if name not in self._writers:
            self._writers[name] = self._SummaryWriter(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._summary_written = not self.write_graph

    def _batch_end(self, batch, logs=None):
        self._batches += 1
        if self._batches % self.update_freq == 0:
            writer = self._writer("train")
            for key, value in (logs or {}).items():
                writer.add_scalar("batch_" + key, float(value), self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = self._writer("train")
        for key, value in logs.items():
            if key.startswith("val_"):
                self._writer("validation").add_scalar("epoch_" + key[4:], float(value), epoch)
            else:
                train.add_scalar("epoch_" + key, float(value), epoch)
        optimizer = getattr(self.model, "optimizer", None)
        if "learning_rate" not in logs and optimizer is not None:
            train.add_scalar("epoch_learning_rate", float(optimizer.lr), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_histograms(train, epoch)
        if not self._summary_written:
            self._log_summary(train, epoch)
        for writer in self._writers.values():
            writer.flush()

    def _log_histograms(self, writer, epoch):
        for name, p in self.model.named_parameters():
            writer.add_histogram("weights/" + name, to_numpy(p.data), epoch)
            if p.grad is not None:
                writer.add_histogram("gradients/" + name, to_numpy(p.grad.data), epoch)

    def _log_summary(self, writer, epoch):
        lines = []
        self.model.summary(print_fn=lines.append)
        # four leading spaces: a Markdown code block, so TensorBoard keeps the columns
        writer.add_text("model_summary", "\n".join("    " + line for line in lines), epoch)
        self._summary_written = True

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
