"""``GradScaler``: dynamic loss scaling for float16 training (torch.amp.GradScaler's API).

float16 gradients below 2⁻²⁴ flush to zero.  Scaling the loss by S scales every gradient
by S (the chain rule is linear), lifting them into range; ``unscale_`` divides by S again
before the update.  The scale adapts:

    any gradient inf/NaN:      skip the step,  S ← S · backoff_factor,  streak ← 0
    otherwise:                 step,  streak ← streak + 1;
                               if streak = growth_interval:  S ← S · growth_factor (if finite),
                                                            streak ← 0

S is float32 on the host, as torch's (so trajectories agree bit for bit).  The check costs
one device→host transfer per step.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import array_module
from ..tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """Scale the loss, unscale the gradients, skip steps with inf/NaN gradients.

    >>> scaler = sj.amp.GradScaler()
    >>> with sj.amp.autocast():
    ...     loss = F.cross_entropy(model(x), y)
    >>> opt.zero_grad()
    >>> scaler.scale(loss).backward()
    >>> scaler.step(opt)          # unscale_, then opt.step() unless a gradient is inf/NaN
    >>> scaler.update()           # back off or grow the scale
    """

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._enabled = bool(enabled)
        _check_number("init_scale", init_scale, lambda v: 0 < v < math.inf, "> 0 and finite")
        _check_number("growth_factor", growth_factor, lambda v: v > 1, "> 1")
        _check_number("backoff_factor", backoff_factor, lambda v: 0 < v < 1, "in (0, 1)")
        if not isinstance(growth_interval, numbers.Integral) or growth_interval < 1:
            raise ValueError(f"GradScaler: `growth_interval` must be a positive int, got "
                             f"{growth_interval!r}.")
        self._scale = np.float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}  # id(optimizer) -> {"stage": ..., "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale S (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    # ------------------------------------------------------------------ the iteration
    def scale(self, outputs):
        """``outputs · S`` (a Tensor, or a list/tuple of them).  A float16 loss is cast to
        float32 first, so S = 2¹⁶ does not overflow it."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if not isinstance(outputs, Tensor):
            raise TypeError(f"GradScaler.scale expects a Tensor or a list/tuple of Tensors, "
                            f"got {type(outputs).__name__}.")
        if outputs.dtype.itemsize == 2:
            outputs = outputs.astype("float32")
        return outputs * float(self._scale)

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by S, in place, and record
        whether any is inf/NaN.  Call it before clipping gradients by hand; ``step`` calls
        it otherwise.  Once per optimizer between ``update`` calls.  An optimizer that
        averages gradients over ranks (``synchronize()``, sj.distributed) finishes that
        first, so every rank checks the same gradients and all skip or step together."""
        if not self._enabled:
            return
        state = self._per_optimizer.setdefault(id(optimizer), {"stage": _READY})
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step(); call update() "
                               "first.")
        sync = getattr(optimizer, "synchronize", None)
        if callable(sync):
            sync()
        inv = np.float32(1.0 / np.float64(self._scale))  # reciprocal in float64, as torch
        finite = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    finite.append(_unscale_grad(p, inv))
        state["found_inf"] = bool(finite) and not bool(_all(finite))
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``unscale_(optimizer)`` if not done yet, then ``optimizer.step()`` unless a
        gradient was inf/NaN.  Returns what ``optimizer.step`` returned (None if skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs or args:
            raise RuntimeError("GradScaler.step does not support a closure; compute the loss, "
                               "scale(loss).backward(), then step(optimizer).")
        state = self._per_optimizer.setdefault(id(optimizer), {"stage": _READY})
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        out = None if state["found_inf"] else optimizer.step(**kwargs)
        state["stage"] = _STEPPED
        return out

    def update(self, new_scale=None):
        """End the iteration: back off or grow S from the steps' inf checks (see the module
        docstring), or set it to ``new_scale``."""
        if not self._enabled:
            return
        if new_scale is not None:
            value = new_scale.item() if isinstance(new_scale, Tensor) else new_scale
            _check_number("new_scale", value, lambda v: v > 0, "> 0")
            self._scale = np.float32(value)
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if "found_inf" in s]
            if not found:
                raise RuntimeError("GradScaler.update(): no inf checks were recorded; call "
                                   "scaler.step(optimizer) (or unscale_) before update().")
            self._update_scale(any(found))
        self._per_optimizer = {}

    def _update_scale(self, found_inf):
        if found_inf:
            self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
            self._growth_tracker = 0
            return
        self._growth_tracker += 1
        if self._growth_tracker == self._growth_interval:
            with np.errstate(over="ignore"):  # past float32's max: keep the scale
                grown = np.float32(self._scale * np.float32(self._growth_factor))
            if np.isfinite(grown):
                self._scale = grown
            self._growth_tracker = 0

    def skipped(self, optimizer) -> bool:
        """Whether the last ``step(optimizer)`` (before ``update``) skipped the update."""
        return bool(self._per_optimizer.get(id(optimizer), {}).get("found_inf", False))

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> dict:
        """scale, growth_factor, backoff_factor, growth_interval, _growth_tracker (torch's
        keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled GradScaler.")
        self._scale = np.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _check_number(name, value, ok, expected):
    if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and ok(value)):
        raise ValueError(f"GradScaler: `{name}` must be a number {expected}, got {value!r}.")


def _unscale_grad(p, inv):
    """g ← g · inv for ``p.grad`` (in place where the array allows); returns the 0-d array
    isfinite(g).all() without reading it back to the host."""
    g = p.grad.data
    if g.dtype == np.float16:
        raise ValueError("GradScaler cannot unscale float16 gradients: keep the parameters "
                         "float32 (master weights) and let autocast cast them.")
    xp = array_module(g)
    if getattr(g.flags, "writeable", True) and g.base is None:
        g *= inv
    else:
        g = g * inv
        p.grad = Tensor._wrap(g)
    return xp.isfinite(g).all()


def _all(flags):
    """All of the 0-d boolean arrays, with one read back to the host."""
    xp = array_module(flags[0])
    return bool(xp.stack(flags).all())
