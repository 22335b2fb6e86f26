"""Activation functions.  Each is one node with a hand-written derivative, written so that
inputs of ±1000 neither overflow nor warn."""
from __future__ import annotations

import math

from ..autograd import Function
from ..backend import array_module, erf
from ._util import lift

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x):
    # σ(x) = ½(1 + tanh(x/2)): the same function, but tanh never overflows.
    xp = array_module(x)
    half = x.dtype.type(0.5)
    return half * (xp.tanh(half * x) + 1)


class Sigmoid(Function):
    """σ(x) = 1/(1+e⁻ˣ);  σ' = σ(1-σ)."""

    def forward(self, x):
        out = _sigmoid(x)
        self.saved = out
        return out

    def backward(self, g):
        s = self.saved
        return g * s * (1 - s)


class Tanh(Function):
    """tanh(x);  tanh' = 1 - tanh²."""

    def forward(self, x):
        out = array_module(x).tanh(x)
        self.saved = out
        return out

    def backward(self, g):
        t = self.saved
        return g * (1 - t * t)


class ReLU(Function):
    """max(0, x);  derivative 1 for x > 0, else 0 (0 at the kink, as PyTorch).  With
    ``inplace`` the result is written into x's array (see ``relu``)."""

    def forward(self, x, inplace=False):
        out = array_module(x).maximum(x, 0, out=x if inplace else None)
        self.saved = out
        return out

    def backward(self, g):
        return g * (self.saved > 0)


class LeakyReLU(Function):
    """x if x > 0 else αx;  derivative 1 or α."""

    def forward(self, x, alpha):
        self.saved = (x > 0, alpha)
        return array_module(x).where(x > 0, x, x * x.dtype.type(alpha))

    def backward(self, g):
        pos, alpha = self.saved
        return array_module(g).where(pos, g, g * g.dtype.type(alpha))


class ELU(Function):
    """x if x > 0 else α(eˣ-1);  derivative 1 or α·eˣ.  SELU is λ·ELU with fixed α, λ."""

    def forward(self, x, alpha, scale):
        xp = array_module(x)
        neg = xp.expm1(xp.minimum(x, 0)) * x.dtype.type(alpha)
        self.saved = (x > 0, neg, alpha, scale)
        return xp.where(x > 0, x, neg) * x.dtype.type(scale)

    def backward(self, g):
        pos, neg, alpha, scale = self.saved
        return array_module(g).where(pos, g, g * (neg + g.dtype.type(alpha))) * \
            g.dtype.type(scale)


class GELU(Function):
    """x·Φ(x), Φ the standard normal CDF (``approximate="tanh"``: the tanh formula).

    exact:  d/dx = Φ(x) + x·φ(x)
    tanh:   0.5x(1+tanh u), u = √(2/π)(x + 0.044715x³)
    """

    def forward(self, x, approximate):
        xp = array_module(x)
        if approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            t = xp.tanh(c * (x + 0.044715 * x ** 3))
            self.saved = (x, t, approximate)
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        cdf = 0.5 * (1 + xp.asarray(erf(xp)(x / math.sqrt(2)), dtype=x.dtype))
        self.saved = (x, cdf, approximate)
        return x * cdf

    def backward(self, g):
        x, c, approximate = self.saved
        xp = array_module(x)
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            du = k * (1 + 3 * 0.044715 * x * x)
            d = 0.5 * (1 + c) + 0.5 * x * (1 - c * c) * du
        else:
            pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            d = c + x * pdf
        return (g * d).astype(g.dtype, copy=False)


class SiLU(Function):
    """Swish / SiLU: x·σ(x);  derivative σ(x)(1 + x(1-σ(x)))."""

    def forward(self, x):
        s = _sigmoid(x)
        self.saved = (x, s)
        return x * s

    def backward(self, g):
        x, s = self.saved
        return g * s * (1 + x * (1 - s))


class Softplus(Function):
    """ln(1+eˣ) = max(x,0) + ln(1+e^-|x|) (stable);  derivative σ(x)."""

    def forward(self, x):
        xp = array_module(x)
        self.saved = x
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        return g * _sigmoid(self.saved)


def sigmoid(x):
    """Logistic function 1/(1+e⁻ˣ)."""
    return Sigmoid.apply(lift(x))


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh.apply(lift(x))


def relu(x, inplace=False):
    """Rectified linear unit max(0, x).

    ``inplace=True`` (PyTorch's ``inplace``) writes the result into x's array: one
    full-size array less, kept alive until backward.  Only for an x nothing else reads
    afterwards; refused (RuntimeError) when x is a leaf that requires grad, or when the op
    that made x keeps its output for its own backward (``Function.saves_output``).
    """
    x = lift(x)
    if inplace:
        _check_inplace(x, "relu")
    return ReLU.apply(x, inplace=bool(inplace))


def _check_inplace(x, op):
    fn = x.grad_fn
    if fn is None and x.requires_grad:
        raise RuntimeError(f"{op}(inplace=True) on a leaf tensor that requires grad would "
                           "overwrite the values its gradient is taken at; use inplace=False.")
    if fn is not None and fn.saves_output:
        raise RuntimeError(f"{op}(inplace=True): the input was made by {fn.name}, which keeps "
                           "its output for its backward pass; use inplace=False.")


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0 else negative_slope·x (PyTorch's default slope 0.01)."""
    return LeakyReLU.apply(lift(x), alpha=negative_slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0 else α(eˣ-1)."""
    return ELU.apply(lift(x), alpha=alpha, scale=1.0)


def selu(x):
    """Scaled ELU with λ = 1.0507…, α = 1.6733… (self-normalising networks)."""
    return ELU.apply(lift(x), alpha=SELU_ALPHA, scale=SELU_SCALE)


def gelu(x, approximate="none"):
    """Gaussian error linear unit x·Φ(x); ``approximate="tanh"`` for the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}.")
    return GELU.apply(lift(x), approximate=approximate)


def silu(x):
    """x·σ(x), also called swish."""
    return SiLU.apply(lift(x))


swish = silu


def softplus(x):
    """ln(1 + eˣ), a smooth ReLU."""
    return Softplus.apply(lift(x))
