"""OpenBLAS core type: use the AVX-512 kernels on AVX-512 CPUs that OpenBLAS misdetects.

NumPy's bundled OpenBLAS picks its kernels once, when NumPy is first imported, from the
CPU it recognises.  It does not recognise AMD Zen 4/5 and falls back to its AVX2 kernels
(~249 GFLOP/s for a 2048² float32 matmul on a Zen 5 core pair, against ~456 GFLOP/s with
``OPENBLAS_CORETYPE=SkylakeX``).  This module, standard library only so that it can run
*before* NumPy loads, sets that variable when it is safe:

* the CPU reports every AVX-512 subset the SkylakeX kernels use (avx512f, avx512cd,
  avx512bw, avx512dq, avx512vl) -- elsewhere those kernels would die of SIGILL;
* the CPU is not Intel's (OpenBLAS already recognises Intel's AVX-512 CPUs, some with
  better kernels than SkylakeX);
* the user has not set ``OPENBLAS_CORETYPE`` (theirs is always kept);
* ``SHENJING_OPENBLAS_CORETYPE`` is not ``0``/``off``/``false``/``no`` (the opt-out); any
  other value is the core type to use (``Zen``, ``Haswell``...), AVX-512 ones only on a
  CPU with AVX-512;
* NumPy is not imported yet: OpenBLAS reads the variable when NumPy loads it, so setting
  it later would change nothing (and would mislead ``shenjing env``).

``shenjing/__init__.py`` calls ``apply()`` before its own ``import numpy``, so the lever
works for ``import shenjing`` (first) and for the ``shenjing`` command alike.
"""
from __future__ import annotations

import os
import sys
from typing import NamedTuple

AVX512_FLAGS = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
AVX512_CORETYPES = {"skylakex", "cooperlake", "sapphirerapids"}
DEFAULT_CORETYPE = "SkylakeX"
OPT_OUT = {"0", "off", "false", "no"}
CPUINFO = "/proc/cpuinfo"


class Decision(NamedTuple):
    coretype: str | None  # the OPENBLAS_CORETYPE set by shenjing, None if it set nothing
    reason: str  # why, in words (``shenjing env`` prints it)


LAST_DECISION: Decision | None = None  # what apply() decided in this process


def read_cpuinfo(path: str = CPUINFO) -> str:
    """The first processor's block of /proc/cpuinfo ("" where there is none: macOS...)."""
    lines = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # one processor is enough: all cores of a machine share flags
                lines.append(line)
    except OSError:
        return ""
    return "".join(lines)


def _field(cpuinfo: str, name: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def cpu_flags(cpuinfo: str) -> set:
    """The CPU feature flags listed in a /proc/cpuinfo text."""
    return set(_field(cpuinfo, "flags").split())


def cpu_vendor(cpuinfo: str) -> str:
    return _field(cpuinfo, "vendor_id")


def decide(cpuinfo: str, environ, numpy_loaded: bool) -> Decision:
    """The core type to set (or None) and why; pure, for tests and ``shenjing env``."""
    user = environ.get("OPENBLAS_CORETYPE")
    if user:
        return Decision(None, f"OPENBLAS_CORETYPE={user} was set by the user; kept")
    choice = environ.get("SHENJING_OPENBLAS_CORETYPE", "").strip()
    if choice.lower() in OPT_OUT:
        return Decision(None, f"opted out (SHENJING_OPENBLAS_CORETYPE={choice})")
    if numpy_loaded:
        return Decision(None, "NumPy was imported before shenjing: OpenBLAS has chosen its "
                              "kernels already (import shenjing first, or set "
                              "OPENBLAS_CORETYPE in the environment)")
    flags = cpu_flags(cpuinfo)
    missing = [f for f in AVX512_FLAGS if f not in flags]
    if choice:
        if choice.lower() in AVX512_CORETYPES and missing:
            return Decision(None, f"SHENJING_OPENBLAS_CORETYPE={choice} refused: this CPU "
                                  f"lacks {', '.join(missing)} (it would crash with SIGILL)")
        return Decision(choice, f"SHENJING_OPENBLAS_CORETYPE={choice}")
    if not flags:
        return Decision(None, "no CPU flags found (no /proc/cpuinfo): OpenBLAS decides")
    if missing:
        return Decision(None, f"no AVX-512 ({', '.join(missing)} missing): OpenBLAS's own "
                              "choice is kept")
    if cpu_vendor(cpuinfo) == "GenuineIntel":
        return Decision(None, "Intel CPU with AVX-512: OpenBLAS recognises it; kept")
    return Decision(DEFAULT_CORETYPE, f"AVX-512 CPU ({cpu_vendor(cpuinfo) or 'unknown vendor'})"
                                      f" that OpenBLAS may not recognise: {DEFAULT_CORETYPE} "
                                      "kernels (opt out: SHENJING_OPENBLAS_CORETYPE=0)")


def apply(environ=None, cpuinfo: str | None = None) -> Decision:
    """Decide, set ``OPENBLAS_CORETYPE`` in ``environ`` (``os.environ``) if warranted, and
    remember the decision in ``LAST_DECISION``.  Never raises: a failure is a reason."""
    global LAST_DECISION
    environ = os.environ if environ is None else environ
    try:
        settled = (environ.get("OPENBLAS_CORETYPE") or "numpy" in sys.modules
                   or environ.get("SHENJING_OPENBLAS_CORETYPE", "").strip().lower() in OPT_OUT)
        # reading /proc/cpuinfo costs ~0.2 ms: skip it when the answer does not depend on it
        text = cpuinfo if cpuinfo is not None else "" if settled else read_cpuinfo()
        decision = decide(text, environ, "numpy" in sys.modules)
        if decision.coretype:
            environ["OPENBLAS_CORETYPE"] = decision.coretype
    except Exception as e:  # noqa: BLE001  (this runs at import: it must never break it)
        decision = Decision(None, f"check failed ({type(e).__name__}: {e}); nothing set")
    LAST_DECISION = decision
    return decision
