"""Data-parallel scaling of ResNet-20 on synthetic CIFAR-shaped data: 1 vs 2 MPI ranks.

Weak scaling: every rank trains on its own batch of ``BATCH`` 3x32x32 images (one BLAS thread
per rank), gradients averaged by ``sj.distributed`` (bucketed MPI all-reduce overlapped with
backward).  Printed per run: samples/s over all ranks, and the scaling efficiency

    efficiency(W) = throughput(W) / (W · throughput(1))

and, since the machine is shared, the same ratio from CPU time per step (what the efficiency
would be if every rank had a core to itself: cpu_step(1) / cpu_step(W)),
plus the time of one all-reduce of the whole gradient (269,722 float32 = 1.08 MB) on 2 ranks,
from which the achieved bus bandwidth 2(W-1)/W · bytes / time follows.

    python benchmarks/bench_distributed.py            # launches mpirun itself
    python benchmarks/bench_distributed.py --steps 10 --batch 64

On a shared 2-core machine the numbers are noisy: the load average at each start is printed.
Needs mpirun and mpi4py (returns {"skipped": why} without them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

BATCH, STEPS, WARMUP = 32, 6, 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(batch, steps, bucket_cap_mb):
    """One rank: time ``steps`` training steps after ``WARMUP``; rank 0 prints JSON."""
    import shenjing as sj  # noqa: PLC0415
    import shenjing.distributed as dist  # noqa: PLC0415
    from shenjing.nn import functional as F  # noqa: PLC0415

    world = dist.init()
    sj.manual_seed(0)
    model = dist.DistributedDataParallel(sj.models.resnet20(), bucket_cap_mb=bucket_cap_mb)
    rng = np.random.default_rng(world.rank)
    x = sj.tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = sj.tensor(rng.integers(0, 10, batch))
    model(x)  # builds, broadcasts, hooks
    opt = sj.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    waited = _time_waits(model.reducer)
    times, cpu, waits = [], [], []
    for i in range(WARMUP + steps):
        world.barrier()
        start, start_cpu, waited[0] = time.perf_counter(), time.process_time(), 0.0
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        model.synchronize()
        opt.step()
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            waits.append(waited[0])
    step = float(np.median(times))
    result = {"ranks": world.size, "batch_per_rank": batch, "step_s": step,
              "cpu_s": float(np.median(cpu)), "comm_wait_s": float(np.median(waits)),
              "samples_per_s": world.size * batch / step,
              "buckets": len(model.reducer.buckets) if model.reducer else 0}
    if world.size > 1:
        result["allreduce_ms"] = 1e3 * allreduce_time(world)
    if world.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def _time_waits(reducer):
    """Accumulate into ``waited[0]`` the seconds spent completing the gradient all-reduce
    (waiting for buckets still in flight after backward, then averaging)."""
    waited = [0.0]
    if reducer is None:
        return waited
    complete = reducer._complete

    def timed(last):
        start = time.perf_counter()
        try:
            return complete(last)
        finally:
            waited[0] += time.perf_counter() - start

    reducer._complete = timed
    return waited


def allreduce_time(world, repeats=20):
    """Median seconds of one MPI all-reduce of ResNet-20's gradient volume."""
    buf = np.ones(269_722, np.float32)
    times = []
    for _ in range(repeats):
        world.barrier()
        start = time.perf_counter()
        world.wait([world.comm.Iallreduce(world.MPI.IN_PLACE, buf, op=world.MPI.SUM)], "bench")
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# Figures of the on-paper model (docs/distributed.md): (GPUs, bus bandwidth B in bytes/s
# per GPU, latency a per ring hop in seconds).  NVLink 4 / NVSwitch inside one 8-GPU H100
# node: NCCL reaches ~400 GB/s bus bandwidth; 8 such nodes over InfiniBand NDR (one 400 Gb/s
# NIC per GPU = 50 GB/s, ~45 GB/s achieved), where the inter-node links bound the ring.
FABRICS = {"8 GPUs, NVLink (1 node)": (8, 400e9, 5e-6),
           "64 GPUs, InfiniBand NDR (8 nodes)": (64, 45e9, 10e-6)}
MODELS = {"ResNet-20": 269_722, "ResNet-50": 25_557_032}


def ring_allreduce_seconds(nbytes, gpus, bandwidth, latency, buckets=1):
    """Ring all-reduce: 2(p-1)/p · n/B + 2(p-1)·a per bucket (reduce-scatter + all-gather)."""
    return 2 * (gpus - 1) / gpus * nbytes / bandwidth + buckets * 2 * (gpus - 1) * latency


