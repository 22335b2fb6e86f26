"""Merge layers (Keras): combine a list of tensors into one.

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` work elementwise
(shapes must broadcast); ``Concatenate(axis=1)`` joins along the channel axis (NCHW).
Call them on a list: ``Add()([a, b])``.

A residual block, written by subclassing Module, inside a model that trains with
``compile``/``fit``:

.. code-block:: python

    import numpy as np
    import shenjing as sj
    from shenjing import nn

    class ResidualBlock(nn.Module):
        def __init__(self, filters):
            super().__init__()
            self.conv1 = nn.Conv2D(filters, 3, padding="same")
            self.bn1 = nn.BatchNormalization()
            self.conv2 = nn.Conv2D(filters, 3, padding="same")
            self.bn2 = nn.BatchNormalization()
            self.add = nn.Add()

        def forward(self, x):
            h = sj.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return sj.relu(self.add([x, h]))     # the skip connection

    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Conv2D(8, 3, padding="same", input_shape=(1, 8, 8)),
        ResidualBlock(8),
        nn.GlobalAveragePooling2D(),
        nn.Dense(2),
    ])
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from .. import ops
from ..tensor import Tensor
from .module import Module


class _Merge(Module):
    """Checks the list of inputs, then ``_merge`` combines them."""

    min_inputs = 1

    def forward(self, inputs):
        name = f"{type(self).__name__} '{self.name}'"
        if not isinstance(inputs, (list, tuple)):
            shape = getattr(inputs, "shape", None)
            raise TypeError(f"{name} expects a list of tensors, e.g. layer([a, b]), got a "
                            f"single {type(inputs).__name__}"
                            + (f" of shape {tuple(shape)}" if shape is not None else "") + ".")
        if len(inputs) < self.min_inputs:
            raise ValueError(f"{name} expects at least {self.min_inputs} inputs, got "
                             f"{len(inputs)}.")
        xs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        self._check_shapes(name, [tuple(x.shape) for x in xs])
        return self._merge(xs)

    def _check_shapes(self, name, shapes):
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"{name} expects inputs of the same (or broadcastable) shape, "
                             f"got shapes {', '.join(map(str, shapes))}.") from None


class Add(_Merge):
    """Elementwise sum of the inputs: ``Add()([a, b]) == a + b``."""

    def _merge(self, xs):
        return functools.reduce(ops.add, xs)


class Subtract(_Merge):
    """``Subtract()([a, b]) == a - b`` (exactly two inputs)."""

    min_inputs = 2

    def _merge(self, xs):
        if len(xs) != 2:
            raise ValueError(f"Subtract '{self.name}' expects exactly 2 inputs, got {len(xs)}.")
        return ops.sub(xs[0], xs[1])


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    def _merge(self, xs):
        return functools.reduce(ops.mul, xs)


class Average(_Merge):
    """Elementwise mean of the inputs: (a + b + ...) / n."""

    def _merge(self, xs):
        return functools.reduce(ops.add, xs) / len(xs)


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, xs):
        return functools.reduce(ops.maximum, xs)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, xs):
        return functools.reduce(ops.minimum, xs)


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default 1, the channels of NCHW); every other axis
    must match.

    >>> sj.nn.Concatenate()([sj.randn(2, 3, 4, 4), sj.randn(2, 5, 4, 4)]).shape
    (2, 8, 4, 4)
    """

    def __init__(self, axis=1, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Concatenate expects an int axis, got {axis!r}.")
        self.axis = int(axis)

    def _check_shapes(self, name, shapes):
        nd = len(shapes[0])
        ok = all(len(s) == nd for s in shapes) and -nd <= self.axis < nd
        if ok:
            a = self.axis % nd
            ok = len({s[:a] + s[a + 1:] for s in shapes}) == 1
        if not ok:
            raise ValueError(f"{name} expects inputs whose shapes match except on axis "
                             f"{self.axis}, got shapes {', '.join(map(str, shapes))}.")

    def _merge(self, xs):
        return ops.concatenate(xs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
