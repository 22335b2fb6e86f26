"""Convolution layers, channels first (NCHW), Keras names: Conv1D, Conv2D, Conv1DTranspose,
Conv2DTranspose.

Kernels are kept in PyTorch's layout, so torch weights copy straight in:

    Conv1D / Conv2D                   kernel (filters, in_channels // groups, *kernel_size)
    Conv1DTranspose / Conv2DTranspose kernel (in_channels, filters // groups, *kernel_size)

The input channels are read from axis 1 of the first input (``build``), so
``Conv2D(32, 3)`` needs no input size.  ``padding``: "valid" (none), "same" (Keras: the
output has ⌈n / stride⌉ positions per axis; an odd total padding puts the extra row at the
end, as TensorFlow and PyTorch do), "causal" (Conv1D only: all padding on the left), or an
int / tuple of ints padding both sides of each axis (PyTorch's convention).
"""
from __future__ import annotations

import numbers

from .. import ops, regularizers
from . import activations, init
from .core import _positive_int
from .module import Module

_LAYOUT = {1: "(batch, channels, length)", 2: "(batch, channels, height, width)"}


# ---------------------------------------------------------------- shared argument helpers

def ntuple(value, n, what, layer, minimum=1):
    """An int or ``n`` ints, each ≥ ``minimum``, as an ``n``-tuple of ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        vals = (value,) * n
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
    if len(vals) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                 for v in vals):
        raise ValueError(f"{layer} expects an int or a tuple of {n} ints for `{what}`, "
                         f"got {value!r}.")
    if any(v < minimum for v in vals):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{layer} expects {kind} values for `{what}`, got {value!r}.")
    return tuple(int(v) for v in vals)


def check_rank(layer, shape, rank):
    """Raise the layer's error unless ``shape`` is (batch, channels, *rank spatial axes)."""
    if isinstance(shape, tuple) and len(shape) == rank + 2:
        return
    got = f"shape {shape}" if isinstance(shape, tuple) else f"{shape!r}"
    hint = ""
    if isinstance(shape, tuple) and len(shape) == rank + 1:
        hint = "; add a batch axis with x[None] (one sample) or reshape the data"
    elif isinstance(shape, list):
        hint = "; this layer takes one tensor, not a list"
    raise ValueError(f"{type(layer).__name__} '{layer.name}' expects {rank + 2}-D input "
                     f"{_LAYOUT.get(rank, '(batch, channels, ...)')}, got {got}{hint}.")


