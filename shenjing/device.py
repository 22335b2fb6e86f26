"""Devices: where a tensor's array lives ("cpu" = NumPy, "cuda:N" = CuPy on GPU N).

    >>> sj.device("cuda:1")          # Device('cuda:1'); needs CuPy and a visible GPU
    >>> sj.device("cpu") == "cpu"    # True: a Device compares equal to its string
"""
from __future__ import annotations

import numbers

_GPU_INSTALL = ('pip install "shenjing[gpu]" (CuPy for CUDA 12; for other CUDA versions see '
                "https://docs.cupy.dev/en/stable/install.html)")


class Device:
    """A device: ``type`` is "cpu" or "cuda", ``index`` the GPU number (None for the CPU).

    Hashable; ``str(d)`` is "cpu" or "cuda:N" and a Device equals its string.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None):
        self.type = type
        self.index = None if type == "cpu" else int(index or 0)

    def __str__(self) -> str:
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = parse(other)
            except ValueError:
                return False
        if not isinstance(other, Device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash(str(self))


CPU = Device("cpu")


def parse(spec) -> Device:
    """Read "cpu", "cuda", "cuda:N" or a Device, without checking that the device exists."""
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        kind, _, index = spec.strip().lower().partition(":")
        if kind == "cpu" and not index:
            return CPU
        if kind in ("cuda", "gpu") and (not index or index.isdigit()):
            return Device("cuda", int(index) if index else 0)
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool) and spec >= 0:
        return Device("cuda", int(spec))
    raise ValueError(f'device expects "cpu", "cuda" or "cuda:N" (or a GPU number), '
                     f"got {spec!r}.")


def device(spec) -> Device:
    """The Device named by ``spec`` ("cpu", "cuda", "cuda:N", an int N or a Device).

    A CUDA device needs CuPy (``pip install "shenjing[gpu]"``) and a visible GPU with that
    number; otherwise this raises an error saying what is missing.
    """
    d = parse(spec)
    if d.type == "cuda":
        _check_cuda(d)
    return d


def _check_cuda(d: Device) -> None:
    from . import backend  # noqa: PLC0415  (backend imports this module)

    if backend.cupy_module(load=True) is None:
        raise RuntimeError(f"device '{d}' needs CuPy, which is not installed: {_GPU_INSTALL}.")
    count = backend.cuda_device_count()
    if count == 0:
        raise RuntimeError(f"device '{d}': CuPy is installed but sees no CUDA GPU (check "
                           "nvidia-smi, the driver and CUDA_VISIBLE_DEVICES), or use "
                           "device='cpu'.")
    if d.index >= count:
        raise RuntimeError(f"device '{d}' does not exist: CuPy sees {count} GPU(s), "
                           f"cuda:0 to cuda:{count - 1}.")
