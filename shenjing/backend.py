"""The backend seam: the only module that knows which array library holds a tensor's data.

Ops call ``array_module(x)`` and use what it returns: NumPy for "cpu" arrays, CuPy for
"cuda:N" arrays.  CuPy is imported here only, lazily (``cupy_module``); no other module
branches on the device.  A CuPy array is recognised by ``isinstance(a, cupy.ndarray)`` on
the loaded module (tests swap in a NumPy-backed simulation, see tests/fake_cupy.py).
"""
from __future__ import annotations

import sys

import numpy as np

from .device import CPU, Device, parse

_UNSET = object()
_cupy = _UNSET  # (cupy, cupyx) once loaded, None when CuPy is not installed


def _import_cupy():
    """Import CuPy and the cupyx parts shenjing uses; None when CuPy is not installed."""
    try:
        import cupy  # noqa: PLC0415  (optional dependency: pip install "shenjing[gpu]")
        import cupyx  # noqa: PLC0415
        import cupyx.scipy.special  # noqa: F401,PLC0415  (erf for exact GELU)
    except ImportError:
        return None
    return cupy, cupyx


def _modules(load: bool):
    global _cupy
    if _cupy is _UNSET:
        # Without ``load``, import CuPy only if someone already did: a CuPy array cannot
        # exist otherwise, and CPU-only runs must not pay for the import.
        if not load and "cupy" not in sys.modules:
            return None
        _cupy = _import_cupy()
    return _cupy


def cupy_module(load: bool = False):
    """The CuPy module, or None (not installed; or, without ``load``, not imported yet)."""
    mods = _modules(load)
    return None if mods is None else mods[0]


def _is_device_array(a, cp) -> bool:
    return cp is not None and isinstance(a, cp.ndarray)


def is_device_array(a) -> bool:
    """True when ``a`` is a CuPy (GPU) array."""
    return type(a) is not np.ndarray and _is_device_array(a, cupy_module())


def array_module(*arrays):
    """Return the array library (``numpy`` or ``cupy``) that holds ``arrays``."""
    for a in arrays:
        if type(a) is np.ndarray:  # the common case, decided without touching CuPy
            continue
        cp = cupy_module()
        if _is_device_array(a, cp):
            return cp
    return np


def device_of(array) -> Device:
    """The Device of a raw array: ``cpu`` for NumPy data, ``cuda:N`` for a CuPy array."""
    if is_device_array(array):
        return Device("cuda", array.device.id)
    return CPU


def to_numpy(array) -> np.ndarray:
    """Copy (if needed) a raw array to host memory as a NumPy array."""
    if is_device_array(array):
        return array.get()
    return np.asarray(array)


def to_device(array, device):
    """``array`` on ``device`` (a Device or its name): the same array when it is already
    there, else one copy (host -> GPU, GPU -> host, or GPU -> GPU)."""
    d = parse(device)
    if d.type == "cpu":
        return to_numpy(array)
    if is_device_array(array) and array.device.id == d.index:
        return array
    cp = _require_cupy(d)
    with cp.cuda.Device(d.index):
        return cp.asarray(array)


def _require_cupy(d: Device):
    mods = _modules(True)
    if mods is None or _VALID.get(d) is not mods:
        from .device import device as checked  # noqa: PLC0415

        checked(d)  # raises the install / no-GPU / no-such-GPU error
        _VALID[d] = mods
    return mods[0]


_VALID: dict = {}  # Device -> the CuPy modules it was checked against (it exists)


_CONSTANTS: dict = {}  # (key, GPU) -> device array; oldest dropped past _MAX_CONSTANTS
_MAX_CONSTANTS = 64


def device_constant(xp, key, make):
    """``make()`` (a host array that depends only on the hashable ``key``) as an ``xp`` array.

    On the CPU it is just ``make()``.  On a GPU it is copied once per (key, GPU) and kept:
    a host-to-device copy waits for the stream, so ops must not make one on every call.
    Callers never write into the result."""
    if xp is np:
        return make()
    full_key = (key, xp.cuda.Device().id)
    value = _CONSTANTS.get(full_key)
    if value is None:
        if len(_CONSTANTS) >= _MAX_CONSTANTS:
            _CONSTANTS.pop(next(iter(_CONSTANTS)))
        value = _CONSTANTS[full_key] = xp.asarray(make())
    return value


def cuda_device_count() -> int:
    """GPUs CuPy can see (0 without CuPy, a driver or a GPU)."""
    cp = cupy_module(load=True)
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001  (CUDARuntimeError: no driver / no device)
        return 0


def erf(xp):
    """The elementwise erf for ``xp``'s arrays: SciPy's on the host (exact ``math.erf``
    without SciPy), ``cupyx.scipy.special.erf`` on the GPU."""
    if xp is not np:
        return _modules(True)[1].scipy.special.erf
    try:
        from scipy.special import erf as host_erf  # noqa: PLC0415  (ships with scikit-learn)
    except ImportError:  # pragma: no cover
        import math  # noqa: PLC0415

        host_erf = np.vectorize(math.erf, otypes=[np.float64])
    return host_erf


def scatter_add(target, indices, values) -> None:
    """``target[indices] += values`` in place, summing where an index repeats
    (``numpy.add.at``; ``cupyx.scatter_add`` on the GPU)."""
    xp = array_module(target)
    if xp is np:
        np.add.at(target, indices, values)
    else:
        _modules(True)[1].scatter_add(target, indices, values)
