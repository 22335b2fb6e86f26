"""Normalisation layers: Keras' BatchNormalization, LayerNormalization, GroupNormalization
(channels on axis 1 by default, NCHW) and PyTorch's BatchNorm1d, BatchNorm2d, LayerNorm,
GroupNorm, one implementation each pair (``ops.batch_norm``, ``ops.layer_norm``,
``ops.group_norm``).

Momentum, the two conventions (same update, complementary numbers):

    Keras  BatchNormalization(momentum=0.99):  running = 0.99·running + 0.01·batch
    torch  BatchNorm2d(momentum=0.01):         running = 0.99·running + 0.01·batch

so torch momentum = 1 - Keras momentum.  Both update the running variance with the unbiased
batch variance (n/(n-1), PyTorch's rule; Keras itself uses the biased one).  Weight names
follow each side, so either's weights load by name: Keras ``gamma``, ``beta``,
``moving_mean``, ``moving_variance``; torch ``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``.  Running statistics are buffers: saved in
``state_dict``, counted as non-trainable by ``summary``, never given to the optimiser.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..tensor import Tensor
from . import init
from .module import Module


def _initial(initializer, shape, dtype):
    values = init.get(initializer)(shape, dtype)
    return np.asarray(values.data if isinstance(values, Tensor) else values, dtype=dtype)


def _axes(layer, axis, ndim, shape):
    """``axis`` (int or ints) as sorted non-negative ints, checked against ``ndim``."""
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not axes or any(not -ndim <= a < ndim for a in axes) or ndim < 2:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' with axis={axis!r} needs an "
                         f"input with those axes and a batch axis, got shape {shape}.")
    return tuple(sorted(a % ndim for a in axes))


def _moved(x, src, dst):
    """Transpose ``x`` so that axes ``src`` land at positions ``dst``; returns (x, undo)."""
    if tuple(src) == tuple(dst):
        return x, None
    rest = [a for a in range(x.ndim) if a not in src]
    perm = [None] * x.ndim
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(rest)
    perm = [p if p is not None else next(it) for p in perm]
    return ops.transpose(x, perm), tuple(int(i) for i in np.argsort(perm))


def _check_channels(layer, x, axis, expected):
    if x.shape[axis] != expected:
        raise ValueError(f"{type(layer).__name__} '{layer.name}' expects {expected} "
                         f"features on axis {axis}, got shape {tuple(x.shape)}.")


def _cast(x, *params):
    """Keras autocasting: the input follows the dtype of the layer's first weight."""
    p = next((p for p in params if p is not None), None)
    return x if p is None or x.dtype == p.dtype else ops.cast(x, p.dtype)


class BatchNormalization(Module):
    """Batch normalisation (Keras): y = γ·(x - μ)/√(σ² + ε) + β per feature of ``axis``.

    Training uses the batch's μ, σ² over every other axis and updates
    moving = momentum·moving + (1 - momentum)·batch; evaluation (``model.eval()``) uses the
    moving statistics.  As in Keras, a frozen layer (``trainable = False``) always runs in
    inference mode.  Works on (N, C), (N, C, L), (N, C, H, W) with the default axis=1.

    >>> bn = sj.nn.BatchNormalization()
    >>> bn(sj.randn(8, 3, 4, 4)).shape          # gamma, beta (3,); moving stats buffers
    (8, 3, 4, 4)
    """

    def __init__(self, axis=1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
            raise ValueError(f"BatchNormalization expects an int axis, got {axis!r}.")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization expects momentum in [0, 1], got {momentum}.")
        if epsilon <= 0:
            raise ValueError(f"BatchNormalization expects epsilon > 0, got {epsilon}.")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.initializers = dict(beta=beta_initializer, gamma=gamma_initializer,
                                 moving_mean=moving_mean_initializer,
                                 moving_variance=moving_variance_initializer)
        for v in self.initializers.values():
            init.get(v)  # fail early on unknown names
        self.gamma = self.beta = None

    def build(self, input_shape):
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
        axis = _axes(self, self.axis, len(shape) if isinstance(shape, tuple) else 0, shape)[0]
        c, ini = shape[axis], self.initializers
        if self.scale:
            self.gamma = self.add_weight((c,), ini["gamma"], name="gamma")
        if self.center:
            self.beta = self.add_weight((c,), ini["beta"], name="beta")
        self.register_buffer("moving_mean", _initial(ini["moving_mean"], (c,), self.dtype))
        self.register_buffer("moving_variance",
                             _initial(ini["moving_variance"], (c,), self.dtype))

    def forward(self, x):
        axis = _axes(self, self.axis, x.ndim, tuple(x.shape))[0]
        _check_channels(self, x, axis, self.moving_mean.shape[0])
        x, undo = _moved(_cast(x, self.moving_mean), (axis,), (1,))
        y = ops.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                           training=self.training and self.trainable,
                           momentum=1 - self.momentum, eps=self.epsilon)
        return y if undo is None else ops.transpose(y, undo)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **{f"{k}_initializer": init.serialize(init.get(v))
                   for k, v in self.initializers.items()}}

    def extra_repr(self):
        return f"axis={self.axis}, momentum={self.momentum}, epsilon={self.epsilon}"


