"""Adam and AdamW: moment estimates of the gradient with bias correction."""
from __future__ import annotations

from ..backend import array_module
from .optimizer import Optimizer, default, pick

# defaults marked "not passed", so the aliases (learning_rate, beta_1, ...) may be given
_LR, _BETAS, _EPS = default(1e-3), default((0.9, 0.999)), default(1e-8)


class Adam(Optimizer):
    """Adam, exactly as ``torch.optim.Adam`` (eps added to the bias-corrected sqrt(v)).

        t ← t + 1;   g ← g + weight_decay·w          (L2 penalty; AdamW decouples it)
        m ← beta_1·m + (1 - beta_1)·g
        v ← beta_2·v + (1 - beta_2)·g²;   v_max ← max(v_max, v), used for v if amsgrad
        w ← w - lr / (1 - beta_1^t) · m / (sqrt(v) / sqrt(1 - beta_2^t) + eps)

    The Keras spellings ``beta_1``, ``beta_2`` and ``epsilon`` are accepted for
    ``betas[0]``, ``betas[1]`` and ``eps`` (pass one spelling or the other); the defaults
    are torch's.

    >>> opt = sj.optim.Adam(model.parameters(), lr=1e-3)
    >>> opt = sj.optim.Adam(learning_rate=1e-3, beta_1=0.9, epsilon=1e-7)   # bound by compile
    """

    elementwise = True  # update() may run once over flat buffers (foreach)
    decoupled = False  # AdamW: w ← w·(1 - lr·weight_decay) instead of the L2 gradient term

    def __init__(self, params=None, lr=_LR, betas=_BETAS,
                 eps=_EPS, weight_decay=0.0, amsgrad=False, *, beta_1=None,
                 beta_2=None, epsilon=None, **options):
        name = type(self).__name__
        if beta_1 is not None or beta_2 is not None:
            betas = pick(name, "betas", betas, "beta_1/beta_2", (beta_1, beta_2))
            betas = (0.9 if beta_1 is None else beta_1, 0.999 if beta_2 is None else beta_2)
        eps = pick(name, "eps", eps, "epsilon", epsilon)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad), **options)

    def update(self, w, g, state, group):
        xp = array_module(w)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(w), exp_avg_sq=xp.zeros_like(w))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(w)
        state["step"] = t = state["step"] + 1
        if wd and self.decoupled:
            w *= 1 - lr * wd
        elif wd:
            g = g + wd * w
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = xp.subtract(g, m, out=xp.empty_like(w))
        tmp *= 1 - beta1
        m += tmp                                     # m + (1 - b1)(g - m), torch's lerp
        v *= beta2
        v += xp.multiply(xp.multiply(g, g, out=tmp), 1 - beta2, out=tmp)
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        xp.sqrt(v, out=tmp)
        tmp /= (1 - beta2 ** t) ** 0.5
        tmp += group["eps"]
        xp.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - beta1 ** t)
        w -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay, exactly as ``torch.optim.AdamW``.

        w ← w·(1 - lr·weight_decay), then the Adam step above without the L2 term.

    >>> opt = sj.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    """

    decoupled = True

    def __init__(self, params=None, lr=_LR, betas=_BETAS,
                 eps=_EPS, weight_decay=0.01, amsgrad=False, **options):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **options)
