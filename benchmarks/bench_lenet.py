"""Training step of LeNet-5 on 1x28x28 inputs (batch 64, Adam, random data): shenjing vs
PyTorch CPU in the same run, then the peak resident memory of each side, measured in a fresh
subprocess per framework so that the two never share a peak.

Also the home of the memory probe that bench_resnet20.py reuses: ``python bench_lenet.py
--memory shenjing`` builds one side, runs a few steps and prints its VmHWM as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np
from common import classifier_step

BATCH, LR, CLASSES, SHAPE = 64, 1e-3, 10, (1, 28, 28)
MEMORY_STEPS = 5


def make_data(seed=0, batch=BATCH, shape=SHAPE, classes=CLASSES):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    y = rng.integers(0, classes, batch)
    return x, y


def shenjing_step_fn(x, y, device="cpu"):
    import shenjing as sj  # noqa: PLC0415  (a --memory run of the torch side must not load it)
    from shenjing.nn import functional as F  # noqa: PLC0415

    sj.manual_seed(0)
    model = sj.models.lenet5(CLASSES, SHAPE).to(device)
    opt = sj.optim.Adam(model.parameters(), lr=LR)
    xt, yt = sj.as_tensor(x, device=device), sj.as_tensor(y, device=device)
    return classifier_step(model, opt, F.cross_entropy, xt, yt)


def torch_lenet(num_classes=CLASSES):
    """The same network in torch.nn: conv 6@5x5 pad 2 → max 2 → conv 16@5x5 → max 2 → 120 → 84."""
    import torch.nn as nn  # noqa: PLC0415

    return nn.Sequential(
        nn.Conv2d(SHAPE[0], 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))


def torch_step_fn(x, y, device="cpu"):
    import torch  # noqa: PLC0415

    torch.manual_seed(0)
    model = torch_lenet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    return classifier_step(model, opt, torch.nn.functional.cross_entropy, xt, yt)


# ---------------------------------------------------------------- peak memory, one process each

def _rss_mb(field):
    """VmHWM (peak) or VmRSS (now) of this process in MiB; ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(module, side, threads):
    """Run in a fresh process: build ``side`` of ``module``'s benchmark, run its
    ``MEMORY_STEPS`` training steps; returns {"baseline_mb": RSS after import and setup,
    "peak_mb": VmHWM at the end}."""
    if side == "pytorch":
        import torch  # noqa: PLC0415

        torch.set_num_threads(threads)
    else:
        import shenjing as sj  # noqa: PLC0415

        sj.set_num_threads(threads)
    mod = __import__(module)
    x, y = mod.make_data()
    step = (mod.torch_step_fn if side == "pytorch" else mod.shenjing_step_fn)(x, y)
    baseline = _rss_mb("VmRSS")
    for _ in range(getattr(mod, "MEMORY_STEPS", MEMORY_STEPS)):
        step()
    return {"baseline_mb": round(baseline, 1), "peak_mb": round(_rss_mb("VmHWM"), 1)}


def peak_memory(module, threads, sides=("shenjing", "pytorch")):
    """{side: probe result} with each side in its own subprocess (``--memory SIDE``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    root = os.path.dirname(here)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, root, env.get("PYTHONPATH")]))
    out = {}
    for side in sides:
        proc = subprocess.run([sys.executable, os.path.join(here, "bench_lenet.py"), "--memory",
                               side, "--module", module, "--threads", str(threads)],
                              env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode:
            raise RuntimeError(f"memory probe {module}/{side} failed:\n{proc.stderr[-2000:]}")
        out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def report_memory(mem, baseline="pytorch"):
    """Print peak resident memory (and growth over the post-setup RSS) with ratios."""
    base = mem[baseline]
    print(f"  {'peak memory':<22}{'peak MiB':>10}{'ratio':>9}{'training MiB':>14}{'ratio':>8}")
    out = {}
    for side, m in mem.items():
        grow, base_grow = m["peak_mb"] - m["baseline_mb"], base["peak_mb"] - base["baseline_mb"]
        ratio, gratio = m["peak_mb"] / base["peak_mb"], grow / max(base_grow, 1.0)
        print(f"  {side:<22}{m['peak_mb']:>10.1f}{ratio:>9.2f}{grow:>14.1f}{gratio:>8.2f}")
        out[side] = {**m, "peak_ratio_to_pytorch": round(ratio, 3)}
    return out


def run(module, title, rounds, n_steps, warmup, retries=1, device="cpu"):
    """Time both sides interleaved in this process, then probe their memory: on the CPU
    peak RSS in a subprocess per side; on a GPU each allocator's peak, in this process
    (few retries of loaded blocks: each redo costs whole seconds here)."""
    import torch  # noqa: PLC0415
    from common import run_pair  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415

    mod = __import__(module)
    x, y = mod.make_data()
    threads = sj.get_num_threads()
    torch.set_num_threads(threads)
    steps = {"shenjing": mod.shenjing_step_fn(x, y, device),
             "pytorch": mod.torch_step_fn(x, y, device)}
    result = run_pair(f"{title}, {threads} thread(s)", steps, device, n_steps=n_steps,
                      rounds=rounds, warmup=warmup, retries=retries)
    if device == "cpu":
        mem = report_memory(peak_memory(module, threads))
        for side in ("shenjing", "pytorch"):
            result[side]["memory"] = mem[side]
    return result


def main(device="cpu"):
    return run("bench_lenet", f"LeNet-5 training step, 1x28x28, batch {BATCH}, Adam",
               rounds=5, n_steps=10, warmup=3, device=device)


def _cli():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--memory", choices=("shenjing", "pytorch"),
                   help="print the peak memory of one side as JSON (used by peak_memory)")
    p.add_argument("--module", default="bench_lenet")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.memory:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        print(json.dumps(memory_probe(args.module, args.memory, args.threads)))
    else:
        main()


if __name__ == "__main__":
    _cli()
