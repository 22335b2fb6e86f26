"""Containers: ``Sequential`` (a stack of layers, each feeding the next) and ``ModuleList``.

A Sequential keeps its layers in the list ``self.layers``, so parameter names are
``layers.0.kernel``, ``layers.1.bias``, ...; a ModuleList names its items ``0``, ``1``, ...
"""
from __future__ import annotations

import inspect

from ..tensor import Tensor
from .module import Module

_TAKES_MASK: dict[type, bool] = {}


def _takes_mask(layer) -> bool:
    """Whether ``layer`` takes a padding mask: it defines ``compute_mask`` (it opts in to
    masking) and its ``forward`` has a ``mask`` parameter (cached per class).  Layers whose
    ``mask`` means something else (a torch-style attention mask) are left alone."""
    cls = type(layer)
    if cls not in _TAKES_MASK:
        _TAKES_MASK[cls] = (hasattr(cls, "compute_mask")
                            and "mask" in inspect.signature(layer.forward).parameters)
    return _TAKES_MASK[cls]


def _next_mask(layer, x, y, mask):
    """The mask after ``layer`` (Keras mask propagation).  A layer with ``compute_mask``
    decides (Embedding(mask_zero=True) creates one, an RNN without return_sequences drops
    it); any other layer passes it on when its output still has the (batch, time) axes of
    the mask (Dropout, Dense or activations on sequences), and drops it otherwise."""
    compute = getattr(layer, "compute_mask", None)
    if compute is not None:
        return compute(x, mask)
    if (mask is not None and isinstance(y, Tensor) and y.ndim >= 3
            and tuple(y.shape[:2]) == tuple(mask.shape)):
        return mask
    return None


class Sequential(Module):
    """A stack of layers, each feeding the next.

    >>> model = sj.nn.Sequential([sj.nn.Dense(64, activation="relu"), sj.nn.Dense(10)])
    >>> model.add(sj.nn.Softmax())
    """

    def __init__(self, layers=None, *more, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(layers, Module):  # torch style: Sequential(layer1, layer2, ...)
            layers = [layers, *more]
        elif more:
            raise TypeError("Sequential takes a list of layers or the layers as arguments.")
        self.layers = []
        for layer in layers or ():
            self.add(layer)

    def add(self, layer):
        """Append a layer."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add expects a layer (a Module), got "
                            f"{type(layer).__name__}; wrap a function in nn.Activation(fn).")
        if not self._trainable:  # a frozen stack freezes what joins it (Keras)
            layer.trainable = False
        self.layers.append(layer)

    def pop(self):
        """Remove and return the last layer."""
        if not self.layers:
            raise IndexError("pop() from an empty Sequential.")
        return self.layers.pop()

    def forward(self, x, mask=None):
        """Each layer feeds the next; a padding mask (from ``Embedding(mask_zero=True)`` or
        given here) reaches the layers that take one (recurrent layers, Bidirectional)."""
        for layer in self.layers:
            y = layer(x, mask=mask) if mask is not None and _takes_mask(layer) else layer(x)
            mask = _next_mask(layer, x, y, mask)
            x = y
        return x

    @property
    def input_shape(self):
        """The first layer's ``input_shape`` (batch axis None), if it was given."""
        return getattr(self.layers[0], "input_shape", None) if self.layers else None

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(self.layers[index])
        if isinstance(index, str):
            for layer in self.layers:
                if layer.name == index:
                    return layer
            raise KeyError(f"no layer named {index!r}; layers: "
                           f"{', '.join(repr(m.name) for m in self.layers)}.")
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def _repr_children(self):
        return ((str(i), m) for i, m in enumerate(self.layers))

    def get_config(self):
        """The layers themselves (``sj.io`` saves each by its own config) and the base keys."""
        return {**super().get_config(), "layers": list(self.layers)}


class ModuleList(Module):
    """A list of sub-modules that registers them (names ``0``, ``1``, ...); no forward."""

    def __init__(self, modules=None, name=None):
        super().__init__(name=name)
        self._items = []
        self.extend(modules or ())

    @staticmethod
    def _check(m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(m).__name__}.")
        return m

    def append(self, module):
        self._items.append(self._check(module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        self._items.insert(index, self._check(module))

    def _members(self):
        return ((str(i), m) for i, m in enumerate(self._items))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._items[index])
        return self._items[index]

    def __setitem__(self, index, module):
        self._items[index] = self._check(module)

    def __delitem__(self, index):
        del self._items[index]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def get_config(self):
        return {"name": self.name, "modules": list(self._items)}

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container with no forward(); loop over it in your "
                        "module's forward, or use Sequential to chain layers.")
