"""``shenjing env``: what this machine gives NumPy -- CPU, BLAS kernels, threads, and the
OpenBLAS core-type decision (see ``shenjing/_cpu_tuning.py`` and docs/performance.md).

One JSON line on stdout, as every ``shenjing`` command; ``--verbose`` adds a readable
summary on stderr.
"""
from __future__ import annotations

import json
import os
import sys

from .. import _cpu_tuning

_SHOWN_FLAGS = ("sse4_2", "avx", "avx2", "fma") + _cpu_tuning.AVX512_FLAGS + (
    "avx512_bf16", "avx512_vnni", "amx_tile")


def blas_pools() -> list:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (kernels in use, threads);
    [] when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix")
    return [{k: info.get(k) for k in keys if info.get(k) is not None}
            for info in threadpool_info()]


def env_report() -> dict:
    """The report as a dict (``shenjing env`` prints it as JSON)."""
    import numpy as np  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415  (applies the lever, if it is still in time)

    cpuinfo = _cpu_tuning.read_cpuinfo()
    flags = _cpu_tuning.cpu_flags(cpuinfo)
    decision = _cpu_tuning.LAST_DECISION
    openblas = [p for p in blas_pools() if p.get("internal_api") == "openblas"]
    return {
        "cpu": {"model": _cpu_tuning._field(cpuinfo, "model name") or None,
                "vendor": _cpu_tuning.cpu_vendor(cpuinfo) or None,
                "flags": [f for f in _SHOWN_FLAGS if f in flags],
                "avx512": all(f in flags for f in _cpu_tuning.AVX512_FLAGS),
                "logical_cpus": os.cpu_count()},
        "openblas_coretype_lever": {
            "set_by_shenjing": decision.coretype if decision else None,
            "reason": decision.reason if decision else "not run (shenjing/__init__ does not "
                                                        "call _cpu_tuning.apply())",
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "SHENJING_OPENBLAS_CORETYPE": os.environ.get("SHENJING_OPENBLAS_CORETYPE")},
        "blas_kernels_in_use": openblas[0].get("architecture") if openblas else None,
        "blas": blas_pools(),
        "threads": sj.get_num_threads(),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "cuda_available": bool(getattr(getattr(sj, "cuda", None), "is_available",
                                       lambda: False)()),
    }


def env(args=None) -> int:
    """The subcommand: print the report as one JSON line (and a summary on stderr with
    ``args.verbose``); returns the exit code."""
    report = env_report()
    print(json.dumps(report), flush=True)
    if getattr(args, "verbose", False):
        lever = report["openblas_coretype_lever"]
        print(f"CPU: {report['cpu']['model']} ({', '.join(report['cpu']['flags'])})\n"
              f"OpenBLAS kernels: {report['blas_kernels_in_use']}, threads: "
              f"{report['threads']}\nOpenBLAS core-type lever: {lever['reason']}",
              file=sys.stderr)
    return 0
