"""Keras-style learning-rate schedules: objects called on the optimizer's step count.

Pass one as ``lr=`` (or ``learning_rate=``) to any optimizer; before each update the
optimizer sets every group's ``lr`` to ``schedule(step)``, ``step`` counting updates from 0
(``optimizer.iterations``, saved in its ``state_dict``):

    schedule = sj.optim.schedules.CosineDecay(0.0, decay_steps=900, warmup_target=0.1,
                                              warmup_steps=100)
    model.compile(optimizer=sj.optim.SGD(lr=schedule, momentum=0.9), loss=...)

The formulas are Keras 3's.  For the PyTorch style (a scheduler object whose ``step()`` you
call, per epoch or per batch) see ``sj.optim.lr_scheduler``.
"""
from __future__ import annotations

import bisect
import inspect
import math

from .._config import Configurable

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
           "CosineDecayRestarts", "InverseTimeDecay", "PolynomialDecay", "serialize",
           "deserialize"]

_REGISTRY: dict[str, type] = {}


class LearningRateSchedule(Configurable):
    """Base class: ``__call__(step) -> lr``; ``get_config()`` gives the constructor arguments
    (read back from the attributes of the same names), so subclasses are saveable for free.

    >>> class Halving(sj.optim.schedules.LearningRateSchedule):
    ...     def __init__(self, initial_learning_rate, every):
    ...         self.initial_learning_rate, self.every = initial_learning_rate, every
    ...     def __call__(self, step):
    ...         return self.initial_learning_rate * 0.5 ** (step // self.every)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __call__(self, step) -> float:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step).")

    def get_config(self) -> dict:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {n: getattr(self, n) for n in names if hasattr(self, n)}


def serialize(schedule):
    """``{"class_name": ..., "config": {...}}`` (JSON-friendly) for ``deserialize``; a plain
    function (not a ``LearningRateSchedule``) is returned as it is."""
    if not isinstance(schedule, LearningRateSchedule):
        return schedule
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """A schedule from ``serialize``'s dict (classes are found by name, subclasses too)."""
    cls = _REGISTRY.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {config.get('class_name')!r}; "
                         f"known: {sorted(_REGISTRY)} (define or import the class first).")
    return cls.from_config(config.get("config", {}))


def _positive(who, **values):
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{who}: `{name}` must be a number > 0, got {value!r}.")


class ExponentialDecay(LearningRateSchedule):
    """``lr = initial_learning_rate · decay_rate ** (step / decay_steps)``; the exponent is
    floored with ``staircase`` (a step every ``decay_steps``: torch's ``StepLR``).

    >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(25)
    0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        _positive("ExponentialDecay", decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p)
                                                                if self.staircase else p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.

    >>> s = PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
    >>> s(100), s(101), s(500)
    (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries, values):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay needs one more value than boundaries, "
                             f"got {len(boundaries)} boundaries and {len(values)} values.")
        if boundaries != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay boundaries must increase, got "
                             f"{boundaries}.")
        self.boundaries, self.values = boundaries, values

    def __call__(self, step):
        return self.values[bisect.bisect_left(self.boundaries, step)]


class CosineDecay(LearningRateSchedule):
    """Optional linear warm-up, then cosine decay (Keras 3).

        warm-up (step < warmup_steps):  lr = initial + (warmup_target - initial)·step/warmup_steps
        decay:  t = min(step - warmup_steps, decay_steps) / decay_steps
                lr = top · ((1 - alpha)·(1 + cos(π t))/2 + alpha)
    where ``top`` is ``warmup_target``, or ``initial_learning_rate`` when there is none.

    >>> s = CosineDecay(0.0, decay_steps=90, warmup_target=0.1, warmup_steps=10)
    >>> s(5), s(10), s(100)
    (0.05, 0.1, 0.0)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps=0):
        _positive("CosineDecay", decay_steps=decay_steps)
        if warmup_steps < 0:
            raise ValueError(f"CosineDecay warmup_steps must be >= 0, got {warmup_steps!r}.")
        self.initial_learning_rate, self.decay_steps, self.alpha = (initial_learning_rate,
                                                                    decay_steps, alpha)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _decay(self, step, top):
        t = min(step, self.decay_steps) / self.decay_steps
        return top * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * t)) + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + delta * step / self.warmup_steps
        return self._decay(step - self.warmup_steps, self.warmup_target)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR; torch's ``CosineAnnealingWarmRestarts``).

    Period ``i`` lasts ``first_decay_steps · t_mul**i`` steps and starts at
    ``initial_learning_rate · m_mul**i``; within it, with ``t`` the fraction done:
    ``lr = initial · ((1 - alpha)·m_mul**i·(1 + cos(π t))/2 + alpha)``.

    >>> s = CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0)
    >>> s(0), s(10), s(30)                   # restarts at 10 and 10 + 20
    (1.0, 1.0, 1.0)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0):
        _positive("CosineDecayRestarts", first_decay_steps=first_decay_steps, t_mul=t_mul)
        self.initial_learning_rate, self.first_decay_steps = (initial_learning_rate,
                                                              first_decay_steps)
        self.t_mul, self.m_mul, self.alpha = t_mul, m_mul, alpha

    def _period(self, step):
        """(restart index, fraction of that period done); exact at the restarts."""
        if self.t_mul == 1:
            i = math.floor(step / self.first_decay_steps)
            return i, step / self.first_decay_steps - i
        i, start, length = 0, 0.0, float(self.first_decay_steps)
        while step >= start + length:
            i, start, length = i + 1, start + length, length * self.t_mul
        return i, (step - start) / length

    def __call__(self, step):
        i, t = self._period(step)
        cosine = 0.5 * self.m_mul ** i * (1 + math.cos(math.pi * t))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


class InverseTimeDecay(LearningRateSchedule):
    """``lr = initial_learning_rate / (1 + decay_rate · step / decay_steps)`` (the ratio
    floored with ``staircase``).

    >>> InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)(2)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        _positive("InverseTimeDecay", decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase = decay_rate, staircase

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p)
                                                                    if self.staircase else p))


class PolynomialDecay(LearningRateSchedule):
    """``lr = (initial - end) · (1 - s / decay_steps) ** power + end`` with
    ``s = min(step, decay_steps)``; with ``cycle`` the horizon grows instead to the next
    multiple of ``decay_steps`` (``decay_steps · ceil(step / decay_steps)``).

    >>> PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0, power=1.0)(5)
    0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False):
        _positive("PolynomialDecay", decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle = end_learning_rate, power, cycle

    def __call__(self, step):
        horizon = self.decay_steps
        if self.cycle:
            horizon *= max(math.ceil(step / self.decay_steps), 1)
        else:
            step = min(step, self.decay_steps)
        span = self.initial_learning_rate - self.end_learning_rate
        return span * (1 - step / horizon) ** self.power + self.end_learning_rate