def same_pads(size, kernel, stride, dilation=1):
    """Keras "same": (before, after) padding giving ⌈size / stride⌉ outputs, extra at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def pad_spatial(x, pads, value=0.0):
    """Pad the spatial axes (2, 3, ...) of ``x`` by ``pads`` = ((before, after), ...)."""
    if not any(b or a for b, a in pads):
        return x
    return ops.pad(x, ((0, 0), (0, 0), *pads), value=value)


def _layer_error(layer, error):
    """Re-raise an op's ValueError under the layer's name (the op knows only itself)."""
    return ValueError(f"{type(layer).__name__} '{layer.name}': {error}")


# ---------------------------------------------------------------- layers

class _Conv(Module):
    """Shared configuration, building and checks of the convolution layers."""

    rank = 2
    transposed = False
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None,
                 trainable=True, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        who, n = type(self).__name__, self.rank
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.filters = _positive_int(filters, "filters", who)
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", who)
        self.strides = ntuple(strides, n, "strides", who)
        self.dilation_rate = ntuple(dilation_rate, n, "dilation_rate", who)
        self.groups = _positive_int(groups, "groups", who)
        if self.filters % self.groups:
            raise ValueError(f"{who} expects `groups` to divide `filters`, got "
                             f"filters={filters}, groups={groups}.")
        if isinstance(padding, str):
            if padding.lower() not in self.paddings:
                raise ValueError(f"{who} expects padding {', '.join(map(repr, self.paddings))}"
                                 f" or an int / tuple of {n} ints, got {padding!r}.")
            self.padding = padding.lower()
        else:
            self.padding = ntuple(padding, n, "padding", who, minimum=0)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = init.get(kernel_initializer)
        self.bias_initializer = init.get(bias_initializer)
        self.kernel = None
        self.bias = None
        self.input_shape = None
        if input_shape is not None:
            self.input_shape = (None, *tuple(input_shape))
            self._build(self.input_shape)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        c = input_shape[1]
        if not isinstance(c, numbers.Integral) or c <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' cannot be built from input "
                             f"shape {input_shape}: the channel axis (1) must be known.")
        if c % self.groups:
            raise ValueError(f"{type(self).__name__} '{self.name}' has groups={self.groups}, "
                             f"which must divide the input channels: got {c} channels in "
                             f"input shape {tuple(input_shape)}.")
        lead = (c, self.filters // self.groups) if self.transposed else \
            (self.filters, c // self.groups)
        self.kernel = self.add_weight(lead + self.kernel_size, self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer)

    @property
    def in_channels(self):
        """Input channels the layer was built for (None before building)."""
        if self.kernel is None:
            return None
        return self.kernel.shape[0] if self.transposed else self.kernel.shape[1] * self.groups

    def forward(self, x):
        check_rank(self, tuple(x.shape), self.rank)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs with "
                             f"{self.in_channels} channels (axis 1), got shape "
                             f"{tuple(x.shape)}.")
        if x.dtype != self.kernel.dtype:  # Keras autocasting: inputs follow the layer's dtype
            x = ops.cast(x, self.kernel.dtype)
        try:
            y = self._convolve(x)
        except ValueError as e:
            raise _layer_error(self, e) from e
        return self.activation(y)

    def _convolve(self, x):
        pad = self.padding
        if pad == "causal":
            pads = [(d * (k - 1), 0) for k, d in zip(self.kernel_size, self.dilation_rate)]
        elif pad == "same" and any(s > 1 for s in self.strides):
            pads = [same_pads(n, k, s, d) for n, k, s, d in zip(
                x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)]
        else:
            pads = None
        if pads is not None:  # symmetric: the op pads; asymmetric: pad here, then "valid"
            if all(b == a for b, a in pads):
                pad = tuple(b for b, _ in pads)
            else:
                x, pad = pad_spatial(x, pads), 0
        fn = ops.conv2d if self.rank == 2 else ops.conv1d
        if self.rank == 1 and isinstance(pad, tuple):
            pad = pad[0]
        return fn(x, self.kernel, self.bias, self.strides, pad, self.dilation_rate,
                  self.groups)

    def get_config(self):
        config = {**super().get_config(), "filters": self.filters,
                  "kernel_size": self.kernel_size, "strides": self.strides,
                  "padding": self.padding, "dilation_rate": self.dilation_rate,
                  "groups": self.groups, "activation": activations.serialize(self.activation),
                  "use_bias": self.use_bias,
                  "kernel_initializer": init.serialize(self.kernel_initializer),
                  "bias_initializer": init.serialize(self.bias_initializer),
                  **regularizers.config_entries(self)}
        if self.input_shape is not None:
            config["input_shape"] = tuple(self.input_shape[1:])
        return config

    def extra_repr(self):
        c = "?" if self.kernel is None else self.in_channels
        parts = [f"{c}, {self.filters}", f"kernel_size={self.kernel_size}"]
        for key, default in (("strides", (1,) * self.rank), ("padding", "valid"),
                             ("dilation_rate", (1,) * self.rank), ("groups", 1)):
            if getattr(self, key) != default:
                parts.append(f"{key}={getattr(self, key)}")
        act = activations.serialize(self.activation)
        if act != "linear":
            parts.append(f"activation={act}")
        return ", ".join(parts) + ("" if self.use_bias else ", use_bias=False")


class Conv2D(_Conv):
    """2-D convolution (cross-correlation) of (N, C, H, W) inputs:
    ``activation(conv2d(x, kernel) + bias)``, kernel (filters, C // groups, kh, kw).

    >>> layer = sj.nn.Conv2D(16, 3, padding="same", activation="relu")
    >>> layer(sj.randn(8, 3, 32, 32)).shape
    (8, 16, 32, 32)
    """


class Conv1D(_Conv):
    """1-D convolution of (N, C, L) inputs, kernel (filters, C // groups, k).  ``padding``
    also takes "causal" (left padding only: output t sees inputs ≤ t).

    >>> sj.nn.Conv1D(8, 5, padding="causal")(sj.randn(4, 2, 50)).shape
    (4, 8, 50)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class _ConvTranspose(_Conv):
    """Transposed convolution: the gradient of a convolution with respect to its input."""

    transposed = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 input_shape=None, name=None, dtype=None, trainable=True,
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None):
        who = type(self).__name__
        self.output_padding = None if output_padding is None else \
            ntuple(output_padding, self.rank, "output_padding", who, minimum=0)
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         input_shape, name, dtype, trainable, kernel_regularizer,
                         bias_regularizer, activity_regularizer)
        if self.output_padding is not None and any(
                op >= max(s, d) for op, s, d in zip(self.output_padding, self.strides,
                                                    self.dilation_rate)):
            raise ValueError(f"{who} expects each output_padding to be smaller than its "
                             f"stride or dilation, got output_padding={output_padding}, "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}.")

    def torch_padding(self):
        """Per axis (padding, output_padding) of the equivalent PyTorch ConvTranspose.

        "valid": no padding, and out = (n-1)·s + max(k', s) (k' = d·(k-1)+1, as Keras);
        "same": out = n·s, the formula of Keras' PyTorch backend (an odd crop is taken at the
        start, where TensorFlow takes it at the end); an int: PyTorch's ``padding``.
        """
        args = []
        for i, (k, s, d) in enumerate(zip(self.kernel_size, self.strides, self.dilation_rate)):
            keff = d * (k - 1) + 1
            op = None if self.output_padding is None else self.output_padding[i]
            if self.padding == "valid":
                args.append((0, max(keff, s) - keff if op is None else op))
            elif self.padding == "same":
                op = s - keff % 2 if op is None else op
                p = max(-((keff % 2 - keff + op) // 2), 0)
                args.append((p, 2 * p + keff % 2 - keff + op))
            else:
                args.append((self.padding[i], op or 0))
        return args

    def _convolve(self, x):
        args, crop = self.torch_padding(), []
        for i, (p, op) in enumerate(args):
            # PyTorch needs output_padding < max(stride, dilation); past that (stride 1,
            # even kernel, "same") pad less and crop the surplus rows at the start instead
            if op and op >= max(self.strides[i], self.dilation_rate[i]):
                args[i], crop = (p - op, 0), crop + [(i, op)]
        fn = ops.conv_transpose2d if self.rank == 2 else ops.conv_transpose1d
        pad, out_pad = tuple(a for a, _ in args), tuple(b for _, b in args)
        y = fn(x, self.kernel, self.bias, self.strides, pad, out_pad, self.groups,
               self.dilation_rate)
        if crop:
            index = [slice(None)] * y.ndim
            for i, n in crop:
                index[2 + i] = slice(n, None)
            y = y[tuple(index)]
        return y

    def get_config(self):
        return {**super().get_config(), "output_padding": self.output_padding}


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution") of (N, C, H, W) inputs, kernel
    (C, filters // groups, kh, kw) as torch's ConvTranspose2d.  With padding="same" the
    output is strides × the input size (Keras); with an int padding it is PyTorch's
    (H-1)·s - 2·p + d·(k-1) + output_padding + 1.

    >>> sj.nn.Conv2DTranspose(8, 3, strides=2, padding="same")(sj.randn(1, 4, 7, 7)).shape
    (1, 8, 14, 14)
    """


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution of (N, C, L) inputs, kernel (C, filters // groups, k).

    >>> sj.nn.Conv1DTranspose(2, 4, strides=2, padding="same")(sj.randn(1, 3, 10)).shape
    (1, 2, 20)
    """

    rank = 1
