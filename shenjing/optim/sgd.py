"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from ..backend import array_module
from .optimizer import Optimizer, default

_LR = default(0.01)  # marks "not passed", so learning_rate= may be given instead


class SGD(Optimizer):
    """Stochastic gradient descent, exactly as ``torch.optim.SGD``.

        g ← -g if maximize;   g ← g + weight_decay·w
        b ← g (first step),   b ← momentum·b + (1 - dampening)·g (later steps)
        g ← g + momentum·b if nesterov, else b            (only when momentum > 0)
        w ← w - lr·g

    The default ``lr=0.01`` is Keras's (torch has 1e-3).

    >>> opt = sj.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    """

    elementwise = True  # update() may run once over flat buffers (foreach)

    def __init__(self, params=None, lr=_LR, momentum=0.0, dampening=0.0,
                 weight_decay=0.0, nesterov=False, maximize=False, **options):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize), **options)

    def validate(self, group):
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}.")

    def update(self, w, g, state, group):
        momentum, dampening, wd = group["momentum"], group["dampening"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if wd:
            g = g + wd * w
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = array_module(w).array(g, copy=True)
            else:
                buf *= momentum
                buf += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * g
