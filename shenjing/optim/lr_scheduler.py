"""PyTorch-style learning-rate schedulers: ``scheduler.step()`` after each epoch (or batch)
sets the optimizer's ``lr``, as ``torch.optim.lr_scheduler`` does, with the same values.

    opt = sj.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warmup = sj.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=5)
    cosine = sj.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=95)
    sched = sj.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[5])
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

In ``fit``, wrap it: ``callbacks=[sj.callbacks.LearningRateScheduler(sched)]`` (per epoch, or
``update_freq="batch"`` for ``OneCycleLR``).  Every scheduler computes ``lr`` in closed form
from ``last_epoch`` and the base learning rates (the ``lr`` of each parameter group when the
scheduler was created).  An optimizer not yet bound to parameters (``SGD(lr=0.1)`` given to
``compile``) works too: the scheduler sets its default ``lr``, which binding copies.
``OneCycleLR`` and ``ReduceLROnPlateau`` live in ``lr_scheduler_extra.py``.
"""
from __future__ import annotations

import bisect
import math

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "LambdaLR", "SequentialLR", "param_groups"]


def param_groups(optimizer) -> list:
    """The groups whose hyperparameters a scheduler sets: the optimizer's parameter groups,
    or its ``defaults`` while it is unbound (binding copies them into its first group)."""
    if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "defaults"):
        raise TypeError(f"a learning-rate scheduler needs an sj.optim optimizer, got "
                        f"{type(optimizer).__name__}.")
    return optimizer.param_groups or [optimizer.defaults]


class LRScheduler:
    """Base class: a subclass writes ``_lr(base_lr, t)``, the learning rate at step ``t``.

    ``step()`` advances ``last_epoch`` and sets each group's ``lr``; ``get_last_lr()`` lists
    them; ``state_dict()``/``load_state_dict()`` save and restore the counters.  Creating a
    scheduler performs its step 0 (the ``lr`` becomes ``_lr(base, 0)``), as in torch.
    """

    _unsaved = ("optimizer",)

    def __init__(self, optimizer, last_epoch=-1, base_lrs=None):
        if last_epoch != -1:
            raise ValueError(f"{type(self).__name__}: resume with scheduler.load_state_dict("
                             f"saved) instead of last_epoch={last_epoch!r}.")
        if getattr(optimizer, "lr_schedule", None) is not None:
            raise ValueError(f"{type(self).__name__}: the optimizer already follows the "
                             f"schedule {optimizer.lr_schedule!r}; use one or the other.")
        groups = param_groups(optimizer)
        self.optimizer = optimizer
        self.base_lrs = [float(g["lr"]) for g in groups] if base_lrs is None else base_lrs
        self.last_epoch = -1
        self.step()

    def _lr(self, base_lr, t) -> float:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _lr(base_lr, t).")

    def get_lr(self) -> list:
        """The learning rates at ``last_epoch`` (one per group), without setting them."""
        return [float(self._lr(base, self.last_epoch)) for base in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch (or batch) and set the optimizer's learning rates."""
        self.last_epoch += 1
        self._set(self.get_lr())

    def _set(self, lrs):
        groups = param_groups(self.optimizer)
        for i, group in enumerate(groups):
            group["lr"] = lrs[min(i, len(lrs) - 1)]
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The scheduler's counters and settings (no optimizer, no functions)."""
        return {k: v for k, v in vars(self).items() if k not in self._unsaved}

    def load_state_dict(self, state_dict) -> None:
        """Restore ``state_dict()``; the optimizer's own ``lr`` comes from its state_dict."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in self._unsaved})

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


def _check_positive_int(who, name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{who}: `{name}` must be a positive int, got {value!r}.")


class StepLR(LRScheduler):
    """``lr = base_lr · gamma ** (t // step_size)``.

    >>> sched = sj.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_positive_int("StepLR", "step_size", step_size)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """``lr = base_lr · gamma ** (number of milestones <= t)`` (a repeated milestone counts
    as often as it appears).

    >>> sched = sj.optim.lr_scheduler.MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, t)


class ExponentialLR(LRScheduler):
    """``lr = base_lr · gamma ** t``.

    >>> sched = sj.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** t


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) · (1 + cos(π t / T_max)) / 2`` (past ``T_max`` the
    cosine goes on, rising again, as torch's).

    >>> sched = sj.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100, eta_min=1e-5)
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803 (torch)
        _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr, t):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t /
                                                                       self.T_max)) / 2


class LinearLR(LRScheduler):
    """``lr = base_lr · (start_factor + (end_factor - start_factor) · min(t, total_iters) /
    total_iters)``: a linear warm-up (or decay) over ``total_iters`` steps.

    >>> sched = sj.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not (0 < start_factor <= 1 and 0 <= end_factor <= 1):
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in "
                             f"[0, 1], got {start_factor!r} and {end_factor!r}.")
        _check_positive_int("LinearLR", "total_iters", total_iters)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr, t):
        done = min(t, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(t)`` (one function, or one per parameter group).

    >>> sched = sj.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.95 ** epoch)
    """

    _unsaved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(param_groups(optimizer))
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n or not all(callable(f) for f in fns):
            raise ValueError(f"LambdaLR expects one function or a list of {n} (one per "
                             f"parameter group), got {lr_lambda!r}.")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [float(base * fn(self.last_epoch))
                for base, fn in zip(self.base_lrs, self.lr_lambdas)]


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from ``milestones[i-1]`` on, each restarting at its own step 0:
    e.g. a linear warm-up then a cosine decay.  All start from the base learning rates the
    first one saw (as torch, where they share ``initial_lr``).

    >>> warmup = sj.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=5)
    >>> cosine = sj.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=95)
    >>> sched = sj.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[5])
    """

    _unsaved = ("optimizer", "schedulers")

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        schedulers, milestones = list(schedulers), [int(m) for m in milestones]
        if not schedulers or len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR expects one milestone fewer than schedulers, got "
                             f"{len(schedulers)} schedulers and milestones {milestones}.")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR milestones must increase, got {milestones}.")
        if any(s.optimizer is not optimizer for s in schedulers):
            raise ValueError("SequentialLR: every scheduler must belong to its optimizer.")
        self.schedulers, self.milestones = schedulers, milestones
        base = list(schedulers[0].base_lrs)
        for s in schedulers:
            s.base_lrs = list(base)
        super().__init__(optimizer, last_epoch, base_lrs=base)

    def get_lr(self):
        i = bisect.bisect_right(self.milestones, self.last_epoch)
        current = self.schedulers[i]
        current.last_epoch = self.last_epoch - (self.milestones[i - 1] if i else 0)
        current._last_lr = current.get_lr()
        return current._last_lr

    def state_dict(self):
        return {**super().state_dict(), "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for s, sd in zip(self.schedulers, state_dict.get("schedulers", ())):
            s.load_state_dict(sd)


# the larger two live in their own module (size); it imports this one's base first
from .lr_scheduler_extra import OneCycleLR, ReduceLROnPlateau  # noqa: E402

__all__ += ["OneCycleLR", "ReduceLROnPlateau"]
