"""Weight and activity regularizers (Keras 3): penalties added to the training loss.

    L1(l1=0.01):        l1 · Σ|w|
    L2(l2=0.01):        l2 · Σ w²          (Keras 3: no 1/2)
    L1L2(l1=0, l2=0):   l1 · Σ|w| + l2 · Σ w²
    OrthogonalRegularizer(factor=0.01, mode="rows"): factor · ½ · Σ_{i≠j} |⟨r̂_i, r̂_j⟩| / (n(n-1)/2)
                        over the L2-normalised rows (or columns) of a 2-D weight

A layer takes them as ``kernel_regularizer=``, ``bias_regularizer=``,
``recurrent_regularizer=`` (recurrent layers), ``embeddings_regularizer=`` (Embedding) and
``activity_regularizer=`` (the penalty of the layer's output, divided by the batch size as
Keras does).  ``module.losses`` lists the penalties, ``module.regularization_loss()`` sums
them into one differentiable scalar (None when there are none); frozen weights
(``trainable = False``) add nothing, as in Keras.

>>> layer = sj.nn.Dense(4, kernel_regularizer=sj.regularizers.l2(1e-3))
>>> y = layer(sj.randn(8, 3))
>>> penalty = layer.regularization_loss()     # 1e-3 · Σ kernel²
"""
from __future__ import annotations

import numbers

from . import ops
from ._config import Configurable
from .backend import array_module
from .tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _factor(value, what, who):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 \
            or value == float("inf"):
        raise ValueError(f"{who} expects a finite number >= 0 for `{what}`, got {value!r}.")
    return float(value)


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class Regularizer(Configurable):
    """Base class: ``reg(w)`` returns the scalar penalty Tensor of the weight ``w``.

    Subclass it and write ``__call__`` (with ops, so the penalty is differentiable) and
    ``get_config`` (the constructor arguments, for saving).
    """

    def __call__(self, x):
        return ops.sum(_tensor(x)) * 0.0

    def get_config(self) -> dict:
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


class L1(Regularizer):
    """``l1 · Σ|w|``.

    >>> sj.regularizers.L1(0.1)(sj.tensor([1.0, -2.0])).item()
    0.3...
    """

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1", "L1")

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(_tensor(x)))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 · Σ w²`` (Keras 3's convention: no factor ½; torch's ``weight_decay=λ`` in SGD
    is the gradient of ``λ/2 · Σ w²``, i.e. ``L2(λ/2)``).

    >>> sj.regularizers.L2(0.1)(sj.tensor([1.0, -2.0])).item()
    0.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2", "L2")

    def __call__(self, x):
        x = _tensor(x)
        return self.l2 * ops.sum(x * x)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 · Σ|w| + l2 · Σ w²`` (both default to 0, as in Keras 3).

    >>> sj.regularizers.L1L2(l1=0.1, l2=0.1)(sj.tensor([1.0, -2.0])).item()
    0.8
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", "L1L2")
        self.l2 = _factor(l2, "l2", "L1L2")

    def __call__(self, x):
        x = _tensor(x)
        terms = ([self.l1 * ops.sum(ops.abs(x))] if self.l1 else []) + \
            ([self.l2 * ops.sum(x * x)] if self.l2 else [])
        if not terms:
            return ops.sum(x) * 0.0
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns of a 2-D weight towards orthogonality:
    ``factor · ½ · Σ_{i≠j} |⟨v̂_i, v̂_j⟩| / (n(n-1)/2)`` with v̂ the L2-normalised vectors.

    Kernels are stored in shenjing's layout (Dense: (in, units) as Keras, so "columns" means
    the units; recurrent weights are torch's (gates·units, in), the transpose of Keras').

    >>> reg = sj.regularizers.OrthogonalRegularizer(factor=1.0, mode="columns")
    >>> reg(sj.eye(3)).item()
    0.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer expects mode 'rows' or 'columns', got "
                             f"{mode!r}.")
        self.mode = mode

    def __call__(self, x):
        x = _tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, got shape "
                             f"{tuple(x.shape)}; use it on Dense kernels.")
        if self.mode == "columns":
            x = ops.transpose(x)
        n = x.shape[0]
        if n < 2:
            return ops.sum(x) * 0.0
        norm = ops.sqrt(ops.maximum(ops.sum(x * x, axis=1, keepdims=True), 1e-12))
        v = x / norm
        product = ops.matmul(v, ops.transpose(v))
        off = Tensor(1.0 - _eye(n, x))
        pairs = n * (n - 1) / 2.0
        return (self.factor * 0.5 / pairs) * ops.sum(ops.abs(product * off))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def _eye(n, like):
    return array_module(like.data).eye(n, dtype=like.data.dtype)


