"""RMSprop: divide the gradient by a running root mean square of recent gradients."""
from __future__ import annotations

from ..backend import array_module
from .optimizer import Optimizer, default

_LR = default(0.01)  # marks "not passed", so learning_rate= may be given instead


class RMSprop(Optimizer):
    """RMSprop, exactly as ``torch.optim.RMSprop`` (eps added after the square root).

        g ← g + weight_decay·w
        v ← alpha·v + (1 - alpha)·g²
        a ← alpha·a + (1 - alpha)·g,   d ← sqrt(v - a²) + eps       (centered)
                                       d ← sqrt(v) + eps             (otherwise)
        b ← momentum·b + g / d,   w ← w - lr·b                       (momentum > 0)
        w ← w - lr·g / d                                             (otherwise)

    >>> opt = sj.optim.RMSprop(model.parameters(), lr=1e-3, centered=True)
    """

    elementwise = True  # update() may run once over flat buffers (foreach)

    def __init__(self, params=None, lr=_LR, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, **options):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered), **options)

    def update(self, w, g, state, group):
        xp = array_module(w)
        alpha, momentum, wd = group["alpha"], group["momentum"], group["weight_decay"]
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(w))
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(w)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(w)
        state["step"] += 1
        if wd:
            g = g + wd * w
        v, tmp = state["square_avg"], xp.multiply(g, g, out=xp.empty_like(w))
        v *= alpha
        tmp *= 1 - alpha
        v += tmp
        if group["centered"]:
            a = state["grad_avg"]
            a += xp.multiply(xp.subtract(g, a, out=tmp), 1 - alpha, out=tmp)
            xp.subtract(v, xp.multiply(a, a, out=tmp), out=tmp)
            v = tmp
        xp.sqrt(v, out=tmp)
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += tmp
            tmp = xp.multiply(buf, group["lr"], out=tmp)
        else:
            tmp *= group["lr"]
        w -= tmp
