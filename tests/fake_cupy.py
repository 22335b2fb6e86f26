"""A strict, NumPy-backed stand-in for CuPy, so CI (no GPU) runs every CUDA code path.

``FakeCupyArray`` is a ``numpy.ndarray`` subclass that behaves like ``cupy.ndarray`` where
shenjing could go wrong:

* it refuses implicit host<->device mixing, as CuPy does: a ufunc or NumPy function that
  gets a FakeCupyArray together with a plain ``numpy.ndarray`` (ndim >= 1) raises
  TypeError; so does ``fake[...] = numpy_array``.  NumPy scalars and Python numbers mix.
* results stay on the "device": ufuncs and NumPy functions return FakeCupyArray, and full
  reductions return 0-d arrays (CuPy has no device scalars).
* it has ``.device`` (``.id``), ``.get()`` (a plain host copy), and ``flags`` without
  ``writeable`` (as CuPy).

The module object ``fake_cupy`` (built by ``make()``) mimics the parts of CuPy shenjing
uses: ``ndarray``, ``asarray``/``array`` (explicit host -> device copies), creation
functions, every NumPy function (wrapped: strict inputs, device outputs), ``cuda`` (Device,
runtime.getDeviceCount, the memory pool) and ``cupyx`` (``scatter_add``,
``scipy.special.erf``).  ``strict_numpy`` makes ``numpy.asarray(fake)`` (and friends)
raise, as real CuPy does.  It says nothing about real CuPy kernels or speed, and forwards
any other name to NumPy (tests/test_cupy_api.py checks those names exist in CuPy).
"""
from __future__ import annotations

import types

import numpy as np
from numpy import array as _np_array  # the originals: strict_numpy() replaces np.array
from numpy import asarray as _np_asarray


class _Device:
    """``cupy.cuda.Device``: a context manager with ``id`` and ``synchronize()``."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(getattr(device, "id", device))
        if self.id != 0:
            raise RuntimeError(f"fake CUDA has one device (0), got {self.id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return self.id


class _Flags:
    """CuPy's flags: contiguity and ownership only (no ``writeable``)."""

    def __init__(self, f):
        self.c_contiguous, self.f_contiguous, self.owndata = (
            f.c_contiguous, f.f_contiguous, f.owndata)

    def __getitem__(self, key):
        return getattr(self, key.lower())


def _is_host_array(x) -> bool:
    return type(x) is not FakeCupyArray and isinstance(x, np.ndarray) and x.ndim >= 1


def _check(args, what):
    """TypeError for a host array among ``args`` (searched into lists and tuples)."""
    for a in args:
        if isinstance(a, (list, tuple)):
            _check(a, what)
        elif _is_host_array(a):
            raise TypeError(f"fake CuPy: {what} got a numpy.ndarray of shape {a.shape} "
                            "mixed with device arrays; implicit host->device transfer is "
                            "not allowed (use cupy.asarray).")


def _host(x):
    """Unwrap FakeCupyArrays (inside lists/tuples too) to base ndarray views."""
    if isinstance(x, FakeCupyArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_host(a) for a in x)
    return x


def _dev(x):
    """Wrap results as device arrays: ndarrays and NumPy scalars (as 0-d arrays)."""
    if isinstance(x, FakeCupyArray):
        return x
    if isinstance(x, np.ndarray):
        return x.view(FakeCupyArray)
    if isinstance(x, np.generic) and not isinstance(x, (np.str_, np.bytes_, np.void)):
        return _np_asarray(x).view(FakeCupyArray)
    if isinstance(x, tuple):
        return tuple(_dev(a) for a in x)
    if isinstance(x, list):
        return [_dev(a) for a in x]
    return x


