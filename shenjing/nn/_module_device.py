"""Where a Module's tensors live and in which dtype (a mixin of ``Module``, kept apart for
size): ``to(device, dtype)``, ``cpu()``, ``cuda()``, ``float()``, ``double()``, ``device``.

Moving is in place: the same Parameter objects get new arrays, so an optimizer made before
``model.to("cuda")`` keeps working.  Weights a lazy layer builds later follow the module's
device (``Module._build`` calls ``_move_to``).
"""
from __future__ import annotations

from .. import dtypes
from ..backend import device_of, to_device
from ..device import Device
from ..device import device as _checked_device
from ..device import parse as _parse_device
from ..tensor import Tensor


def float_dtype(dtype, who):
    """``dtype`` resolved (None: the default float dtype); a TypeError naming ``who`` if it
    is not a floating-point dtype."""
    dt = dtypes.resolve(dtype) or dtypes.get_default_dtype()
    if not dtypes.is_floating(dt):
        raise TypeError(f"{who} needs a floating-point dtype, got {dt}.")
    return dt


class ModuleDevice:
    """``Module``'s device and dtype moves (uses ``modules()`` and ``_walk()``)."""

    def to(self, device=None, dtype=None):
        """Move parameters and buffers to ``device`` and/or cast the float ones to ``dtype``,
        in place (the same Parameter objects, so optimizers keep them); returns self.

        ``model.to("cuda")``, ``model.to(sj.float64)``, ``model.to("cuda:1", "float16")``.
        Weights a lazy layer builds later are made on the module's device.
        """
        if device is not None and not _names_device(device):
            if dtype is not None:
                raise ValueError(f"Module.to: {device!r} is not a device name "
                                 "('cpu', 'cuda', 'cuda:N').")
            device, dtype = None, device
        if device is not None:
            self._move_to(_checked_device(device))
        if dtype is None:
            return self
        dt = float_dtype(dtype, "Module.to")
        for m in self.modules():
            m.__dict__["dtype"] = dt
        for _, t, _ in self._walk():
            if dtypes.is_floating(t.data.dtype) and t.data.dtype != dt:
                t.data = t.data.astype(dt)
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad.data.astype(dt))
        return self

    def _move_to(self, device: Device) -> None:
        """Put every parameter, buffer and gradient of this module tree on ``device``."""
        for m in self.modules():
            m.__dict__["_device"] = device
            m.__dict__.pop("_constants", None)  # device copies of constants (_constant_cache)
        for _, t, _ in self._walk():
            if device_of(t.data) != device:
                t.data = to_device(t.data, device)
                if t.grad is not None:
                    t.grad = Tensor._wrap(to_device(t.grad.data, device))

    @property
    def device(self):
        """The device of the first parameter or buffer (else where ``to()`` put the module;
        else the CPU)."""
        for _, t, _ in self._walk():
            return t.device
        return self.__dict__.get("_device") or _parse_device("cpu")

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else _parse_device(device))

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)


def _names_device(spec) -> bool:
    if isinstance(spec, Device):
        return True
    try:
        return isinstance(spec, (str, int)) and not isinstance(spec, bool) and \
            _parse_device(spec) is not None
    except ValueError:
        return False
