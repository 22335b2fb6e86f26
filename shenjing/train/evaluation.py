"""``evaluate`` / ``predict`` and the one-batch calls of ``Model`` (eval mode, no graph).

    loss, acc = model.evaluate(x_test, y_test)          # [loss, metric, ...]
    probs = model.predict(x_test, batch_size=256)       # NumPy, on the host
    model.test_on_batch(xb, yb); model.predict_on_batch(xb)

Mixed into ``Model`` (``shenjing.train.model``), which supplies ``_compute_loss``,
``_update_metrics``, ``_logs``, ``_reset_metrics``, ``_require_compiled`` and ``_use_device``.
"""
from __future__ import annotations

import sys

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from . import data_adapter
from .callbacks import CallbackList
from .progress import format_logs

__all__ = ["EvaluationMixin"]


class EvaluationMixin:
    """Evaluation and inference for ``Model``: loss and metrics on data, outputs for inputs."""

    def _test_loop(self, data, cbs=None) -> dict:
        self.eval()
        self._reset_metrics()
        hooks = cbs is not None and cbs.test_batch_hooks
        if cbs is not None:
            cbs.on_test_begin({})
        with no_grad():
            for batch, (xb, yb) in enumerate(data):
                if hooks:
                    cbs.on_test_batch_begin(batch, {})
                y_pred = self(Tensor._wrap(xb))
                value = self._compute_loss(yb, y_pred).item()
                self._update_metrics(value, xb.shape[0], yb, y_pred)
                if hooks:
                    cbs.on_test_batch_end(batch, self._logs())
        logs = self._logs()
        if cbs is not None:
            cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, steps=None, callbacks=None,
                 return_dict=False, device=None):
        """Loss and metrics on ``(x, y)`` (eval mode, no graph), on ``device`` (as ``fit``).

        Returns the loss as a float when there are no metrics, else ``[loss, metric, ...]``
        in ``metrics_names`` order, or a dict with ``return_dict=True``.
        """
        self._require_compiled("evaluate")
        data = data_adapter.on_device(data_adapter.make_batches(
            x, y, batch_size, "evaluate", steps=steps), self._use_device(device))
        cbs = CallbackList(callbacks or (), model=self, params={"steps": data.steps})
        was_training = self.training
        try:
            logs = self._test_loop(data, cbs)
        finally:
            self.train(was_training)
        if verbose:
            print(format_logs(logs), file=sys.stderr, flush=True)
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0, steps=None, device=None):
        """Outputs for ``x`` as a NumPy array on the host (batched, eval mode, no graph),
        computed on ``device`` (as ``fit``).  ``x`` may be a loader; its batches' first field
        is used."""
        data = data_adapter.on_device(data_adapter.make_batches(
            x, None, batch_size, "predict", steps=steps, need_y=False), self._use_device(device))
        outs = []
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for xb, _ in data:
                    outs.append(data_adapter.to_numpy(self(Tensor._wrap(xb))))
        finally:
            self.train(was_training)
        if not outs:
            raise ValueError("predict() got no batches.")
        if isinstance(outs[0], tuple):
            return tuple(np.concatenate(parts) for parts in zip(*outs))
        return np.concatenate(outs)

    def test_on_batch(self, x, y, return_dict=False):
        """Loss (and metrics) on one batch, without updating the weights."""
        self._require_compiled("test_on_batch")
        data = data_adapter.on_device(data_adapter.make_batches(x, y, len(x), "test_on_batch"),
                                      self.device)
        was_training = self.training
        try:
            self._test_loop(data)
        finally:
            self.train(was_training)
        return self._batch_result(return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch as a NumPy array."""
        return self.predict(x, batch_size=len(x))

    def _batch_result(self, return_dict):
        logs = self._logs()
        if return_dict:
            return logs
        values = [logs[n] for n in self.metrics_names]
        return values[0] if len(values) == 1 else values
