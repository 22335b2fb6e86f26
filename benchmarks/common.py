"""Load-aware, interleaved timing of shenjing against PyTorch in one process.

On a 2-core machine any other busy process distorts both sides unequally, so every timed
block also measures the CPU time *other* processes used meanwhile (from /proc/stat, minus
this process's own CPU time).  A block during which others used more than
``max_foreign`` of the machine is redone (up to ``retries`` times) and flagged if it
never ran clean.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Block:
    ms_per_step: float
    foreign_load: float  # fraction of all cores used by other processes during the block


@dataclass
class Series:
    name: str
    blocks: list = field(default_factory=list)
    flagged: int = 0

    @property
    def median_ms(self) -> float:
        return statistics.median(b.ms_per_step for b in self.blocks)


def time_block(step, n_steps: int, sync=None) -> Block:
    """Run ``step`` n times; return ms/step and the foreign CPU load meanwhile.  ``sync``
    (a GPU's synchronize) runs before the clock starts and before it is read, so queued
    kernels are counted in the block that queued them."""
    if sync is not None:
        sync()
    busy0, own0, t0 = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
    for _ in range(n_steps):
        step()
    if sync is not None:
        sync()
    wall = time.perf_counter() - t0
    busy1, own1 = _machine_busy_seconds(), _own_cpu_seconds()
    foreign = 0.0
    if busy0 is not None and busy1 is not None:
        cores = os.cpu_count() or 1
        foreign = max(0.0, (busy1 - busy0) - (own1 - own0)) / (wall * cores)
    return Block(1000 * wall / n_steps, foreign)


def compare(steps: dict, n_steps=50, rounds=7, warmup=10, max_foreign=0.10, retries=3,
            syncs=None):
    """Time each named step function in interleaved rounds (the order rotates each round);
    returns {name: Series}.  ``syncs``: {name: synchronize function} on a GPU."""
    syncs = syncs or {}
    for step in steps.values():
        for _ in range(warmup):
            step()
    series = {name: Series(name) for name in steps}
    names = list(steps)
    for r in range(rounds):
        # rotate who goes first: a block right after PyTorch's shares the cores with its
        # OpenMP threads still spinning (LeNet measured 12.4 there against 11.2 ms first)
        for name in names[r % len(names):] + names[:r % len(names)]:
            step = steps[name]
            best = None
            for _attempt in range(retries + 1):
                block = time_block(step, n_steps, syncs.get(name))
                if best is None or block.foreign_load < best.foreign_load:
                    best = block
                if block.foreign_load <= max_foreign:
                    break
            if best.foreign_load > max_foreign:
                series[name].flagged += 1
            series[name].blocks.append(best)
    return series


def report(title: str, series: dict, baseline: str = "pytorch") -> dict:
    """Print a small table with each series' median ms/step and ratio to ``baseline``."""
    base = series[baseline].median_ms
    print(f"\n{title}")
    print(f"  {'':<22}{'ms/step':>10}{'ratio':>9}  {'max foreign load':>17}")
    out = {}
    for name, s in series.items():
        load = max(b.foreign_load for b in s.blocks)
        flag = f"  (FLAGGED: {s.flagged} loaded blocks)" if s.flagged else ""
        ratio = s.median_ms / base
        print(f"  {name:<22}{s.median_ms:>10.3f}{ratio:>9.2f}  {load:>16.1%}{flag}")
        out[name] = {"ms_per_step": round(s.median_ms, 4), "ratio_to_pytorch": round(ratio, 3),
                     "flagged_blocks": s.flagged}
    return out


def classifier_step(model, opt, cross_entropy, x, y):
    """One training step closure; the same code drives shenjing and PyTorch, whose low-level
    APIs (zero_grad / backward / step) share their names."""

    def step():
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


# ---------------------------------------------------------------- devices (make bench DEVICE=cuda)

def require_device(device: str) -> None:
    """Exit with a clear message (status 2) when ``device`` is a GPU that this machine, or
    CuPy / PyTorch here, cannot use: both frameworks must run on the same GPU."""
    if device == "cpu":
        return
    import torch  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415

    missing = [what for what, ok in (("CuPy with a CUDA GPU (for shenjing)",
                                      sj.cuda.is_available()),
                                     ("a CUDA build of PyTorch", torch.cuda.is_available()))
               if not ok]
    if missing:
        raise SystemExit(f"benchmarks --device {device}: needs {' and '.join(missing)}; "
                         "none found on this machine. Run `make bench` for the CPU.")


def syncs_for(device: str) -> dict:
    """{side: synchronize} for ``compare``: empty on the CPU."""
    if device == "cpu":
        return {}
    import torch  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415

    return {"shenjing": sj.cuda.synchronize, "pytorch": torch.cuda.synchronize}


def gpu_peak_memory(steps: dict, n_steps=3) -> dict:
    """{side: peak GPU MiB over ``n_steps`` more steps}: CuPy's pool for shenjing, PyTorch's
    caching allocator for PyTorch (two allocators: each peak is its own side's)."""
    import torch  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415

    frameworks = {"shenjing": (sj.cuda.reset_peak_memory_stats, sj.cuda.max_memory_allocated,
                               sj.cuda.synchronize),
                  "pytorch": (torch.cuda.reset_peak_memory_stats,
                              torch.cuda.max_memory_allocated, torch.cuda.synchronize)}
    out = {}
    for name, step in steps.items():
        if name not in frameworks:
            continue
        reset, peak, sync = frameworks[name]
        sync()
        reset()
        for _ in range(n_steps):
            step()
        sync()
        out[name] = round(peak() / 2**20, 1)
    return out


def report_gpu_memory(result: dict, mem: dict, baseline="pytorch") -> dict:
    """Print the peak GPU memory of each side (and the ratio) and add it to ``result``."""
    print(f"  {'peak GPU memory':<22}{'MiB':>10}{'ratio':>9}")
    for side, mib in mem.items():
        ratio = mib / max(mem.get(baseline, mib), 1e-9)
        print(f"  {side:<22}{mib:>10.1f}{ratio:>9.2f}")
        result.setdefault(side, {})["peak_gpu_mib"] = mib
    return result


def run_pair(title, steps, device, **timing):
    """Time the sides (synchronized on a GPU), print the table, and on a GPU the peak
    memory of each side; returns the results as a dict."""
    series = compare(steps, syncs=syncs_for(device), **timing)
    result = report(f"{title} [{device}]", series)
    if device != "cpu":
        report_gpu_memory(result, gpu_peak_memory(steps))
    return result
