"""Elementwise arithmetic with NumPy broadcasting.  Each gradient is reduced back to its
input's shape with ``unbroadcast``."""
from __future__ import annotations

import numbers

from .. import dtypes
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor
from ._util import lift, lift_pair, unbroadcast


class Add(Function):
    """z = a + b;  dz/da = 1, dz/db = 1."""

    saves_output = False

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        sa, sb = self.saved
        return (unbroadcast(g, sa) if self.needs_grad[0] else None,
                unbroadcast(g, sb) if self.needs_grad[1] else None)


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    saves_output = False

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        sa, sb = self.saved
        return (unbroadcast(g, sa) if self.needs_grad[0] else None,
                unbroadcast(-g, sb) if self.needs_grad[1] else None)


class Mul(Function):
    """z = a * b;  dz/da = b, dz/db = a."""

    def forward(self, a, b):
        self.saved = (a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        return (unbroadcast(g * b, a.shape) if self.needs_grad[0] else None,
                unbroadcast(g * a, b.shape) if self.needs_grad[1] else None)


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b²."""

    def forward(self, a, b):
        self.saved = (a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        gb = g / b
        return (unbroadcast(gb, a.shape) if self.needs_grad[0] else None,
                unbroadcast(-gb * a / b, b.shape) if self.needs_grad[1] else None)


class PowScalar(Function):
    """z = x^p for a constant p;  dz/dx = p·x^(p-1)."""

    def forward(self, x, p):
        self.saved = (x, p)
        return x ** p

    def backward(self, g):
        x, p = self.saved
        if p == 0:  # x⁰ = 1 has slope 0, also at x = 0 (p·x⁻¹ would give 0·inf = nan)
            return array_module(g).zeros_like(g)
        if p == 2:
            return g * (2 * x)
        return g * (p * x ** (p - 1))


class Pow(Function):
    """z = a^b;  dz/da = b·a^(b-1),  dz/db = z·ln(a) (taken as 0 where a = 0)."""

    def forward(self, a, b):
        out = a ** b
        self.saved = (a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        xp = array_module(a)
        da = db = None
        if self.needs_grad[0]:
            da = unbroadcast(g * b * a ** (b - 1), a.shape)
        if self.needs_grad[1]:
            safe = xp.where(a > 0, a, 1)
            db = unbroadcast(g * out * xp.log(safe) * (a > 0), b.shape)
        return da, db


class Neg(Function):
    """z = -x."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    """z = eˣ;  dz/dx = z."""

    def forward(self, x):
        out = array_module(x).exp(x)
        self.saved = out
        return out

    def backward(self, g):
        return g * self.saved


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""

    def forward(self, x):
        self.saved = x
        return array_module(x).log(x)

    def backward(self, g):
        return g / self.saved


class Sqrt(Function):
    """z = √x;  dz/dx = 1/(2√x)."""

    def forward(self, x):
        out = array_module(x).sqrt(x)
        self.saved = out
        return out

    def backward(self, g):
        return g / (2 * self.saved)


class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    def forward(self, x):
        self.saved = x
        return array_module(x).abs(x)

    def backward(self, g):
        return g * array_module(g).sign(self.saved)


class Maximum(Function):
    """z = max(a, b) elementwise; at ties each input gets half the gradient (as PyTorch)."""

    def forward(self, a, b):
        self.saved = (a, b)
        return array_module(a).maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        share = (a > b).astype(g.dtype)  # in g's dtype: bool + 0.5·bool is float64
        share += (a == b) * g.dtype.type(0.5)
        da = unbroadcast(g * share, a.shape) if self.needs_grad[0] else None
        db = unbroadcast(g * (1 - share), b.shape) if self.needs_grad[1] else None
        return da, db


class Minimum(Function):
    """z = min(a, b) elementwise; at ties each input gets half the gradient (as PyTorch)."""

    def forward(self, a, b):
        self.saved = (a, b)
        return array_module(a).minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        share = (a < b).astype(g.dtype)  # in g's dtype: bool + 0.5·bool is float64
        share += (a == b) * g.dtype.type(0.5)
        da = unbroadcast(g * share, a.shape) if self.needs_grad[0] else None
        db = unbroadcast(g * (1 - share), b.shape) if self.needs_grad[1] else None
        return da, db


class Where(Function):
    """z = a where cond else b;  the gradient flows to the chosen input only."""

    def forward(self, a, b, cond):
        self.saved = (a.shape, b.shape, cond)
        return array_module(a).where(cond, a, b)

    def backward(self, g):
        sa, sb, cond = self.saved
        zero = g.dtype.type(0)
        da = unbroadcast(g * cond, sa) if self.needs_grad[0] else None
        db = unbroadcast(array_module(g).where(cond, zero, g), sb) if self.needs_grad[1] else None
        return da, db


class Clip(Function):
    """z = min(max(x, lo), hi);  dz/dx = 1 where lo ≤ x ≤ hi (inclusive, as PyTorch)."""

    def forward(self, x, lo, hi):
        self.saved = (x, lo, hi)
        return array_module(x).clip(x, lo, hi)

    def backward(self, g):
        x, lo, hi = self.saved
        mask = True
        if lo is not None:
            mask = x >= lo
        if hi is not None:
            mask = mask & (x <= hi)
        return g * mask


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    saves_output = False

    def forward(self, x, dtype):
        self.saved = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.saved)


def _binary(fn, a, b):
    a, b = lift_pair(a, b)
    return fn.apply(a, b)


def add(a, b):
    """a + b with broadcasting."""
    return _binary(Add, a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return _binary(Sub, a, b)


def mul(a, b):
    """a * b with broadcasting."""
    return _binary(Mul, a, b)


def div(a, b):
    """a / b with broadcasting (true division: integer inputs give floats)."""
    a, b = lift_pair(a, b)
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        a, b = cast(a, dtypes.get_default_dtype()), cast(b, dtypes.get_default_dtype())
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - NumPy/PyTorch name
    """a ** b.  A constant Python exponent uses the cheaper x^p rule."""
    if isinstance(a, Tensor) and isinstance(b, numbers.Real) and not isinstance(b, bool):
        if a.data.dtype.kind != "f" and (b < 0 or not float(b).is_integer()):
            a = cast(a, dtypes.get_default_dtype())
        return PowScalar.apply(a, p=b)
    return _binary(Pow, a, b)


def neg(x):
    """-x."""
    return Neg.apply(lift(x))


def _float_input(x):
    x = lift(x)
    return x if x.data.dtype.kind == "f" else cast(x, dtypes.get_default_dtype())


def exp(x):
    """eˣ."""
    return Exp.apply(_float_input(x))


def log(x):
    """Natural logarithm."""
    return Log.apply(_float_input(x))


def sqrt(x):
    """Square root."""
    return Sqrt.apply(_float_input(x))


def abs(x):  # noqa: A001
    """|x|."""
    return Abs.apply(lift(x))


def maximum(a, b):
    """Elementwise maximum with broadcasting."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise minimum with broadcasting."""
    return _binary(Minimum, a, b)


def where(cond, a, b):
    """Pick from ``a`` where ``cond`` is true, else from ``b`` (``cond`` is not differentiated)."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    a, b = lift_pair(a, b)
    xp = array_module(a.data)
    return Where.apply(a, b, cond=xp.asarray(cond, dtype=bool))


def clip(x, min=None, max=None):  # noqa: A002 - PyTorch/NumPy argument names
    """Limit values to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clip needs at least one of `min` and `max`.")
    x = lift(x)
    lo = None if min is None else (min.data if isinstance(min, Tensor) else min)
    hi = None if max is None else (max.data if isinstance(max, Tensor) else max)
    return Clip.apply(x, lo=lo, hi=hi)


def cast(x, dtype):
    """Convert to ``dtype``; differentiable between float dtypes."""
    x = lift(x)
    dtype = dtypes.resolve(dtype)
    if x.data.dtype == dtype:
        return x
    if dtype.kind != "f":
        return Tensor._wrap(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)


def clone(x):
    """A copy of ``x`` that stays in the graph."""
    return add(x, 0) if x.requires_grad else Tensor._wrap(x.data.copy())
