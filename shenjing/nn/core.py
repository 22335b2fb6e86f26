"""Core layers: Dense (Keras), Linear (PyTorch layout), Activation, Dropout, Flatten, Reshape."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import ops, regularizers
from ..tensor import Tensor
from . import activations, init
from .module import Module


def _positive_int(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer} expects a positive int for `{what}`, got {value!r}.")
    return int(value)


def _features(x, layer):
    if x.ndim == 0:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' needs inputs with at least one "
                         "axis (features on the last axis), got a 0-d tensor.")
    return x.shape[-1]


class Dense(Module):
    """Fully connected layer: ``activation(x @ kernel + bias)``, kernel of shape (in, units).

    The kernel is created on the first call from the input's last axis, or at once when
    ``input_dim``/``input_shape`` (without the batch axis) is given.

    >>> layer = sj.nn.Dense(64, activation="relu")
    >>> layer(sj.randn(32, 4)).shape
    (32, 64)
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 input_dim=None, input_shape=None, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.units = _positive_int(units, "units", "Dense")
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = init.get(kernel_initializer)
        self.bias_initializer = init.get(bias_initializer)
        if input_dim is not None:
            input_shape = (_positive_int(input_dim, "input_dim", "Dense"),)
        self.input_shape = None if input_shape is None else (None, *tuple(input_shape))
        self.kernel = None
        self.bias = None
        if self.input_shape is not None:
            self._build(self.input_shape)

    def build(self, input_shape):
        if not input_shape or not isinstance(input_shape[-1], numbers.Integral):
            raise ValueError(f"Dense '{self.name}' cannot be built from input shape "
                             f"{input_shape}: the last axis (features) must be known.")
        self.kernel = self.add_weight((input_shape[-1], self.units), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    def forward(self, x):
        n_in = self.kernel.shape[0]
        if _features(x, self) != n_in:
            raise ValueError(f"Dense '{self.name}' expects inputs with {n_in} features (last "
                             f"axis), got shape {tuple(x.shape)}.")
        if x.dtype != self.kernel.dtype:  # Keras autocasting: inputs follow the layer's dtype
            x = ops.cast(x, self.kernel.dtype)
        return self.activation(ops.affine(x, self.kernel, self.bias))

    def get_config(self):
        config = {**super().get_config(), "units": self.units,
                  "activation": activations.serialize(self.activation),
                  "use_bias": self.use_bias,
                  "kernel_initializer": init.serialize(self.kernel_initializer),
                  "bias_initializer": init.serialize(self.bias_initializer),
                  **regularizers.config_entries(self)}
        if self.input_shape is not None:
            config["input_shape"] = tuple(self.input_shape[1:])
        return config

    def extra_repr(self):
        n_in = "?" if self.kernel is None else self.kernel.shape[0]
        act = activations.serialize(self.activation)
        return (f"in_features={n_in}, units={self.units}"
                + ("" if act == "linear" else f", activation={act}")
                + ("" if self.use_bias else ", use_bias=False"))


class Linear(Module):
    """PyTorch's fully connected layer: ``x @ weight.T + bias``, weight of shape (out, in).

    Initialised like torch: weight and bias from U(-1/√in, 1/√in).
    """

    def __init__(self, in_features, out_features, bias=True, name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = self.add_weight((self.out_features, self.in_features), "zeros",
                                      name="weight")
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            self.bias = self.add_weight((self.out_features,), "zeros", name="bias")
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if _features(x, self) != self.in_features:
            raise ValueError(f"Linear '{self.name}' expects inputs with {self.in_features} "
                             f"features (last axis), got shape {tuple(x.shape)}.")
        if x.dtype != self.weight.dtype:
            x = ops.cast(x, self.weight.dtype)
        return ops.affine(x, ops.transpose(self.weight), self.bias)

    def get_config(self):
        return {**super().get_config(), "in_features": self.in_features,
                "out_features": self.out_features, "bias": self.bias is not None}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Activation(Module):
    """Applies an activation by name ("relu", "softmax", ...) or any callable."""

    def __init__(self, activation, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if activation is None:
            raise ValueError("Activation needs an activation name or callable, got None.")
        self.activation = activations.get(activation)

    def forward(self, x):
        return self.activation(x)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}

    def extra_repr(self):
        return activations.serialize(self.activation)


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``rate`` and scale
    the survivors by 1/(1-rate); in evaluation, the identity.

    Masks come from ``shenjing.random`` (``sj.manual_seed`` repeats them); with ``seed`` the
    layer draws from its own generator seeded once, so its masks repeat on their own.
    """

    def __init__(self, rate, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self._generator = None if seed is None else np.random.default_rng(seed)

    def forward(self, x):
        return ops.dropout(x, self.rate, self.training, generator=self._generator)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def extra_repr(self):
        return f"rate={self.rate}"


class Flatten(Module):
    """Merge all axes but the batch axis: (N, d1, d2, ...) → (N, d1·d2·...)."""

    def forward(self, x):
        if x.ndim == 0:
            raise ValueError(f"Flatten '{self.name}' needs a batch axis, got a 0-d tensor.")
        return ops.reshape(x, (x.shape[0], -1))


class Reshape(Module):
    """Reshape each sample to ``target_shape`` (batch axis kept; one entry may be -1)."""

    def __init__(self, target_shape, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if any(d == 0 or d < -1 for d in target_shape) or target_shape.count(-1) > 1:
            raise ValueError(f"Reshape target_shape must hold positive sizes and at most one "
                             f"-1, got {target_shape}.")
        self.target_shape = target_shape

    def forward(self, x):
        n = math.prod(x.shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if (n % known if -1 in self.target_shape else n != known):
            raise ValueError(f"Reshape '{self.name}' cannot reshape samples of shape "
                             f"{tuple(x.shape[1:])} ({n} values) to {self.target_shape}.")
        return ops.reshape(x, (x.shape[0], *self.target_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}

    def extra_repr(self):
        return f"target_shape={self.target_shape}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x):
        return x if isinstance(x, Tensor) else Tensor._wrap(np.asarray(x))
