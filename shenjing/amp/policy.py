"""``MixedPrecision``: what a training loop needs for ``compile(..., mixed_precision=...)``.

One step with it (``Model.fit`` does exactly this):

    with mp.autocast():                     # forward and loss (the loss comes out float32)
        loss = loss_fn(y, model(x))
    optimizer.zero_grad()
    mp.backward(loss)                       # (loss · S).backward()
    mp.step(optimizer)                      # unscale, skip if inf/NaN, step, update S
"""
from __future__ import annotations

import numpy as np

from .autocast import autocast, resolve_dtype
from .grad_scaler import GradScaler


def resolve_policy(policy):
    """``mixed_precision=`` as ``None`` (off) or ``"float16"``.

    True and "float16" mean float16 with loss scaling; False and None mean off; "bfloat16"
    raises, saying why (``autocast`` explains).
    """
    if policy is None or policy is False:
        return None
    if policy is True:
        return "float16"
    if isinstance(policy, str):
        try:
            return resolve_dtype(policy).name
        except ValueError as err:
            raise ValueError(f"mixed_precision={policy!r}: {err}") from None
    raise ValueError(f"mixed_precision must be True, False, None or 'float16', got "
                     f"{policy!r}.")


class MixedPrecision:
    """Autocast plus (for float16) dynamic loss scaling, for one training loop.

    ``policy``: True or "float16" (float16 products, ``GradScaler`` on), False/None (off:
    ``autocast()`` does nothing, ``backward``/``step`` are the plain calls).
    ``scaler_options`` go to ``GradScaler`` (``init_scale=``, ``growth_interval=`` ...).

    >>> mp = MixedPrecision(True)
    >>> with mp.autocast():
    ...     loss = F.cross_entropy(model(x), y)
    >>> opt.zero_grad(); mp.backward(loss); mp.step(opt)
    """

    def __init__(self, policy=True, **scaler_options):
        self.policy = resolve_policy(policy)
        self.scaler = GradScaler(enabled=self.policy == "float16", **scaler_options)

    @property
    def enabled(self) -> bool:
        return self.policy is not None

    @property
    def loss_scale(self) -> float:
        """The current loss scale S (1.0 without scaling)."""
        return self.scaler.get_scale()

    def autocast(self):
        """The ``autocast`` block for forward and loss (disabled when the policy is off)."""
        return autocast(self.policy or "float16", enabled=self.enabled)

    def backward(self, loss):
        """``(loss · S).backward()``; plain ``loss.backward()`` without scaling.

        NumPy's overflow warnings are silenced: with float16 an overflow now and then is
        how the scale is found (``step`` skips that update and backs off)."""
        with np.errstate(over="ignore", invalid="ignore"):
            self.scaler.scale(loss).backward()

    def step(self, optimizer) -> bool:
        """Unscale the gradients, step unless one is inf/NaN, update S.  Returns whether
        the step was taken."""
        self.scaler.step(optimizer)
        taken = not self.scaler.skipped(optimizer)
        self.scaler.update()
        return taken

    def state_dict(self) -> dict:
        return {"policy": self.policy, "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state):
        if state.get("policy") != self.policy:
            raise ValueError(f"this state was saved with mixed_precision={state.get('policy')!r}"
                             f", but this loop uses {self.policy!r}.")
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
