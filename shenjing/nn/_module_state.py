"""A Module's values by name (a mixin of ``Module``, kept apart for size): ``state_dict()``
and ``load_state_dict()``, as in PyTorch.  Names are the dotted paths of ``_walk()``
(``layers.0.kernel``); values are host NumPy copies whatever the device.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import array_module, to_numpy
from ..tensor import Tensor

LoadResult = namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])


class ModuleState:
    """``Module``'s ``state_dict`` / ``load_state_dict`` (uses ``_walk()`` and ``modules()``)."""

    def state_dict(self):
        """OrderedDict of dotted name → NumPy copy, parameters and buffers."""
        return OrderedDict((name, to_numpy(t.data).copy()) for name, t, _ in self._walk())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the existing parameters/buffers (in place, dtype kept).

        Shapes must match; with ``strict`` the key sets must match too.  Nothing is changed
        when an error is raised.  Returns ``(missing_keys, unexpected_keys)``.
        """
        own = OrderedDict((name, t) for name, t, _ in self._walk())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and missing:
            errors.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(unexpected))
        values = {}
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                v = to_numpy(v.data) if isinstance(v, Tensor) else np.asarray(v)
                if tuple(v.shape) != tuple(t.shape):
                    errors.append(f"shape mismatch for {k!r}: the state has shape "
                                  f"{tuple(v.shape)}, the model has {tuple(t.shape)}")
                values[k] = v
        if errors:
            raise ValueError(f"cannot load state_dict into {type(self).__name__} "
                             f"'{self.name}':\n  " + "\n  ".join(errors)
                             + _unbuilt_hint(self, unexpected))
        for k, v in values.items():
            t = own[k]
            t.data[...] = array_module(t.data).asarray(v, dtype=t.data.dtype)
        return LoadResult(missing, unexpected)


def _unbuilt_hint(module, unexpected) -> str:
    """Why keys may be unexpected: lazy layers whose weights do not exist yet."""
    if unexpected and any(not m.built for m in module.modules()):
        return ("\n(Some layers are not built yet, so their weights do not exist: call "
                "the model once on a batch or give the first layer input_shape.)")
    return ""
