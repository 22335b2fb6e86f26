"""Model: Keras-style training (``compile`` / ``fit`` / ``evaluate`` / ``predict``) on any Module.

Subclass ``Model`` and write ``forward`` as in PyTorch, or stack layers in ``Sequential``;
both train through the same ``fit``:

    model = sj.Sequential([Dense(64, input_dim=4, activation="relu"), Dense(3, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=10, batch_size=32, validation_split=0.2)
    loss, acc = model.evaluate(x_test, y_test)

One training step is ``forward → loss → loss.item() (checked finite) → zero_grad → backward →
optimizer.step()``; metrics are updated on the raw arrays of the labels and predictions.

Saving: ``model.save(path)`` writes architecture, weights, compile settings, optimizer and
training state to one safetensors file (``shenjing.io.serialization``); ``sj.load_model(path)``
returns the compiled model, and ``fit(..., initial_epoch=model.epoch)`` continues the run bit
for bit.
"""
from __future__ import annotations

import math

from .. import amp, nn, random
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optim as optim_module
from ..autograd import no_grad
from ..backend import to_device
from ..device import device as sj_device
from ..tensor import Tensor
from . import data_adapter
from .backup import resume_from_backup
from .callbacks import CallbackList
from .compile_utils import resolve_metrics
from .evaluation import EvaluationMixin
from .history import History
from .progress import ProgbarLogger
from .saving import SavingMixin

