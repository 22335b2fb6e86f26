"""Optimizer: the base class that owns the one loop over parameters.

A subclass only writes its checks and ``update(w, g, state, group)``: ``w`` is the
parameter's own array (change it in place: ``w -= ...``), ``g`` its gradient (read only:
grad arrays may be shared between tensors, so rebind with ``g = g + wd * w``, never
``g += ...``), ``state`` a dict kept for this parameter across steps (saved by
``state_dict``) and ``group`` the hyperparameters of its parameter group (``group["lr"]``).

Parameters come as an iterable of tensors, or of dicts (PyTorch parameter groups with
their own hyperparameters), or not at all: an *unbound* optimizer (Keras style,
``model.compile(optimizer=sj.optim.Adam(lr=1e-3))``) gets them later from ``bind``.
"""
from __future__ import annotations

import numbers
from collections import defaultdict

from ..autograd import enable_grad
from ..backend import array_module
from ..tensor import Tensor
from . import _foreach
from . import schedules as _schedules

_NONNEGATIVE = ("lr", "eps", "weight_decay", "momentum", "alpha", "lr_decay",
                "initial_accumulator_value")
_FLAGS = ("nesterov", "maximize", "centered", "amsgrad")


class _DefaultFloat(float):
    """A constructor default: reads as the number, but tells "left out" from "passed"."""

    __slots__ = ()


class _DefaultTuple(tuple):
    __slots__ = ()


def default(value):
    """Mark a constructor default, so that passing an alias along with it can be detected."""
    return _DefaultTuple(value) if isinstance(value, tuple) else _DefaultFloat(value)


def pick(owner, name, value, alias, alias_value):
    """Resolve a documented alias (``learning_rate`` for ``lr``): pass one or the other."""
    if alias_value is None:
        return value
    if not isinstance(value, (_DefaultFloat, _DefaultTuple)):
        raise TypeError(f"{owner} got both `{name}`={value!r} and its alias "
                        f"`{alias}`={alias_value!r}; pass only one of them.")
    return alias_value


