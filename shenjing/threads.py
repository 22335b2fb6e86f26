"""Thread count for the BLAS/OpenMP pools NumPy calls into.

On a small machine, oversubscribed BLAS threads can slow training a hundredfold, so
shenjing defaults to one thread per *physical* core unless you set ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` yourself, or call ``sj.set_num_threads(n)``.
Thread pools are controlled with ``threadpoolctl`` when it is installed (it ships with
scikit-learn); otherwise only the environment variables (read at NumPy import) apply.
"""
from __future__ import annotations

import os

_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_limiter = None


def physical_cores() -> int:
    """Number of physical cores (hyper-threads counted once) available to this process."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - macOS/Windows
        cpus = set(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        path = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with open(path + "core_id") as f1, open(path + "physical_package_id") as f2:
                cores.add((f2.read().strip(), f1.read().strip()))
        except OSError:
            cores.add(("?", cpu))
    return max(1, len(cores))


def user_thread_setting() -> int | None:
    """The thread count the user set through the environment, if any."""
    for var in _ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in NumPy's BLAS/OpenMP pools from now on."""
    global _limiter
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive int, got {n!r}.")
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        for var in _ENV_VARS:
            os.environ[var] = str(n)
        return
    _limiter = threadpool_limits(limits=n)


def get_num_threads() -> int:
    """Threads the BLAS pool currently uses (best effort)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return user_thread_setting() or physical_cores()
    info = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(info) if info else 1


def configure_default() -> None:
    """At import: respect the user's setting, else cap pools at the physical core count."""
    if user_thread_setting() is None:
        n = str(physical_cores())
        for var in _ENV_VARS:
            os.environ.setdefault(var, n)  # effective if NumPy is not imported yet
