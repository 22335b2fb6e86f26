"""``sj.cuda``: ask about GPUs and CuPy's memory.  Every function is safe without CuPy.

    >>> sj.cuda.is_available()         # False without CuPy or without a visible GPU
    >>> sj.cuda.reset_peak_memory_stats(); ...; sj.cuda.max_memory_allocated()
"""
from __future__ import annotations

from . import backend


def device_count() -> int:
    """Number of GPUs CuPy can see (0 without CuPy or a driver)."""
    return backend.cuda_device_count()


def is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    return device_count() > 0


def _pool():
    return backend.cupy_module(load=True).get_default_memory_pool() if is_available() else None


def synchronize(device=None) -> None:
    """Wait until every kernel queued on ``device`` (default: the current GPU) has run;
    a no-op without a GPU.  Time GPU work only after this."""
    if not is_available():
        return
    cp = backend.cupy_module(load=True)
    index = None if device is None else backend.parse(device).index
    cp.cuda.Device(index).synchronize()


def memory_allocated() -> int:
    """Bytes of GPU memory held by live CuPy arrays now (CuPy's default memory pool)."""
    pool = _pool()
    return 0 if pool is None else int(pool.used_bytes())


def max_memory_allocated() -> int:
    """Peak bytes held by CuPy's default memory pool since ``reset_peak_memory_stats``.

    CuPy's pool keeps freed blocks for reuse, so its total size is its high-water mark
    (rounded up to the pool's block sizes); 0 without a GPU."""
    pool = _pool()
    return 0 if pool is None else int(pool.total_bytes())


def reset_peak_memory_stats() -> None:
    """Return the pool's cached free blocks to the driver, so the peak restarts from the
    memory in use now."""
    pool = _pool()
    if pool is not None:
        pool.free_all_blocks()