def _plain(value):
    if isinstance(value, _DefaultFloat):
        return float(value)
    return tuple(value) if isinstance(value, (tuple, list)) else value


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Optimizer:
    """Base class: parameter groups, per-parameter state, validation, clipping and ``step``.

    ``defaults`` holds the hyperparameters (``lr`` among them) every group starts from.
    ``learning_rate`` is accepted for ``lr``.  ``lr`` may be a schedule
    (``sj.optim.schedules.CosineDecay(...)``, any callable on the step count): before each
    update every group's ``lr`` is set to ``schedule(iterations)``, ``iterations`` counting
    the updates done (saved by ``state_dict``).  Keras-style gradient clipping, applied in
    ``step()`` before the update (the tensors' ``.grad`` are left as they are):
    ``clipnorm`` (each gradient to that L2 norm), ``global_clipnorm`` (all gradients
    together) and ``clipvalue`` (each element to [-v, v]).  ``foreach`` (PyTorch's keyword):
    None fuses the update of small same-dtype parameters into one over flat buffers (all of
    them on the GPU; their ``.data`` become views of one buffer), True fuses every
    parameter, False keeps one update per parameter; the numbers are the same.

    >>> opt = sj.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, params=None, defaults=None, *, learning_rate=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, foreach=None, **unexpected):
        name = type(self).__name__
        defaults = dict(defaults or {})
        if unexpected:
            raise TypeError(f"{name} got unexpected keyword argument(s) {sorted(unexpected)}; "
                            f"it takes {', '.join(defaults) or 'lr'}, learning_rate, clipnorm, "
                            "clipvalue and global_clipnorm.")
        defaults["lr"] = pick(name, "lr", defaults.get("lr", default(0.01)),
                              "learning_rate", learning_rate)
        # a Keras-style schedule: group["lr"] stays a float, set from it before each update
        self.lr_schedule, defaults["lr"] = _as_schedule(defaults["lr"])
        self.iterations = 0  # updates done (the step a schedule is evaluated at)
        self.defaults = {k: _plain(v) for k, v in defaults.items()}
        for key, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            if value is not None and not (_number(value) and value > 0):
                raise ValueError(f"{name}: `{key}` must be a number > 0 or None, got {value!r}.")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"{name}: pass only one of `clipnorm` (per gradient) and "
                             f"`global_clipnorm` (all gradients together), got "
                             f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}.")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        if foreach not in (None, True, False):
            raise ValueError(f"{name}: `foreach` must be None, True or False, got {foreach!r}.")
        self.foreach, self._foreach_plans = foreach, {}
        self._check(self.defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        if params is not None:
            self.bind(params)

    # ------------------------------------------------------------------ subclass API
    elementwise = False  # True: update() is elementwise, so it may run on flat buffers

    def update(self, w, g, state, group):  # pragma: no cover - abstract
        """Update the array ``w`` in place from its gradient ``g`` (never modify ``g``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update(w, g, state, "
                                  f"group).")

    def validate(self, group):
        """Extra checks across hyperparameters (the base checks each one's range)."""

    # ------------------------------------------------------------------ parameters
    def bind(self, params):
        """Attach parameters to an unbound optimizer (a no-op if it already has these)."""
        groups = _as_groups(params, type(self).__name__)
        if self.param_groups:
            mine = [id(p) for p in self._parameters()]
            theirs = [id(p) for g in groups for p in _param_list(g, type(self).__name__)]
            if mine == theirs:
                return self
            raise RuntimeError(
                f"this {type(self).__name__} is already bound to {len(mine)} parameters and "
                f"cannot be bound to {len(theirs)} others; create a new optimizer for another "
                "model, or call add_param_group() to train more parameters.")
        for group in groups:
            self.add_param_group(group)
        return self

    def add_param_group(self, param_group):
        """Add a group of parameters, with hyperparameters overriding the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' key, got "
                            f"{type(param_group).__name__}.")
        params = _param_list(param_group, name)
        group = {**self.defaults, **{k: _plain(v) for k, v in param_group.items()}}
        group["params"] = params
        self._check(group, len(self.param_groups))
        seen = {id(p) for p in self._parameters()}
        if len(seen) + len(params) != len(seen | {id(p) for p in params}):
            raise ValueError(f"{name}: a parameter appears twice (in one group or in two "
                             "groups); pass each parameter once.")
        self.param_groups.append(group)

    def _parameters(self):
        return [p for group in self.param_groups for p in group["params"]]

    # ------------------------------------------------------------------ the loop
    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (called with grad enabled).
        """
        if not self.param_groups:
            raise RuntimeError(
                f"{type(self).__name__}.step() was called but the optimizer has no "
                f"parameters: pass them when creating it, e.g. sj.optim.{type(self).__name__}"
                "(model.parameters(), lr=...), or call opt.bind(params), or pass the optimizer "
                "to model.compile(optimizer=...), which binds it to the model.")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self.lr_schedule is not None:
            self._apply_schedule()
        clip = (self.clipnorm is not None or self.clipvalue is not None
                or self.global_clipnorm is not None)
        scale = self._global_scale() if self.global_clipnorm is not None else 1.0
        state, update = self.state, self.update
        fuse = self.elementwise and self.foreach is not False
        for index, group in enumerate(self.param_groups):
            active = [p for p in group["params"] if p.grad is not None and p.requires_grad]
            if fuse:
                active = _foreach.step_group(self, index, group, active, clip, scale)
            for p in active:
                g = self._clip(p.grad.data, scale) if clip else p.grad.data
                update(p.data, g, state[p], group)
        self.iterations += 1
        return loss

    def _apply_schedule(self):
        lr = float(self.lr_schedule(self.iterations))
        self.defaults["lr"] = lr
        for group in self.param_groups:
            group["lr"] = lr

    def zero_grad(self, set_to_none=True):
        """Drop the gradients (or, with ``set_to_none=False``, replace them by zeros)."""
        for p in self._parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else Tensor._wrap(
                    array_module(p.grad.data).zeros_like(p.grad.data))

    # ------------------------------------------------------------------ clipping
    def _global_scale(self):
        sq = sum(_sumsq(p.grad.data) for p in self._parameters()
                 if p.grad is not None and p.requires_grad)
        return self.global_clipnorm / max(sq ** 0.5, self.global_clipnorm)

    def _clip(self, g, scale):
        # Keras semantics: g * c / max(|g|, c); an unclipped gradient is left bit for bit.
        if self.clipnorm is not None:
            norm = _sumsq(g) ** 0.5
            if norm > self.clipnorm:
                g = g * (self.clipnorm / norm)
        elif scale < 1.0:
            g = g * scale
        if self.clipvalue is not None:
            g = array_module(g).clip(g, -self.clipvalue, self.clipvalue)
        return g

    # ------------------------------------------------------------------ hyperparameters
    @property
    def lr(self):
        """The learning rate (of the first group); setting it sets every group's."""
        return self.param_groups[0]["lr"] if self.param_groups else self.defaults["lr"]

    @lr.setter
    def lr(self, value):
        if self.lr_schedule is not None:
            raise TypeError(f"{type(self).__name__} was created with the learning-rate "
                            f"schedule {self.lr_schedule!r}, which sets lr at every step; "
                            "create the optimizer with a number as lr to set it by hand.")
        self._check({"lr": value}, cross=False)
        self.defaults["lr"] = value
        for group in self.param_groups:
            group["lr"] = value

    learning_rate = lr  # the documented Keras spelling

    def _check(self, group, index=None, cross=True):
        """Each hyperparameter's range, then the subclass's ``validate`` across them."""
        name = type(self).__name__
        where = f" (parameter group {index})" if index else ""
        for key, value in group.items():
            if key in _NONNEGATIVE:
                expected, ok = "a number >= 0", _number(value) and value >= 0
            elif key == "dampening":
                expected, ok = "a number in [0, 1]", _number(value) and 0 <= value <= 1
            elif key in _FLAGS:
                expected, ok = "True or False", isinstance(value, bool)
            elif key == "betas":
                expected = "a pair (beta_1, beta_2) of numbers in [0, 1)"
                ok = (isinstance(value, tuple) and len(value) == 2
                      and all(_number(b) and 0 <= b < 1 for b in value))
            else:
                continue
            if not ok:
                raise ValueError(f"{name}: `{key}` must be {expected}, got {value!r}{where}.")
        if cross:
            self.validate(group)

    def get_config(self):
        """The constructor arguments: ``type(opt)(**opt.get_config())`` rebuilds it unbound."""
        options = {"clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                   "global_clipnorm": self.global_clipnorm, "foreach": self.foreach}
        config = {**self.defaults, **{k: v for k, v in options.items() if v is not None}}
        if self.lr_schedule is not None:
            config["lr"] = _schedules.serialize(self.lr_schedule)
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ saving
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [...], "iterations": n}``, as torch
        (plus the update count); arrays are copied."""
        index = {id(p): i for i, p in enumerate(self._parameters())}
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + n))})
            start += n
        state = {index[id(p)]: {k: _copy(v) for k, v in s.items()}
                 for p, s in self.state.items() if s and id(p) in index}
        return {"state": state, "param_groups": groups, "iterations": self.iterations}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` saved; training then continues as if never stopped."""
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if not self.param_groups:
            raise RuntimeError(f"{name} has no parameters to load a state into; bind it first "
                               "(pass params, call bind(), or compile the model).")
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}: the state_dict has {len(saved)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}.")
        by_index = {}
        for i, (sg, group) in enumerate(zip(saved, self.param_groups)):
            if len(sg["params"]) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(sg['params'])} "
                                 f"parameters in the state_dict and {len(group['params'])} here.")
            missing = set(self.defaults) - set(sg)
            if missing:
                raise ValueError(f"{name}: the state_dict's group {i} lacks {sorted(missing)}; "
                                 "was it saved from another kind of optimizer?")
            self._check({k: _plain(v) for k, v in sg.items() if k != "params"}, i)
            by_index.update(zip((int(j) for j in sg["params"]), group["params"]))
        state = defaultdict(dict)
        for j, s in state_dict["state"].items():
            if int(j) not in by_index:
                raise ValueError(f"{name}: the state_dict has state for parameter {j}, which "
                                 "is in none of its parameter groups.")
            p = by_index[int(j)]
            state[p] = {k: _restore(v, p, f"{name}: state '{k}' of parameter {j}")
                        for k, v in s.items()}
        for sg, group in zip(saved, self.param_groups):
            group.update({k: _plain(v) for k, v in sg.items() if k != "params"})
        self.state = state
        self.iterations = int(state_dict.get("iterations", self.iterations))