class _BatchNorm(Module):
    """PyTorch's BatchNorm: weights made at once for ``num_features`` channels (axis 1)."""

    ranks = (2, 3, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        who = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral) \
                or num_features <= 0:
            raise ValueError(f"{who} expects a positive int num_features, got {num_features!r}.")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{who} expects momentum in [0, 1] or None, got {momentum}.")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        c = self.num_features
        self.weight = self.add_weight((c,), "ones", name="weight") if affine else None
        self.bias = self.add_weight((c,), "zeros", name="bias") if affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, self.dtype))
            self.register_buffer("running_var", np.ones(c, self.dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x):
        if x.ndim not in self.ranks:
            want = " or ".join(f"{r}-D" for r in self.ranks)
            layout = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}
            raise ValueError(f"{type(self).__name__} '{self.name}' expects {want} input "
                             f"{' or '.join(layout[r] for r in self.ranks)}, got shape "
                             f"{tuple(x.shape)}.")
        _check_channels(self, x, 1, self.num_features)
        x = _cast(x, self.weight, self.running_mean)
        momentum, tracked = self.momentum, self.running_mean is not None
        if self.training and tracked:
            self.num_batches_tracked.data[...] += 1
            if momentum is None:  # cumulative average of all batches so far
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              training=self.training or not tracked,
                              momentum=momentum or 0.0, eps=self.eps)

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features, "eps": self.eps,
                "momentum": self.momentum, "affine": self.affine,
                "track_running_stats": self.track_running_stats}

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """PyTorch's BatchNorm1d on (N, C) or (N, C, L); momentum in torch's convention
    (running = (1 - momentum)·running + momentum·batch; None: cumulative average).

    >>> sj.nn.BatchNorm1d(16)(sj.randn(32, 16)).shape
    (32, 16)
    """

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """PyTorch's BatchNorm2d on (N, C, H, W); see ``BatchNorm1d``."""

    ranks = (4,)


class LayerNormalization(Module):
    """Layer normalisation (Keras): y = γ·(x - μ)/√(σ² + ε) + β with μ, σ² per sample over
    ``axis`` (int or ints; default the last), γ and β shaped like those axes.

    >>> sj.nn.LayerNormalization()(sj.randn(2, 5, 16)).shape
    (2, 5, 16)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if isinstance(axis, numbers.Integral):
            axis = int(axis)
        elif not axis or not all(isinstance(a, numbers.Integral) for a in axis):
            raise ValueError(f"LayerNormalization expects an int or ints for axis, got "
                             f"{axis!r}.")
        else:
            axis = tuple(int(a) for a in axis)
        if epsilon <= 0:
            raise ValueError(f"LayerNormalization expects epsilon > 0, got {epsilon}.")
        self.axis, self.epsilon = axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = init.get(beta_initializer)
        self.gamma_initializer = init.get(gamma_initializer)
        self.gamma = self.beta = None
        self._ndim = self._pshape = None

    def build(self, input_shape):
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
        axes = _axes(self, self.axis, len(shape) if isinstance(shape, tuple) else 0, shape)
        self._ndim, pshape = len(shape), tuple(shape[a] for a in axes)
        if self.scale:
            self.gamma = self.add_weight(pshape, self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight(pshape, self.beta_initializer, name="beta")
        self._pshape = pshape

    def forward(self, x):
        shape = tuple(x.shape)
        if x.ndim != self._ndim:
            raise ValueError(f"LayerNormalization '{self.name}' was built for {self._ndim}-D "
                             f"input, got shape {shape}.")
        axes = _axes(self, self.axis, x.ndim, shape)
        if tuple(shape[a] for a in axes) != self._pshape:
            raise ValueError(f"LayerNormalization '{self.name}' expects sizes {self._pshape} "
                             f"on axes {axes}, got shape {shape}.")
        k = len(axes)
        x, undo = _moved(_cast(x, self.gamma, self.beta), axes, range(x.ndim - k, x.ndim))
        y = ops.layer_norm(x, self._pshape, self.gamma, self.beta, eps=self.epsilon)
        return y if undo is None else ops.transpose(y, undo)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": init.serialize(self.beta_initializer),
                "gamma_initializer": init.serialize(self.gamma_initializer)}

    def extra_repr(self):
        return f"axis={self.axis}, epsilon={self.epsilon}"


class LayerNorm(Module):
    """PyTorch's LayerNorm over the last ``len(normalized_shape)`` axes; weight, bias of
    shape ``normalized_shape``.

    >>> sj.nn.LayerNorm(16)(sj.randn(2, 5, 16)).shape
    (2, 5, 16)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else \
            tuple(normalized_shape)
        if not shape or not all(isinstance(s, numbers.Integral) and s > 0 for s in shape):
            raise ValueError(f"LayerNorm expects positive ints for normalized_shape, got "
                             f"{normalized_shape!r}.")
        self.normalized_shape, self.eps = tuple(int(s) for s in shape), float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        affine = self.elementwise_affine
        self.weight = self.add_weight(self.normalized_shape, "ones", name="weight") \
            if affine else None
        self.bias = self.add_weight(self.normalized_shape, "zeros", name="bias") \
            if affine and bias else None

    def forward(self, x):
        k, shape = len(self.normalized_shape), tuple(x.shape)
        if x.ndim < k or shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"LayerNorm '{self.name}' expects inputs whose last {k} axes are "
                             f"{self.normalized_shape}, got shape {shape}.")
        x = _cast(x, self.weight, self.bias)
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, eps=self.eps)

    def get_config(self):
        return {**super().get_config(), "normalized_shape": self.normalized_shape,
                "eps": self.eps, "elementwise_affine": self.elementwise_affine,
                "bias": self.bias is not None}

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, affine={self.elementwise_affine}"


