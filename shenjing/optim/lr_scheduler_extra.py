"""The two PyTorch-style schedulers with more machinery: ``OneCycleLR`` (per batch, also
cycles the momentum) and ``ReduceLROnPlateau`` (driven by a metric).  Both are re-exported
by ``sj.optim.lr_scheduler``."""
from __future__ import annotations

import math

from .lr_scheduler import LRScheduler, param_groups

__all__ = ["OneCycleLR", "ReduceLROnPlateau"]


def _per_group(value, n, who, name):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{who}: expected {n} values of `{name}` (one per parameter group), "
                         f"got {len(values)}.")
    return [float(v) for v in values]


def _anneal_cos(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start, end, pct):
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018), exactly as ``torch.optim.lr_scheduler.OneCycleLR``.

    From ``initial = max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (``epochs · steps_per_epoch``), then down to ``initial /
    final_div_factor`` (``three_phase``: back to ``initial`` first), each piece annealed by
    cosine (``anneal_strategy="cos"``) or linearly.  With ``cycle_momentum`` the momentum
    (SGD's ``momentum`` or Adam's ``betas[0]``) moves the opposite way between
    ``max_momentum`` and ``base_momentum``.  Step it after every batch.

    >>> sched = sj.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)
    >>> model.fit(x, y, epochs=10, callbacks=[
    ...     sj.callbacks.LearningRateScheduler(sched, update_freq="batch")])
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        who, n = "OneCycleLR", len(param_groups(optimizer))
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"{who}: pct_start must be in [0, 1], got {pct_start!r}.")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{who}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}.")
        self.anneal_strategy, self.cycle_momentum = anneal_strategy, cycle_momentum
        self.max_lrs = _per_group(max_lr, n, who, "max_lr")
        self.initial_lrs = [m / div_factor for m in self.max_lrs]
        self.min_lrs = [i / final_div_factor for i in self.initial_lrs]
        self.base_momentums = _per_group(base_momentum, n, who, "base_momentum")
        self.max_momentums = _per_group(max_momentum, n, who, "max_momentum")
        self.phases = _phases(pct_start * self.total_steps, self.total_steps, three_phase)
        if cycle_momentum:
            defaults = optimizer.defaults
            if "momentum" not in defaults and "betas" not in defaults:
                raise ValueError(f"{who}: {type(optimizer).__name__} has no momentum or betas "
                                 "to cycle; pass cycle_momentum=False.")
            self.use_beta1 = "betas" in defaults
        super().__init__(optimizer, last_epoch, base_lrs=list(self.initial_lrs))

    def _values(self, i, t):
        """(lr, momentum) of group ``i`` at step ``t``."""
        anneal = _anneal_cos if self.anneal_strategy == "cos" else _anneal_linear
        lrs = {"initial": self.initial_lrs[i], "max": self.max_lrs[i], "min": self.min_lrs[i]}
        moms = {"base": self.base_momentums[i], "max": self.max_momentums[i]}
        start = 0.0
        for k, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if t <= end or k == len(self.phases) - 1:
                pct = (t - start) / (end - start)
                return anneal(lrs[lr0], lrs[lr1], pct), anneal(moms[m0], moms[m1], pct)
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def get_lr(self):
        if self.last_epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch} times; the "
                             f"schedule has total_steps={self.total_steps}.")
        return [self._values(i, self.last_epoch)[0] for i in range(len(self.max_lrs))]

    def step(self):
        super().step()
        if not self.cycle_momentum:
            return
        for i, group in enumerate(param_groups(self.optimizer)):
            m = self._values(min(i, len(self.max_lrs) - 1), self.last_epoch)[1]
            if self.use_beta1:
                group["betas"] = (m, *group["betas"][1:])
            else:
                group["momentum"] = m


def _total_steps(total_steps, epochs, steps_per_epoch):
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got "
                             f"{total_steps!r}.")
        return total_steps
    if not (isinstance(epochs, int) and epochs > 0 and isinstance(steps_per_epoch, int)
            and steps_per_epoch > 0):
        raise ValueError(f"OneCycleLR needs total_steps, or epochs and steps_per_epoch "
                         f"(positive ints), got epochs={epochs!r}, "
                         f"steps_per_epoch={steps_per_epoch!r}.")
    return epochs * steps_per_epoch


def _phases(warm, total, three_phase):
    """(end step, lr from, lr to, momentum from, momentum to) per phase, as torch."""
    if three_phase:
        return [(warm - 1, "initial", "max", "max", "base"),
                (2 * warm - 2, "max", "initial", "base", "max"),
                (total - 1, "initial", "min", "max", "max")]
    return [(warm - 1, "initial", "max", "max", "base"),
            (total - 1, "max", "min", "base", "max")]


class ReduceLROnPlateau:
    """Divide the learning rate when a metric stops improving, as torch's.

    ``step(metric)`` once per epoch.  Improvement (mode ``"min"``, ``threshold_mode="rel"``):
    ``metric < best · (1 - threshold)`` (``"abs"``: ``< best - threshold``; mode ``"max"``
    the mirror image).  After more than ``patience`` epochs without one:
    ``lr = max(lr · factor, min_lr)`` (skipped if the change is below ``eps``), then
    ``cooldown`` epochs during which bad epochs are not counted.

    >>> sched = sj.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
    >>> sched.step(val_loss)
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor!r}.")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and "
                             f"threshold_mode 'rel' or 'abs', got {mode!r}, "
                             f"{threshold_mode!r}.")
        groups = param_groups(optimizer)
        self.optimizer, self.mode, self.factor, self.patience = optimizer, mode, factor, patience
        self.threshold, self.threshold_mode, self.cooldown = threshold, threshold_mode, cooldown
        self.min_lrs = _per_group(min_lr, len(groups), "ReduceLROnPlateau", "min_lr")
        self.eps = eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [g["lr"] for g in groups]

    def is_better(self, a, best) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if rel else best - self.threshold)
        return a > (best * (1 + self.threshold) if rel else best + self.threshold)

    def step(self, metrics) -> None:
        """Record one epoch's metric; reduce the learning rate if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in param_groups(self.optimizer)]

    def _reduce_lr(self):
        for i, group in enumerate(param_groups(self.optimizer)):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[min(i, len(self.min_lrs) - 1)])
            if old - new > self.eps:
                group["lr"] = new

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The counters; ``best`` is None until a first metric (strict-JSON friendly)."""
        state = {k: v for k, v in vars(self).items() if k != "optimizer"}
        return {**state, "best": None if math.isinf(self.best) else self.best}

    def load_state_dict(self, state_dict) -> None:
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "optimizer"})
        if self.best is None:
            self.best = math.inf if self.mode == "min" else -math.inf