__all__ = ["Model", "Sequential", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss became nan or inf (names the epoch and batch)."""


class Model(nn.Module, SavingMixin, EvaluationMixin):
    """A Module that trains itself: ``compile``, ``fit``, ``evaluate``, ``predict``.

    >>> class Net(sj.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden, self.out = sj.nn.Dense(32, activation="relu"), sj.nn.Dense(3)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x))
    >>> net = Net()
    >>> net.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> net.fit(x, y, epochs=5)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer = None
        self.loss = None
        self.compiled_metrics = []
        self.loss_weight = 1.0
        self.stop_training = False
        self.history = None
        self.compiled = False
        self._bind_optimizer = False
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._reg_tracker = metrics_module.Mean(name="regularization_loss")
        self._compile_args = None
        self.epoch = 0  # epochs trained so far (saved; fit's initial_epoch to resume from)
        self._seed = None  # the run seed fit derives each epoch's random stream from
        self._callback_list = None  # the running fit's callbacks (save() reads their state)
        self._callback_states = None  # their states at the end of the last fit, or loaded
        self._resume_states = None  # loaded by load_model: for the next fit that resumes
        self._resume_position = None  # a mid-epoch backup's (BackupAndRestore): batches done
        self.mixed_precision = amp.MixedPrecision(False)  # compile(mixed_precision=...)

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                mixed_precision=False):
        """Choose the optimizer, loss and metrics for ``fit``/``evaluate``.

        ``optimizer``: a name (``"adam"``, ``"sgd"``, ...) or an ``sj.optim`` optimizer; an
        unbound one is bound to this model's parameters at the first training step (when lazy
        layers have been built).  ``loss``: a name, a ``sj.losses.Loss`` or a function
        ``fn(y_true, y_pred)``.  ``metrics``: names (``"accuracy"``, ``"mae"``, ...) or
        ``sj.metrics.Metric`` objects.  ``loss_weights``: a number scaling the loss.
        ``mixed_precision``: True or "float16" trains with float16 matmuls/convolutions,
        float32 master weights and dynamic loss scaling (``sj.amp``; logs ``loss_scale``);
        ``model.save`` keeps the policy and the scaler's state, so a resumed run scales on
        exactly as the uninterrupted one.
        """
        mp = amp.MixedPrecision(mixed_precision)  # validates before anything changes
        opt = optim_module.get(optimizer)
        # bind it ourselves unless the user bound it (recompiling with the same one: still ours)
        self._bind_optimizer = not opt.param_groups or (opt is self.optimizer and
                                                        self._bind_optimizer)
        self.optimizer = opt
        self.loss = losses_module.get(loss)
        if loss_weights is not None and not isinstance(loss_weights, (int, float)):
            raise TypeError("loss_weights must be a number for a single-output model, got "
                            f"{type(loss_weights).__name__}.")
        self.loss_weight = 1.0 if loss_weights is None else float(loss_weights)
        self.compiled_metrics = resolve_metrics(metrics, self.loss)
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                              "mixed_precision": mixed_precision}
        self.mixed_precision = mp
        self.compiled = True
        return self

    @property
    def metrics(self) -> list:
        """The loss tracker and the compiled metrics (their ``result()`` is the last logs)."""
        return [self._loss_tracker, *self.compiled_metrics]

    @property
    def metrics_names(self) -> list:
        return [m.name for m in self.metrics]

    def _require_compiled(self, who):
        if not self.compiled:
            raise RuntimeError(f"call model.compile(optimizer=..., loss=...) before {who}().")
        if self.loss is None:
            raise ValueError(f"{who}() needs a loss: model.compile(loss=...) was given none.")

    # ------------------------------------------------------------------ one step
    def _compute_loss(self, y, y_pred):
        loss = self.loss(Tensor._wrap(y), y_pred)
        if not isinstance(loss, Tensor):
            raise TypeError(f"the loss returned {type(loss).__name__}; it must return a Tensor.")
        if loss.ndim:
            loss = loss.mean()
        if self.loss_weight != 1.0:
            loss = loss * self.loss_weight
        reg = self.regularization_loss()  # Σ weight and activity penalties, or None
        if reg is None:
            return loss
        self._reg_tracker.update_state(reg.item(), len(y))
        return loss + reg

    def _ensure_bound(self):
        """Bind the optimizer to parameters created since the last check (lazy layers)."""
        if not self._bind_optimizer:
            return
        params = list(self.parameters())
        if not params:
            raise ValueError(f"{type(self).__name__} '{self.name}' has no parameters to train.")
        opt = self.optimizer
        if not opt.param_groups:
            opt.bind(params)
        else:
            bound = {id(p) for g in opt.param_groups for p in g["params"]}
            new = [p for p in params if id(p) not in bound]
            if new:
                opt.add_param_group({"params": new})

    def _update_metrics(self, loss_value, n, y, y_pred):
        self._loss_tracker.update_state(loss_value, n)
        if self.compiled_metrics:
            pred = y_pred.data if isinstance(y_pred, Tensor) else y_pred
            for m in self.compiled_metrics:
                m.update_state(y, pred)

    def _logs(self) -> dict:
        """Running loss (data loss + regularization, as Keras) and metrics; with
        regularizers also ``regularization_loss``, the penalty part, shown separately."""
        logs = {m.name: m.result() for m in self.metrics}
        if self._reg_tracker.count:
            logs["regularization_loss"] = self._reg_tracker.result()
        return logs

    def _reset_metrics(self):
        for m in (*self.metrics, self._reg_tracker):
            m.reset_state()

    def _nonfinite(self, value, epoch, batch):
        lr = getattr(self.optimizer, "lr", None)
        return NonFiniteLossError(
            f"loss became {value} at epoch {epoch + 1}, batch {batch + 1}; lower the learning "
            f"rate{f' (lr={lr:g})' if isinstance(lr, float) else ''}, check the inputs and "
            "labels for nan/inf (np.isfinite(x).all()), or clip gradients "
            "(e.g. optimizer=sj.optim.Adam(lr=..., clipnorm=1.0)); to stop training without "
            "an error instead, pass callbacks=[sj.callbacks.TerminateOnNaN()].")

    def _train_batch(self, x, y, epoch, batch):
        """Forward, loss, backward, update; returns (loss value, predictions)."""
        mp = self.mixed_precision
        with mp.autocast():
            y_pred = self(Tensor._wrap(x))
            loss = self._compute_loss(y, y_pred)
        value = loss.item()
        if not math.isfinite(value):
            on_nan = getattr(self, "_on_nonfinite_loss", None)  # set by TerminateOnNaN
            if on_nan is None or not on_nan(value, epoch, batch):
                raise self._nonfinite(value, epoch, batch)
            return value, y_pred  # training stops gracefully; this batch's update is skipped
        opt = self.optimizer
        opt.zero_grad()
        mp.backward(loss)
        mp.step(opt)  # (the scaler averages over MPI ranks before its inf/NaN check)
        return value, y_pred

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, validation_batch_size=None, distributed=False, device=None):
        """Train for ``epochs`` passes over ``(x, y)``; returns a ``History``.

        ``x``/``y``: NumPy arrays (float64 becomes float32), Tensors or nested lists; or ``x``
        a ``sj.data.DataLoader`` of ``(x, y)`` batches (then no ``y``, no ``batch_size``).
        ``batch_size`` defaults to 32.  ``validation_split``: the LAST fraction of the
        arrays, taken before shuffling, is held out and evaluated after each epoch (as Keras);
        ``validation_data``: ``(x_val, y_val)`` or a loader.  ``verbose``: 0 silent, 1 a
        progress bar per epoch, 2 one line per epoch (on stderr).  Training stops early when
        a callback sets ``model.stop_training = True``, and with a ``NonFiniteLossError``
        (a ``FloatingPointError``) when the loss becomes nan or inf — or, with a
        ``sj.callbacks.TerminateOnNaN`` callback, stops gracefully before applying that step.
        ``distributed``: train data-parallel over the MPI ranks (``mpirun -n N python ...``;
        ``batch_size`` is the global batch; see ``sj.distributed.fit``).
        ``device``: "cpu", "cuda" or "cuda:N" — the model (and the optimizer's state) moves
        there and stays; each batch is copied there once.  Default: where the model is.

        Randomness: each epoch draws (shuffling, dropout masks, a seedless loader's order)
        from ``sj.random.derive(seed, e)``, where ``e`` counts the epochs this model has
        trained (``model.epoch``, at least ``initial_epoch``) and ``seed`` is the run seed:
        the one given to ``sj.manual_seed``, else a fresh one, fixed at the model's first
        ``fit`` and saved with it.  So epoch ``e`` does not depend on what ran before, and
        4 epochs equal 2 epochs, ``model.save``, ``sj.load_model`` (in any process) and
        ``fit(epochs=4, initial_epoch=2)`` bit for bit.  Lazy layers are built (from the
        first batch) before, with the global generator, as a first call would.  The global
        generator is put back when ``fit`` returns.  Callback states saved with the model
        (``get_state``) go to the callbacks of the same class and rank when ``fit``
        resumes with ``initial_epoch > 0``.
        """
        if distributed:  # every MPI rank trains on its shard (docs/distributed.md)
            from ..distributed import fit as distributed_fit  # noqa: PLC0415

            return distributed_fit(
                self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                callbacks=callbacks, validation_split=validation_split,
                validation_data=validation_data, shuffle=shuffle, initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch, validation_batch_size=validation_batch_size)
        self._require_compiled("fit")
        data_adapter.check_epochs(epochs, initial_epoch)
        device = self._use_device(device)
        if validation_split and validation_data is None:
            (x, y), validation_data = data_adapter.split_validation(x, y, validation_split)
        train = data_adapter.on_device(data_adapter.make_batches(
            x, y, batch_size, "fit", shuffle=shuffle, steps=steps_per_epoch), device)
        val = None
        if validation_data is not None:
            val = data_adapter.on_device(data_adapter.validation_batches(
                validation_data, validation_batch_size or getattr(train, "batch_size", None)),
                device)
        cbs, history, progress = self._callbacks(callbacks, verbose, epochs, train)
        seed = self._run_seed()
        first = train.first_x() if hasattr(train, "first_x") else None
        if first is not None:
            self._ensure_bound_after_build(first)
        was_training, previous = self.training, random.generator()
        self._callback_list = cbs
        try:
            self._fit_loop(train, val, cbs, initial_epoch, epochs, seed)
        finally:
            random.set_generator(previous)
            self._resume_position = None
            self._callback_states, self._callback_list = self._current_callback_states(), None
            self.train(was_training)
            if progress is not None:
                progress.on_train_end({})
        return history

    def _callbacks(self, callbacks, verbose, epochs, train):
        if verbose == "auto":
            verbose = 1
        history = History()
        progress = ProgbarLogger(verbose) if verbose else None
        params = {"verbose": verbose, "epochs": epochs, "steps": train.steps,
                  "samples": train.samples, "batch_size": train.batch_size}
        cbs = CallbackList([*(callbacks or ()), history, *([progress] if progress else [])],
                           model=self, params=params)
        history.params = params
        self.history = history
        return cbs, history, progress

    def _fit_loop(self, train, val, cbs, initial_epoch, epochs, seed):
        self.stop_training = False
        self.epoch = max(self.epoch, initial_epoch)
        backup_epoch = resume_from_backup(self, cbs, train)  # a BackupAndRestore's backup
        if backup_epoch is not None:
            initial_epoch, seed = backup_epoch, self._seed
        self._restore_callback_states(cbs, initial_epoch > 0 or backup_epoch is not None)
        cbs.on_train_begin({})
        logs = {}
        for epoch in range(initial_epoch, epochs):
            random.set_generator(random.derive(seed, self.epoch))
            train.set_epoch(self.epoch)
            self.train()
            self._reset_metrics()
            cbs.on_epoch_begin(epoch, {})
            seen = self._train_epoch(train, epoch, cbs)
            if seen == 0:
                raise ValueError(f"the training data gave no batches in epoch {epoch + 1}; a "
                                 "one-shot iterator is used up after one epoch: pass a "
                                 "DataLoader, or steps_per_epoch with a repeating source.")
            logs = self._logs()
            if self.mixed_precision.scaler.is_enabled():
                logs["loss_scale"] = self.mixed_precision.loss_scale
            if val is not None:
                val_logs = self._test_loop(val, cbs)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            self.epoch += 1  # before the callbacks, so a checkpoint saved there resumes after
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)

    def _train_epoch(self, train, epoch, cbs) -> int:
        """One pass over the batches; returns how many batches ran.  Resuming a mid-epoch
        backup, the batches done before are skipped (same order: the epoch's generator is
        derived from (seed, epoch)), then the random stream and metric sums are put back."""
        hooks = cbs.train_batch_hooks
        step, update = self._train_batch, self._update_metrics
        resume, self._resume_position = self._resume_position, None
        batch = -1
        for batch, (xb, yb) in enumerate(train):
            if batch == 0:
                self._ensure_bound_after_build(xb)
            if resume is not None:
                if batch < resume.batches:
                    continue
                resume.apply(self)
                resume = None
            if hooks:
                cbs.on_train_batch_begin(batch, {})
            value, y_pred = step(xb, yb, epoch, batch)
            update(value, xb.shape[0], yb, y_pred)
            if hooks:
                cbs.on_train_batch_end(batch, self._logs())
            if self.stop_training:
                break
        if resume is not None:  # the backup was taken after the epoch's last batch
            resume.apply(self)
        return batch + 1

    def _ensure_bound_after_build(self, xb):
        """Lazy layers create their weights at the first call: build them with a forward
        pass on the first batch (eval mode, no graph), then bind the optimizer to every
        parameter, so the optimizer sees them all before the first step."""
        if self._bind_optimizer and not all(m.built for m in self.modules()):
            was_training = self.training
            self.eval()
            try:
                with no_grad():
                    self(Tensor._wrap(xb))
            finally:
                self.train(was_training)
        self._ensure_bound()

    # ------------------------------------------------------------------ devices, one batch
    def _use_device(self, device):
        """Move the model and its optimizer's state to ``device`` (None: stay where the model
        is); returns the Device the batches must go to."""
        if device is None:
            return self.device
        device = sj_device(device)
        self.to(device)
        opt = getattr(self, "optimizer", None)
        for state in getattr(opt, "state", {}).values():
            for key, value in state.items():
                if hasattr(value, "shape") and not isinstance(value, Tensor):
                    state[key] = to_device(value, device)
        return device

    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) on that batch."""
        self._require_compiled("train_on_batch")
        x, y = data_adapter.as_array(x, "x"), data_adapter.as_array(y, "y")
        if self.device.type != "cpu":
            x, y = to_device(x, self.device), to_device(y, self.device)
        self._ensure_bound_after_build(x)
        self._reset_metrics()
        self.train()
        value, y_pred = self._train_batch(x, y, 0, 0)
        self._update_metrics(value, x.shape[0], y, y_pred)
        return self._batch_result(return_dict)


class Sequential(Model, nn.Sequential):
    """A stack of layers that trains with ``compile``/``fit`` (Keras's ``Sequential``).

    >>> model = sj.Sequential()
    >>> model.add(Dense(units=64, input_dim=4, activation="relu"))
    >>> model.add(Dense(units=3, activation="softmax"))
    """

