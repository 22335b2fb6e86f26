"""`make bench`: run every benchmarks/bench_*.py and print shenjing/PyTorch ratios."""
from __future__ import annotations

import importlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or sorted(
        p.stem for p in HERE.glob("bench_*.py"))
    results = {}
    for name in names:
        results[name] = importlib.import_module(name).main()
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
