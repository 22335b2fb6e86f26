"""Module: the base of every layer and model (containers: ``Sequential``, ``ModuleList``).

A Module finds its Parameters, buffers and sub-Modules by walking its attributes in
definition order (DESIGN §7): a Parameter or Module attribute, or a list/tuple/dict attribute
of them, is registered by being assigned.  Names are dotted paths (``layers.0.kernel``).

Lifecycle (Keras): ``__init__`` stores configuration; ``build(input_shape)`` creates the
weights on the first call, from the first input's shape; ``forward`` computes with ops.

    class TwoLayer(sj.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = sj.nn.Dense(32, activation="relu")
            self.out = sj.nn.Dense(10)

        def forward(self, x):
            return self.out(self.hidden(x))
"""
from __future__ import annotations

import itertools
import re
import weakref

import numpy as np

from .. import regularizers
from ..backend import array_module, to_device, to_numpy
from ..tensor import Parameter, Tensor
from . import init
from ._module_device import ModuleDevice, float_dtype
from ._module_display import ModuleDisplay
from ._module_state import LoadResult, ModuleState  # noqa: F401  (LoadResult: re-exported)

_name_counts: dict[str, int] = {}
_hook_ids = itertools.count()

_BOOKKEEPING = frozenset({"_buffer_names", "_frozen", "_forward_hooks", "_regularized",
                          "_init_args", "_build_input_shape", "_constants"})
# every Module subclass by "module.qualname" (the latest definition wins): what loading a
# saved model may instantiate — sj.io never imports or evaluates anything named in a file
_CLASSES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, ... (Keras auto names, per process)."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Restart the automatic layer-name counters (``dense``, ``dense_1``, ...)."""
    _name_counts.clear()


def _snake(name: str) -> str:
    # Keras' rule: no break after a digit, so Conv2D → conv2d, MaxPooling2D → max_pooling2d
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _shape_of(x):
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    return tuple(x.shape) if hasattr(x, "shape") else None


