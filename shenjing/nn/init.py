"""Weight initialisers.  Every draw goes through ``shenjing.random.generator()``.

Two families, one per naming convention (DESIGN §6):

* Keras-style initialiser objects, used by layers through ``add_weight`` and looked up by name
  with ``get("glorot_uniform")``.  Each is a callable ``init(shape, dtype) -> np.ndarray``::

      w = sj.nn.init.GlorotUniform()((64, 10), "float32")

  The lowercase names are aliases of the classes (``init.glorot_uniform is GlorotUniform``),
  as in Keras 3.  Fans (``compute_fans``): a 2-D shape is a dense kernel ``(in, out)``;
  a shape with more axes is a convolution kernel in PyTorch layout ``(out, in, *kernel)``.

* PyTorch-style in-place functions on a Parameter/Tensor (``xavier_uniform_``,
  ``kaiming_normal_``, ...), with torch's argument names and torch's weight layout
  ``(out, in, *kernel)`` for the fans, so ``Linear`` and ported models match torch exactly::

      sj.nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5))
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..backend import array_module
from ..random import generator

# Standard deviation of N(0, 1) truncated to [-2, 2]; Keras divides by it so that the
# truncated draw keeps the intended variance.
_TRUNC_STD = 0.87962566103423978


# ---------------------------------------------------------------------------- helpers
def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel: ``(in, out)`` for 2-D, ``(out, in, *k)`` for conv."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _torch_fans(shape) -> tuple[int, int]:
    """torch.nn.init's fans: the weight is ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tuple(shape)}.")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _dtype(dtype):
    dt = dtypes.resolve(dtype) or dtypes.get_default_dtype()
    if not dtypes.is_floating(dt):
        raise TypeError(f"initialisers make floating-point weights, got dtype {dt}.")
    return dt


def _truncated_normal(shape, mean, std, low=-2.0, high=2.0):
    """N(mean, std²) restricted to [mean + low·std, mean + high·std] by redrawing outliers."""
    if not low < high:
        raise ValueError(f"truncation bounds need low < high, got [{low}, {high}].")
    rng = generator()
    z = rng.standard_normal(shape)
    bad = (z < low) | (z > high)
    for _ in range(1000):
        n = int(bad.sum())
        if n == 0:
            return mean + std * z
        z[bad] = rng.standard_normal(n)
        bad = (z < low) | (z > high)
    raise ValueError(f"truncation interval [{low}, {high}] (in standard deviations) holds "
                     "too little probability to sample from; widen it.")


def _orthogonal(shape, gain):
    """A (semi-)orthogonal matrix reshaped to ``shape``: rows = shape[0], cols = the rest."""
    if len(shape) < 2:
        raise ValueError(f"orthogonal initialisation needs at least 2 dimensions, got shape "
                         f"{tuple(shape)}.")
    rows, cols = shape[0], math.prod(shape[1:])
    a = generator().standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))  # unique, uniform (Haar) q
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