def scaling_model(compute_s=0.040, bucket_mb=25.0):
    """Predicted all-reduce time and efficiency T_c / (T_c + T_ar) (no overlap: a lower
    bound) for each fabric and model, float32 gradients, ``compute_s`` per step and GPU."""
    rows = []
    for model, params in MODELS.items():
        nbytes = 4 * params
        buckets = max(1, -(-nbytes // int(bucket_mb * 2 ** 20)))
        for fabric, (gpus, bw, lat) in FABRICS.items():
            t = ring_allreduce_seconds(nbytes, gpus, bw, lat, buckets)
            rows.append({"model": model, "MB": nbytes / 1e6, "fabric": fabric, "gpus": gpus,
                         "buckets": buckets, "allreduce_ms": 1e3 * t,
                         "efficiency_no_overlap": compute_s / (compute_s + t),
                         "compute_ms_for_95": 1e3 * 19 * t})
    return rows


def launch(ranks, batch, steps, bucket_cap_mb):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", "--bind-to", "none", sys.executable,
           os.path.abspath(__file__), "--worker", "--batch", str(batch), "--steps", str(steps),
           "--bucket-cap-mb", str(bucket_cap_mb)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"mpirun -n {ranks} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return {**json.loads(lines[-1][7:]), "load_avg_at_start": load,
            "bucket_cap_mb": bucket_cap_mb}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=BATCH, help="images per rank and step")
    p.add_argument("--steps", type=int, default=STEPS, help="timed steps (after 2 warm-up)")
    p.add_argument("--bucket-cap-mb", type=float, default=1.0, help="gradient bucket size")
    p.add_argument("--ranks", default="1,2", help="rank counts to run, e.g. 1,2")
    p.add_argument("--model", action="store_true",
                   help="print the ring all-reduce model for 8 and 64 GPUs and stop")
    args = p.parse_args([] if argv is None else argv)  # make bench calls main()
    if args.worker:
        return worker(args.batch, args.steps, args.bucket_cap_mb)
    if args.model:
        for r in scaling_model():
            print(f"  {r['model']:9s} {r['MB']:6.1f} MB  {r['fabric']:34s} all-reduce "
                  f"{r['allreduce_ms']:6.3f} ms  efficiency at 40 ms/step "
                  f"{100 * r['efficiency_no_overlap']:5.1f}%  95% needs a step of "
                  f">= {r['compute_ms_for_95']:.1f} ms", file=sys.stderr)
        return {"model": scaling_model()}
    try:
        import mpi4py  # noqa: F401, PLC0415
    except ImportError:
        return {"skipped": "mpi4py is not installed"}
    if shutil.which("mpirun") is None:
        return {"skipped": "mpirun is not on PATH"}
    runs = [launch(int(n), args.batch, args.steps, args.bucket_cap_mb)
            for n in args.ranks.split(",")]
    base = runs[0]["samples_per_s"] / runs[0]["ranks"]
    base_cpu = runs[0]["cpu_s"]
    print(f"ResNet-20, synthetic 3x32x32, batch {args.batch}/rank, 1 BLAS thread/rank, "
          f"buckets of {args.bucket_cap_mb:g} MiB", file=sys.stderr)
    for r in runs:
        r["efficiency"] = r["samples_per_s"] / (r["ranks"] * base)
        r["cpu_efficiency"] = base_cpu / r["cpu_s"]  # were every rank alone on its core
        extra = f", all-reduce 1.08 MB: {r['allreduce_ms']:.2f} ms" if "allreduce_ms" in r \
            else ""
        print(f"  {r['ranks']} rank(s): {r['samples_per_s']:7.1f} samples/s, step "
              f"{r['step_s'] * 1e3:7.1f} ms (CPU {r['cpu_s'] * 1e3:.1f} ms, waiting for "
              f"gradients {r['comm_wait_s'] * 1e3:.1f} ms), efficiency "
              f"{100 * r['efficiency']:5.1f}% (CPU time: {100 * r['cpu_efficiency']:5.1f}%)"
              f"{extra} (load avg {r['load_avg_at_start']:.2f})", file=sys.stderr)
    return {"runs": runs}


if __name__ == "__main__":
    out = main(sys.argv[1:])
    if out is not None:
        print(json.dumps(out))
