"""`make bench` (add DEVICE=cuda for the GPU): run every benchmarks/bench_*.py and print
shenjing/PyTorch ratios.

    python benchmarks/run.py                       # all, on the CPU
    python benchmarks/run.py --device cuda         # all, shenjing and PyTorch on one GPU
    python benchmarks/run.py bench_mlp bench_lstm  # some
"""
from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
GPU_WORKLOADS = ("bench_mlp", "bench_lenet", "bench_lstm", "bench_resnet20",
                 "bench_transformer")  # bench_distributed is a CPU (MPI) benchmark


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmark modules (default: all)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where both frameworks run (default: cpu)")
    args = parser.parse_args(argv)
    from common import require_device  # noqa: PLC0415

    require_device(args.device)
    names = args.names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.device != "cpu":
        skipped = [n for n in names if n not in GPU_WORKLOADS]
        if skipped:
            print(f"(--device {args.device}: skipping the CPU-only {', '.join(skipped)})")
        names = [n for n in names if n in GPU_WORKLOADS]
    results = {}
    for name in names:
        module = importlib.import_module(name)
        results[name] = (module.main(device=args.device) if args.device != "cpu"
                         else module.main())
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
