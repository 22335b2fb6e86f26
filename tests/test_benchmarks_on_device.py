"""The GPU benchmarks' shenjing side (``make bench DEVICE=cuda``) runs: each workload's
training step built with ``device="cuda"`` on the simulated GPU (tests/fake_cupy.py) keeps
its inputs, parameters and gradients there and updates the parameters.  Timing is never
asserted."""
from __future__ import annotations

import importlib
import inspect
import pathlib
import sys

import numpy as np
import pytest

import shenjing as sj

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
WORKLOADS = ["bench_mlp", "bench_lenet", "bench_lstm", "bench_transformer", "bench_resnet20"]

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture
def bench_module(request, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield importlib.import_module(request.param)
    sys.modules.pop(request.param, None)


@pytest.mark.parametrize("bench_module", WORKLOADS, indirect=True)
def test_shenjing_step_runs_on_the_device(bench_module, fake_cuda):
    step = bench_module.shenjing_step_fn(*bench_module.make_data(), device="cuda")
    captured = inspect.getclosurevars(step).nonlocals  # the step's model, opt, inputs
    params = [p for group in captured["opt"].param_groups for p in group["params"]]
    before = [p.numpy().copy() for p in params]
    for _ in range(2):
        step()
    inputs = [v for v in captured.values() if isinstance(v, sj.Tensor)]
    assert inputs and all(t.device == "cuda" for t in inputs)
    assert all(isinstance(p.data, fake_cuda.ndarray) for p in params)
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and all(isinstance(g.data, fake_cuda.ndarray) for g in grads)
    assert all(np.isfinite(p.numpy()).all() for p in params)
    moved = sum(not np.array_equal(b, p.numpy()) for b, p in zip(before, params))
    assert moved >= len(grads) // 2, f"{moved} of {len(params)} parameters were updated"