class FakeCupyArray(np.ndarray):
    """A NumPy array pretending to live on GPU 0 (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _check(inputs, f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__)
        if out is not None:
            _check(out, ufunc.__name__ + " out=")
            kwargs["out"] = tuple(_host(o) for o in out)
        result = getattr(ufunc, method)(*_host(inputs), **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _dev(result)

    def __array_function__(self, func, types_, args, kwargs):
        _check(args, func.__name__)
        _check(tuple(kwargs.values()), func.__name__)
        result = func(*_host(args), **{k: _host(v) for k, v in kwargs.items()})
        return _dev(result)

    def __setitem__(self, index, value):
        if _is_host_array(value):
            raise TypeError("fake CuPy: non-scalar numpy.ndarray cannot be assigned into a "
                            "device array (use cupy.asarray first).")
        super().__setitem__(index, value)

    @property
    def device(self):
        return _Device(0)

    @property
    def flags(self):
        return _Flags(np.ndarray.flags.__get__(self))

    def get(self, stream=None, order="C", out=None):
        """A host copy as a plain numpy.ndarray."""
        return _np_array(self.view(np.ndarray), copy=True, order=order)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return arr.view(FakeCupyArray)


def _strict(fn, name):
    """A NumPy function as CuPy would have it: no host arrays in, device arrays out."""

    def wrapper(*args, **kwargs):
        _check(args, name)
        _check(tuple(kwargs.values()), name)
        return _dev(fn(*_host(args), **{k: _host(v) for k, v in kwargs.items()}))

    wrapper.__name__ = name
    return wrapper


class _Ufunc:
    """A NumPy ufunc with strict inputs and device outputs (``__call__``, ``at``, ...)."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def __call__(self, *args, **kwargs):
        return _strict(self._uf, self.__name__)(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        return _strict(attr, f"{self.__name__}.{name}") if callable(attr) else attr


def asarray(a, dtype=None, order=None):
    """Explicit host -> device copy (a FakeCupyArray is returned as is, or cast)."""
    if isinstance(a, FakeCupyArray):
        return a if dtype is None else a.astype(dtype, copy=False)
    return _np_array(a, dtype=dtype, order=order or "K", copy=True).view(FakeCupyArray)


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, FakeCupyArray):
        return a.astype(dtype or a.dtype, copy=copy)
    return _np_array(a, dtype=dtype, order=order, copy=True).view(FakeCupyArray)


def asnumpy(a, stream=None):
    return a.get() if isinstance(a, FakeCupyArray) else _np_asarray(a)


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _MemoryPool()


def _as_strided(x, shape=None, strides=None):
    return np.lib.stride_tricks.as_strided(x, shape, strides)


def _scatter_add(a, slices, value):
    """``cupyx.scatter_add``: ``numpy.add.at`` on device arrays."""
    np.add.at(a, slices, value)


def _special_erf(x):
    from scipy.special import erf  # noqa: PLC0415

    return _dev(erf(_host(x)))


class _Generator:
    """``cupy.random.Generator``: draws made on the "device" (NumPy's PCG64 underneath, so a
    stream differs from the host generator's, as a real GPU generator's does)."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        if out is not None:
            raise NotImplementedError("fake CuPy Generator.random(out=)")
        return _dev(_np_asarray(self._rng.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64):
        return _dev(_np_asarray(self._rng.standard_normal(size, dtype=dtype)))


def make():
    """Return ``(cupy, cupyx)`` module objects backed by NumPy (see the module docstring)."""
    cp = types.ModuleType("fake_cupy")
    cp.__getattr__ = _fallback
    cp.ndarray = FakeCupyArray
    cp.asarray, cp.array, cp.asnumpy = asarray, array, asnumpy
    cp.get_default_memory_pool = lambda: _POOL
    cp.cuda = types.SimpleNamespace(
        Device=_Device, runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        get_current_device=lambda: _Device(0))
    cp.random = types.SimpleNamespace(default_rng=_Generator)
    cp.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=_strict(_as_strided, "as_strided")))
    cp.linalg = types.SimpleNamespace(**{n: _strict(getattr(np.linalg, n), n)
                                         for n in ("norm", "inv", "solve", "qr", "det")})
    cupyx = types.ModuleType("fake_cupyx")
    cupyx.scatter_add = _scatter_add
    cupyx.scipy = types.SimpleNamespace(special=types.SimpleNamespace(erf=_special_erf))
    return cp, cupyx


def _fallback(name):
    """Every other NumPy name: functions and ufuncs wrapped strict; types, dtypes and
    constants as they are."""
    attr = getattr(np, name)
    if isinstance(attr, np.ufunc):
        return _Ufunc(attr)
    if callable(attr) and not isinstance(attr, type):
        return _strict(attr, name)
    return attr


_CONVERSIONS = ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray")


def strict_numpy(monkeypatch):
    """Make ``numpy.asarray(device_array)`` (and array, asanyarray, ascontiguousarray,
    asfortranarray) raise TypeError, as real CuPy does: an implicit device -> host copy is
    a bug (``backend.to_numpy`` / ``.get()`` are the explicit ones).  Patches the names on
    the ``numpy`` module, which is how shenjing calls them; NumPy's own internals keep
    theirs."""
    for name in _CONVERSIONS:
        monkeypatch.setattr(np, name, _refusing(getattr(np, name), name))


def _refusing(original, name):
    def convert(a, *args, **kwargs):
        if isinstance(a, FakeCupyArray):
            raise TypeError(f"fake CuPy: numpy.{name}() got a device array: implicit "
                            "conversion to a NumPy array is not allowed (use .get() or "
                            "shenjing.backend.to_numpy).")
        return original(a, *args, **kwargs)

    return convert