# ---------------------------------------------------------------------------- Keras style
class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a NumPy array of that shape and dtype."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        return np.asarray(self.sample(shape), dtype=np.float64).astype(_dtype(dtype))

    def sample(self, shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    """Every entry equals ``value``."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """N(mean, stddev²)."""

    def __init__(self, mean=0.0, stddev=0.05):
        if stddev < 0:
            raise ValueError(f"RandomNormal needs stddev >= 0, got {stddev}.")
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape):
        return generator().normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """N(mean, stddev²) with draws beyond 2·stddev from the mean redrawn (Keras)."""

    def sample(self, shape):
        return _truncated_normal(shape, self.mean, self.stddev)


class RandomUniform(Initializer):
    """U[minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        if maxval < minval:
            raise ValueError(f"RandomUniform needs minval <= maxval, got {minval}, {maxval}.")
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape):
        return generator().uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class VarianceScaling(Initializer):
    """Variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (stddev = √(scale/n) / 0.8796…, cut at ±2 stddev, so
    the result has variance scale/n), "untruncated_normal" (stddev √(scale/n)) or
    "uniform" (U[-limit, limit], limit = √(3·scale/n)).
    """

    _modes = ("fan_in", "fan_out", "fan_avg")
    _dists = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        if scale <= 0:
            raise ValueError(f"VarianceScaling needs scale > 0, got {scale}.")
        if mode not in self._modes:
            raise ValueError(f"mode must be one of {self._modes}, got {mode!r}.")
        if distribution not in self._dists:
            raise ValueError(f"distribution must be one of {self._dists}, got {distribution!r}.")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return generator().uniform(-limit, limit, shape)
        if self.distribution == "truncated_normal":
            return _truncated_normal(shape, 0.0, math.sqrt(var) / _TRUNC_STD)
        return generator().normal(0.0, math.sqrt(var), shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


def _fixed(name, scale, mode, distribution, doc):
    def __init__(self):
        VarianceScaling.__init__(self, scale, mode, distribution)

    return type(name, (VarianceScaling,), {"__init__": __init__, "__doc__": doc,
                                           "get_config": lambda self: {}})


GlorotUniform = _fixed("GlorotUniform", 1.0, "fan_avg", "uniform",
                       "Glorot/Xavier uniform: U[-l, l], l = √(6 / (fan_in + fan_out)).")
GlorotNormal = _fixed("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                      "Glorot/Xavier normal: truncated normal with variance 2/(fan_in+fan_out).")
HeUniform = _fixed("HeUniform", 2.0, "fan_in", "uniform",
                   "He uniform: U[-l, l], l = √(6 / fan_in).")
HeNormal = _fixed("HeNormal", 2.0, "fan_in", "truncated_normal",
                  "He normal: truncated normal with variance 2 / fan_in.")
LecunUniform = _fixed("LecunUniform", 1.0, "fan_in", "uniform",
                      "LeCun uniform: U[-l, l], l = √(3 / fan_in).")
LecunNormal = _fixed("LecunNormal", 1.0, "fan_in", "truncated_normal",
                     "LeCun normal: truncated normal with variance 1 / fan_in (for SELU).")


class Orthogonal(Initializer):
    """A random orthogonal matrix times ``gain`` (semi-orthogonal if not square).

    The shape is seen as a matrix of shape[0] rows and prod(shape[1:]) columns.
    """

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape):
        return _orthogonal(shape, self.gain)

    def get_config(self):
        return {"gain": self.gain}


zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal

_REGISTRY = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}


def get(identifier):
    """An initialiser from a name ("he_normal", "HeNormal"), a class, an instance, a
    ``{"class_name": ..., "config": {...}}`` dict or any callable ``f(shape, dtype)``."""
    if isinstance(identifier, dict):
        cls = get(identifier.get("class_name"))
        return type(cls)(**identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier if identifier in _REGISTRY else _by_class_name().get(identifier)
        if key is None:
            raise ValueError(f"unknown initializer {identifier!r}; valid names: "
                             f"{', '.join(sorted(_REGISTRY))}.")
        return _REGISTRY[key]()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name, an Initializer or a callable "
                    f"f(shape, dtype), got {type(identifier).__name__}: {identifier!r}.")


def serialize(initializer):
    """The name (default configuration) or ``{"class_name", "config"}`` of an initialiser."""
    if not isinstance(initializer, Initializer):
        return getattr(initializer, "__name__", repr(initializer))
    names = {cls: name for name, cls in _REGISTRY.items()}
    name = names.get(type(initializer), type(initializer).__name__)
    config = initializer.get_config()
    if config == type(initializer)().get_config():
        return name
    return {"class_name": type(initializer).__name__, "config": config}


def _by_class_name():
    return {cls.__name__: name for name, cls in _REGISTRY.items()}


# ---------------------------------------------------------------------------- PyTorch style
def calculate_gain(nonlinearity, param=None) -> float:
    """torch.nn.init.calculate_gain: the recommended gain for a nonlinearity."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r} for calculate_gain.")


def _fill(tensor, values):
    """Write ``values`` into ``tensor`` in place (no graph), keeping its dtype and device."""
    xp = array_module(tensor.data)
    tensor.data[...] = xp.asarray(values, dtype=tensor.data.dtype)
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U[a, b)."""
    return _fill(tensor, generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std²)."""
    return _fill(tensor, generator().normal(mean, std, tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std²) truncated to the absolute interval [a, b]."""
    if std <= 0:
        raise ValueError(f"trunc_normal_ needs std > 0, got {std}.")
    z = _truncated_normal(tensor.shape, 0.0, 1.0, (a - mean) / std, (b - mean) / std)
    return _fill(tensor, mean + std * z)


def constant_(tensor, val):
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """U[-l, l], l = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _torch_fans(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std²), std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _torch_fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}.")
    fan_in, fan_out = _torch_fans(tensor.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U[-l, l], l = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²), std = gain / √fan."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor, gain=1.0):
    """Fill with a (semi-)orthogonal matrix: rows = shape[0], columns = the rest."""
    return _fill(tensor, _orthogonal(tuple(tensor.shape), gain))
