"""Activations: the name registry layers use (``Dense(64, activation="relu")``) and one
layer class per activation (``ReLU()``, ``Softmax(axis=-1)``, ...).

The math lives in ``shenjing.ops`` (one graph node each, stable at ±1000); this file only
names it.  ``"leaky_relu"`` by name uses PyTorch's slope 0.01.
"""
from __future__ import annotations

from .. import ops
from .module import Module


def linear(x):
    """The identity, f(x) = x (what ``activation=None`` means)."""
    return x


def softmax(x, axis=-1):
    """Normalised exponentials along ``axis``."""
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed stably."""
    return ops.log_softmax(x, axis)


_REGISTRY = {
    "linear": linear, "sigmoid": ops.sigmoid, "tanh": ops.tanh, "relu": ops.relu,
    "leaky_relu": ops.leaky_relu, "elu": ops.elu, "selu": ops.selu, "gelu": ops.gelu,
    "swish": ops.silu, "silu": ops.silu, "softplus": ops.softplus, "softmax": softmax,
    "log_softmax": log_softmax,
}


def get(identifier):
    """The activation function for ``identifier``: None or "linear" (identity), a name from
    the registry, or any callable (returned unchanged, e.g. a layer or a lambda).

    >>> get("relu")(sj.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        try:
            return _REGISTRY[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown activation {identifier!r}; valid names: "
                             f"{', '.join(sorted(_REGISTRY))}, or pass a callable.") from None
    if callable(identifier):
        return identifier
    raise TypeError(f"an activation must be None, a name or a callable, got "
                    f"{type(identifier).__name__}: {identifier!r}.")


def serialize(fn):
    """The registry name of ``fn`` (for ``get_config``), else its ``__name__``."""
    for name, f in _REGISTRY.items():
        if f is fn and name != "swish":
            return name
    if isinstance(fn, Module):
        return type(fn).__name__
    return getattr(fn, "__name__", repr(fn))


class _Activation(Module):
    """A layer applying ``self.fn`` elementwise (or along ``axis``); no weights."""

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)

    def get_config(self):
        return {**super().get_config(), **self._args()}

    def _args(self):
        return {}

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self._args().items())


class ReLU(_Activation):
    """max(0, x).  ``inplace=True`` (PyTorch's) overwrites the input's array where that is
    safe (see ``sj.relu``): one full-size array less per layer."""

    def __init__(self, inplace=False, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.inplace = bool(inplace)

    def forward(self, x):
        return ops.relu(x, inplace=self.inplace)

    def _args(self):
        return {"inplace": True} if self.inplace else {}


class LeakyReLU(_Activation):
    """x if x > 0 else negative_slope·x."""

    def __init__(self, negative_slope=0.01, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if negative_slope < 0:
            raise ValueError(f"LeakyReLU needs negative_slope >= 0, got {negative_slope}.")
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def _args(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Activation):
    """x if x > 0 else α(eˣ - 1)."""

    def __init__(self, alpha=1.0, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha = float(alpha)

    def forward(self, x):
        return ops.elu(x, self.alpha)

    def _args(self):
        return {"alpha": self.alpha}


class SELU(_Activation):
    """λ·ELU(x; α) with λ = 1.0507…, α = 1.6733… (self-normalising)."""

    def forward(self, x):
        return ops.selu(x)


class GELU(_Activation):
    """x·Φ(x); ``approximate="tanh"`` uses the tanh formula."""

    def __init__(self, approximate="none", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}.")
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)

    def _args(self):
        return {"approximate": self.approximate}


class Sigmoid(_Activation):
    """1 / (1 + e⁻ˣ)."""

    def forward(self, x):
        return ops.sigmoid(x)


class Tanh(_Activation):
    """Hyperbolic tangent."""

    def forward(self, x):
        return ops.tanh(x)


class SiLU(_Activation):
    """x·σ(x) (swish)."""

    def forward(self, x):
        return ops.silu(x)


class Softplus(_Activation):
    """ln(1 + eˣ)."""

    def forward(self, x):
        return ops.softplus(x)


class Softmax(_Activation):
    """eˣ / Σ eˣ along ``axis``."""

    def __init__(self, axis=-1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.axis = axis

    def forward(self, x):
        return ops.softmax(x, self.axis)

    def _args(self):
        return {"axis": self.axis}


class LogSoftmax(Softmax):
    """log softmax(x) along ``axis``."""

    def forward(self, x):
        return ops.log_softmax(x, self.axis)