class _HookHandle:
    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module(ModuleDevice, ModuleState, ModuleDisplay):
    """Base class for layers and models: registration, modes, state, names, building.

    Moving between devices and dtypes (``to``, ``cpu``, ``cuda``, ``float``, ``double``,
    ``device``) comes from ``ModuleDevice``; ``state_dict`` / ``load_state_dict`` from
    ``ModuleState``; ``repr``, ``summary`` and ``plot`` from ``ModuleDisplay``."""

    activity_regularizer = None  # layers that take ``activity_regularizer=`` set their own

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES[f"{cls.__module__}.{cls.__qualname__}"] = cls

    def __new__(cls, *args, **kwargs):
        # keep the constructor arguments: saving uses them for classes whose __init__ is
        # newer than their get_config (a subclassed Model), as Keras 3 does
        self = super().__new__(cls)
        self.__dict__["_init_args"] = (args, kwargs)
        return self

    def __init__(self, name=None, dtype=None, trainable=True):
        d = self.__dict__
        d["_buffer_names"] = set()
        d["_frozen"] = []  # weights made with add_weight(trainable=False) (copies keep them)
        d["_forward_hooks"] = {}
        d["_regularized"] = []  # (Parameter, regularizer) pairs from add_weight(regularizer=)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"a layer name must be a non-empty string, got {name!r}.")
        self.name = name or unique_name(_snake(type(self).__name__))
        self.dtype = float_dtype(dtype, type(self).__name__)
        self.training = True
        self._trainable = bool(trainable)
        self.built = type(self).build is Module.build  # nothing to build: built from the start
        self.output_shape = None

    # ------------------------------------------------------------------ registration
    def __setattr__(self, key, value):
        d = self.__dict__
        if "_buffer_names" not in d:
            if isinstance(value, (Module, Parameter)):
                raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                                   f"assigning layers or parameters (assigning {key!r}).")
            object.__setattr__(self, key, value)
            return
        if key in d["_buffer_names"]:
            value = _as_buffer(value, key)
        elif (isinstance(d.get(key), Parameter) and value is not None
              and not isinstance(value, Parameter)):
            raise TypeError(f"cannot assign a {type(value).__name__} to parameter {key!r} of "
                            f"{type(self).__name__} '{self.name}': expected a Parameter or "
                            "None. Change values in place (p.data[...] = ...) or wrap the "
                            "new value in sj.nn.Parameter.")
        object.__setattr__(self, key, value)

    def __delattr__(self, key):
        self.__dict__.get("_buffer_names", set()).discard(key)
        object.__delattr__(self, key)

    def __getattr__(self, key):  # only called when normal lookup fails
        if not key.startswith("__") and "_buffer_names" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no attribute {key!r}: did its "
                                 "__init__ forget to call super().__init__()?")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def register_buffer(self, name, value) -> None:
        """Keep a non-trainable tensor (running statistics) in ``state_dict`` and ``to()``."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"buffer name must be an identifier, got {name!r}.")
        if isinstance(value, Parameter):
            raise TypeError(f"buffer {name!r} is a Parameter; assign it as an attribute.")
        self.__dict__["_buffer_names"].add(name)
        setattr(self, name, value)

    def _members(self):
        """(name, Parameter | Module | buffer Tensor) held directly, in definition order."""
        buffers = self.__dict__["_buffer_names"]
        for key, value in self.__dict__.items():
            if key in _BOOKKEEPING:
                continue
            if isinstance(value, (Parameter, Module)):
                yield key, value
            elif key in buffers:
                if value is not None:
                    yield key, value
            elif isinstance(value, (list, tuple)) and value and \
                    isinstance(value[0], (Parameter, Module)):
                for i, v in enumerate(value):
                    if isinstance(v, (Parameter, Module)):
                        yield f"{key}.{i}", v
            elif isinstance(value, dict) and value and \
                    isinstance(next(iter(value.values())), (Parameter, Module)):
                for k, v in value.items():
                    if isinstance(v, (Parameter, Module)):
                        yield f"{key}.{k}", v

    def _walk(self, prefix="", recurse=True, memo=None):
        """(dotted name, tensor, is_parameter) for parameters and buffers, depth first."""
        memo = set() if memo is None else memo
        memo.add(id(self))
        for key, value in self._members():
            name = prefix + key
            if isinstance(value, Module):
                if recurse and id(value) not in memo:
                    yield from value._walk(name + ".", True, memo)
            else:
                yield name, value, isinstance(value, Parameter)

    # ------------------------------------------------------------------ traversal
    def named_parameters(self, prefix="", recurse=True):
        """(``"layers.0.kernel"``, Parameter) pairs in definition order, each once."""
        seen = set()
        for name, t, is_param in self._walk(prefix and prefix + ".", recurse):
            if is_param and id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def parameters(self, recurse=True):
        """Every Parameter (trainable or not) once, in definition order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def trainable_parameters(self):
        """The Parameters that currently require gradients."""
        return (p for p in self.parameters() if p.requires_grad)

    def named_buffers(self, prefix="", recurse=True):
        for name, t, is_param in self._walk(prefix and prefix + ".", recurse):
            if not is_param:
                yield name, t

    def buffers(self, recurse=True):
        return (t for _, t in self.named_buffers(recurse=recurse))

    def named_children(self):
        seen = set()
        for name, value in self._members():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix="", memo=None):
        """(dotted name, Module) for this module ("") and all its descendants, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        return (m for _, m in self.named_modules())

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant and on self (children first); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        """Set training mode (dropout active, batch statistics) here and in all descendants."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Forget accumulated gradients (set them to None, or to zeros)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(array_module(p.data).zeros_like(p.data))

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """Freeze (False) or unfreeze this module's weights; ``parameters()`` still lists them."""
        value = bool(value)
        for m in self.modules():
            m.__dict__["_trainable"] = value
            for _, p in m._members():
                if isinstance(p, Parameter) and not any(p is q for q in m._frozen):
                    p.requires_grad = value
                    p.trainable = value

    def count_params(self) -> int:
        """Number of scalars in all Parameters."""
        return sum(int(p.size) for p in self.parameters())

    # ------------------------------------------------------------------ weights and dtypes
    def add_weight(self, shape, initializer="glorot_uniform", name=None, trainable=True,
                   dtype=None, regularizer=None):
        """A new Parameter of ``shape`` filled by ``initializer`` in the layer's dtype.

        Assign the result to an attribute to register it: ``self.kernel = self.add_weight(...)``.
        ``regularizer`` (``sj.regularizers``) adds its penalty of the weight to ``losses``.
        """
        dt = float_dtype(dtype or self.dtype, f"{type(self).__name__}.add_weight")
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
        values = init.get(initializer)(shape, dt)  # drawn on the host (shenjing.random)
        values = to_numpy(values.data if isinstance(values, Tensor) else values).astype(
            dt, copy=False)
        if values.shape != shape:
            raise ValueError(f"initializer {initializer!r} returned shape {values.shape} for a "
                             f"weight of shape {shape}.")
        live = bool(trainable) and self._trainable
        device = self.__dict__.get("_device")
        p = Parameter(values if device is None else to_device(values, device),
                      requires_grad=live)
        p.trainable, p.name = live, name
        if not trainable:
            self._frozen.append(p)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self.__dict__["_regularized"].append((p, regularizer))
        return p

    # ------------------------------------------------------------------ regularization
    @property
    def losses(self) -> list:
        """Scalar penalty Tensors (Keras ``layer.losses``): the activity penalties of the
        last forward, then ``regularizer(w)`` for every trainable regularized weight here and
        in the descendants.  Frozen weights (``trainable = False``) add nothing."""
        return regularizers.module_losses(self)

    def regularization_loss(self):
        """Σ ``losses`` as one differentiable scalar Tensor, or None when there are none.

        >>> loss = criterion(model(x), y) + (model.regularization_loss() or 0.0)
        """
        return regularizers.total(self.losses)

    # ------------------------------------------------------------------ calling
    def build(self, input_shape):
        """Create weights from the first input's shape (layers that need it override this)."""

    def _build(self, input_shape):
        self.__dict__["_build_input_shape"] = input_shape  # saved, to rebuild on load
        self.build(input_shape)
        self.built = True
        device = self.__dict__.get("_device")
        if device is not None:  # weights and buffers made in build() go to our device
            self._move_to(device)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward().")

    def __call__(self, *args, **kwargs):
        if args and isinstance(args[0], np.ndarray):
            args = (Tensor._wrap(args[0]), *args[1:])
        if not self.built:
            self._build(_shape_of(args[0]) if args else None)
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            out = out if result is None else result
        if self.activity_regularizer is not None:  # Keras: penalty(output) / batch size
            self.__dict__["_activity_loss"] = regularizers.activity_penalty(
                self.activity_regularizer, out)
        self.output_shape = _shape_of(out)
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after each forward; it may return a new
        output.  Returns a handle whose ``remove()`` unregisters it."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return _HookHandle(self._forward_hooks, key)

    # ------------------------------------------------------------------ description
    def get_config(self) -> dict:
        """Constructor arguments (subclasses add theirs); ``from_config`` rebuilds."""
        return {"name": self.name, "dtype": str(self.dtype), "trainable": self._trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_CLASSES[f"{__name__}.Module"] = Module


def _as_buffer(value, name):
    if value is None or isinstance(value, Tensor) and not isinstance(value, Parameter):
        return value
    if isinstance(value, Parameter):
        raise TypeError(f"buffer {name!r} cannot hold a Parameter.")
    return Tensor(value)


# The containers live in containers.py (size); importable from here too, as the design says.
from .containers import ModuleList, Sequential  # noqa: E402,F401
