"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""
from __future__ import annotations

from ..backend import array_module
from .optimizer import Optimizer, default

_LR = default(0.01)  # marks "not passed", so learning_rate= may be given instead


class Adagrad(Optimizer):
    """Adagrad, exactly as ``torch.optim.Adagrad``.

        t ← t + 1;   g ← g + weight_decay·w
        s ← s + g²                              (s starts at initial_accumulator_value)
        w ← w - lr / (1 + (t - 1)·lr_decay) · g / (sqrt(s) + eps)

    >>> opt = sj.optim.Adagrad(model.parameters(), lr=0.01)
    """

    elementwise = True  # update() may run once over flat buffers (foreach)

    def __init__(self, params=None, lr=_LR, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, **options):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps), **options)

    def update(self, w, g, state, group):
        xp = array_module(w)
        if not state:
            state.update(step=0, sum=xp.full_like(w, group["initial_accumulator_value"]))
        state["step"] = t = state["step"] + 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        clr = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        tmp = xp.multiply(g, g, out=xp.empty_like(w))
        state["sum"] += tmp
        xp.sqrt(state["sum"], out=tmp)
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        tmp *= clr
        w -= tmp