# Keras' lower-case spellings are the classes themselves
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_REGISTRY = {"l1": L1, "l2": L2, "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer,
             "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer}


def get(identifier):
    """A regularizer from None, a name (``"l2"``: default factor 0.01), a
    ``{"class_name", "config"}`` dict, a Regularizer or any callable ``f(w) -> scalar``.

    >>> sj.regularizers.get("l2")
    L2(l2=0.01)
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"unknown regularizer {identifier!r}; valid names: "
                             f"{', '.join(sorted(_REGISTRY))}.")
        return _REGISTRY[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"a regularizer must be None, a name ('l1', 'l2', 'l1_l2'), a "
                    f"Regularizer or a callable f(weight) -> scalar, got "
                    f"{type(identifier).__name__}: {identifier!r}.")


def serialize(regularizer):
    """``{"class_name": "L2", "config": {"l2": 0.01}}``, None for None, a function's name."""
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    return getattr(regularizer, "__name__", repr(regularizer))


def deserialize(config):
    """The inverse of ``serialize`` (classes by name: built-ins and Regularizer subclasses)."""
    if config is None or isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    cls = _REGISTRY.get(name) or {c.__name__: c for c in _subclasses(Regularizer)}.get(name)
    if cls is None:
        raise ValueError(f"unknown regularizer class {name!r}; define it as a subclass of "
                         "sj.regularizers.Regularizer (imported before loading).")
    return cls.from_config(config.get("config", {}))


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


# ---------------------------------------------------------------- used by nn.Module

def module_losses(module) -> list:
    """``module.losses``: activity penalties of the last forward, then the penalties of the
    trainable regularized weights (``add_weight(regularizer=)``), each pair once."""
    out, seen = [], set()
    mods = list(module.modules())
    for m in mods:
        loss = m.__dict__.get("_activity_loss")
        if loss is not None:
            out.append(loss)
    for m in mods:
        pairs = m.__dict__.get("_regularized", ())
        if not pairs:
            continue
        own = {id(v) for _, v in m._members()}  # a weight replaced since add_weight: dropped
        for p, reg in pairs:
            if p.requires_grad and id(p) in own and (id(p), id(reg)) not in seen:
                seen.add((id(p), id(reg)))
                out.append(reg(p))
    return out


def total(losses):
    """The sum of a list of scalar Tensors, or None for an empty list."""
    if not losses:
        return None
    result = losses[0]
    for loss in losses[1:]:
        result = result + loss
    return result


def activity_penalty(regularizer, out):
    """Σ over the float Tensor outputs of ``regularizer(y) / batch size`` (Keras), or None."""
    outs = out if isinstance(out, (list, tuple)) else [out]
    result = None
    for y in outs:
        if isinstance(y, Tensor) and y.dtype.kind == "f":
            loss = regularizer(y)
            loss = loss / y.shape[0] if y.ndim and y.shape[0] else loss
            result = loss if result is None else result + loss
    return result


_CONFIG_KEYS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                "embeddings_regularizer", "activity_regularizer")


def config_entries(layer) -> dict:
    """The serialized ``*_regularizer`` arguments a layer has (for its ``get_config``)."""
    return {k: serialize(getattr(layer, k)) for k in _CONFIG_KEYS if hasattr(layer, k)}

