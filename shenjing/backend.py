"""The backend seam: the only module that knows which array library holds a tensor's data.

Ops call ``array_module(x)`` and use what it returns (NumPy today; CuPy is loaded lazily
by the GPU backend).  No other module branches on the device.
"""
from __future__ import annotations

import numpy as np


def array_module(*arrays):
    """Return the array library (``numpy`` or ``cupy``) that holds ``arrays``."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy  # noqa: PLC0415  (optional dependency, loaded only when used)

            return cupy
    return np


def device_of(array) -> str:
    """The device name of a raw array: ``"cpu"`` or ``"cuda:N"``."""
    dev = getattr(array, "device", None)
    if type(array).__module__.startswith("cupy") and dev is not None:
        return f"cuda:{dev.id}"
    return "cpu"


def to_numpy(array) -> np.ndarray:
    """Copy (if needed) a raw array to host memory as a NumPy array."""
    if type(array).__module__.startswith("cupy"):
        return array.get()
    return np.asarray(array)