def _as_schedule(lr):
    """(schedule or None, the float lr to start from) for an ``lr`` argument: a number, a
    ``sj.optim.schedules`` object (any callable on the step count) or its serialized dict."""
    if isinstance(lr, dict) and "class_name" in lr:
        lr = _schedules.deserialize(lr)
    if callable(lr) and not _number(lr):
        return lr, float(lr(0))
    return None, lr


def _as_groups(params, name):
    if isinstance(params, Tensor):
        raise TypeError(f"{name} expects an iterable of parameters (e.g. model.parameters()) "
                        f"or of dicts, got a single {type(params).__name__}; wrap it: [p].")
    if isinstance(params, dict):
        return [params]
    items = list(params)
    if not items:
        raise ValueError(f"{name} got an empty parameter list; does the model have weights yet "
                         "(a layer builds them on its first call)?")
    if all(isinstance(item, dict) for item in items):
        return items
    return [{"params": items}]


def _param_list(group, name):
    if "params" not in group:
        raise ValueError(f"{name}: a parameter group needs a 'params' key, got keys "
                         f"{sorted(group)}.")
    params = group["params"]
    params = [params] if isinstance(params, Tensor) else list(params)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name} can only optimize tensors (sj.Parameter), got "
                            f"{type(p).__name__}.")
        if p.dtype.kind != "f":
            raise TypeError(f"{name} can only optimize floating-point tensors, got dtype "
                            f"{p.dtype}.")
    return params


def _sumsq(g):
    return float(array_module(g).vdot(g, g))


def _copy(value):
    return value.copy() if hasattr(value, "shape") else value


def _restore(value, p, what):
    """A saved state value back on ``p``'s device and dtype (scalars stay Python numbers)."""
    if isinstance(value, Tensor):
        value = value.data
    if not hasattr(value, "shape"):
        return value
    if value.shape != p.shape:
        if value.ndim == 0:  # a step count written out as an array
            return value.item()
        raise ValueError(f"{what} has shape {tuple(value.shape)} but the parameter has shape "
                         f"{tuple(p.shape)}; the state_dict is for another model.")
    return array_module(p.data).array(value, dtype=p.dtype)