class GroupNormalization(Module):
    """Group normalisation (Keras): the features of ``axis`` split into ``groups``; μ, σ²
    per sample and group (over the group's features and all other non-batch axes), then a
    per-feature γ, β.

    >>> sj.nn.GroupNormalization(groups=4)(sj.randn(2, 8, 5, 5)).shape
    (2, 8, 5, 5)
    """

    def __init__(self, groups=32, axis=1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
            raise ValueError(f"GroupNormalization expects a positive int groups, got "
                             f"{groups!r}.")
        if not isinstance(axis, numbers.Integral):
            raise ValueError(f"GroupNormalization expects an int axis, got {axis!r}.")
        if epsilon <= 0:
            raise ValueError(f"GroupNormalization expects epsilon > 0, got {epsilon}.")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = init.get(beta_initializer)
        self.gamma_initializer = init.get(gamma_initializer)
        self.gamma = self.beta = None
        self._channels = None

    def build(self, input_shape):
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
        axis = _axes(self, self.axis, len(shape) if isinstance(shape, tuple) else 0, shape)[0]
        c = self._channels = shape[axis]
        if c % self.groups:
            raise ValueError(f"GroupNormalization '{self.name}' has groups={self.groups}, "
                             f"which must divide the {c} features on axis {self.axis} of "
                             f"input shape {shape}.")
        if self.scale:
            self.gamma = self.add_weight((c,), self.gamma_initializer, name="gamma")
        if self.center:
            self.beta = self.add_weight((c,), self.beta_initializer, name="beta")

    def forward(self, x):
        axis = _axes(self, self.axis, x.ndim, tuple(x.shape))[0]
        _check_channels(self, x, axis, self._channels)
        x, undo = _moved(_cast(x, self.gamma, self.beta), (axis,), (1,))
        y = ops.group_norm(x, self.groups, self.gamma, self.beta, eps=self.epsilon)
        return y if undo is None else ops.transpose(y, undo)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": init.serialize(self.beta_initializer),
                "gamma_initializer": init.serialize(self.gamma_initializer)}

    def extra_repr(self):
        return f"groups={self.groups}, axis={self.axis}, epsilon={self.epsilon}"


class GroupNorm(Module):
    """PyTorch's GroupNorm(num_groups, num_channels) on (N, C, *); weight, bias (C,).

    >>> sj.nn.GroupNorm(2, 6)(sj.randn(4, 6, 5, 5)).shape
    (4, 6, 5, 5)
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, name=None,
                 dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
                 for v in (num_groups, num_channels))
        if not ok or num_channels % num_groups:
            raise ValueError(f"GroupNorm expects positive ints with num_groups dividing "
                             f"num_channels, got num_groups={num_groups!r}, "
                             f"num_channels={num_channels!r}.")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        self.weight = self.add_weight((num_channels,), "ones", name="weight") if affine else None
        self.bias = self.add_weight((num_channels,), "zeros", name="bias") if affine else None

    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"GroupNorm '{self.name}' expects input (N, C, *), got shape "
                             f"{tuple(x.shape)}.")
        _check_channels(self, x, 1, self.num_channels)
        x = _cast(x, self.weight)
        return ops.group_norm(x, self.num_groups, self.weight, self.bias, eps=self.eps)

    def get_config(self):
        return {**super().get_config(), "num_groups": self.num_groups,
                "num_channels": self.num_channels, "eps": self.eps, "affine": self.affine}

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
