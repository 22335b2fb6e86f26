"""Training step of an MLP 784-512-512-10 (batch 128 and 4096, SGD with momentum, random
data): shenjing vs PyTorch in the same run (CPU, or one GPU with ``main(device="cuda")``),
plus a hand-written NumPy step for reference on the CPU, and for batch 4096 the GEMM-bound
time: the sum of the step's eight matmuls, each timed alone in the same array library."""
from __future__ import annotations

import numpy as np
import torch
from common import classifier_step, run_pair

import shenjing as sj
from shenjing.nn import functional as F

SIZES = (784, 512, 512, 10)
BATCH, LR, MOMENTUM = 128, 0.01, 0.9
LARGE_BATCH = 4096  # GEMM-bound: where kernel count stops mattering


def make_data(seed=0, batch=BATCH):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    return x, y


def shenjing_step_fn(x, y, device="cpu"):
    sj.manual_seed(0)
    layers = []
    for units in SIZES[1:-1]:
        layers.append(sj.nn.Dense(units, activation="relu"))
    layers.append(sj.nn.Dense(SIZES[-1]))
    model = sj.nn.Sequential(layers)
    xt, yt = sj.as_tensor(x, device=device), sj.as_tensor(y, device=device)
    model.to(device)
    model(xt)  # build the lazy layers (on the model's device)
    opt = sj.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    return classifier_step(model, opt, F.cross_entropy, xt, yt)


def torch_step_fn(x, y, device="cpu"):
    torch.manual_seed(0)
    mods = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    mods.append(torch.nn.Linear(SIZES[-2], SIZES[-1]))
    model = torch.nn.Sequential(*mods).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    return classifier_step(model, opt, torch.nn.functional.cross_entropy, xt, yt)


def numpy_step_fn(x, y):
    """The same step written by hand in NumPy: the floor for any NumPy framework."""
    rng = np.random.default_rng(0)
    ws = [(rng.standard_normal((a, b)) * np.sqrt(1 / a)).astype(np.float32)
          for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [np.zeros(b, np.float32) for b in SIZES[1:]]
    params = ws + bs
    bufs = [None] * len(params)
    rows = np.arange(BATCH)

    def step():
        hs, h = [x], x
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w + b
            if i < len(ws) - 1:
                np.maximum(h, 0, out=h)
            hs.append(h)
        z = h - h.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        g = p / BATCH
        grads_w, grads_b = [None] * 3, [None] * 3
        for i in reversed(range(len(ws))):
            grads_w[i] = hs[i].T @ g
            grads_b[i] = g.sum(axis=0)
            if i:
                g = (g @ ws[i].T) * (hs[i] > 0)
        for k, (pa, gr) in enumerate(zip(params, grads_w + grads_b)):
            bufs[k] = gr if bufs[k] is None else bufs[k] * MOMENTUM + gr
            pa -= LR * bufs[k]

    return step


def gemm_floor_ms(batch, device="cpu", repeats=5):
    """The step's matmuls, each timed alone (best of ``repeats``), summed in ms: forward
    x@W (3), backward dW = hᵀ@g (3) and dx = g@Wᵀ (2; none for the input)."""
    import time  # noqa: PLC0415

    import shenjing as sj  # noqa: PLC0415
    from shenjing import backend  # noqa: PLC0415

    rng = np.random.default_rng(0)
    xp = backend.array_module(sj.zeros(1, device=device).data)
    shapes = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        shapes += [((batch, a), (a, b)), ((a, batch), (batch, b))]
        if a != SIZES[0]:
            shapes.append(((batch, b), (b, a)))
    sync = sj.cuda.synchronize if device != "cpu" else (lambda: None)
    total = 0.0
    for sa, sb in shapes:
        a = xp.asarray(rng.standard_normal(sa).astype(np.float32))
        b = xp.asarray(rng.standard_normal(sb).astype(np.float32))
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - t0)
        total += best
    return 1000 * total


def main(device="cpu"):
    threads = sj.get_num_threads()
    torch.set_num_threads(threads)
    results = {}
    for batch, timing in ((BATCH, {}), (LARGE_BATCH, dict(n_steps=3, rounds=3, warmup=1,
                                                           retries=1))):
        x, y = make_data(batch=batch)
        steps = {"shenjing": shenjing_step_fn(x, y, device),
                 "pytorch": torch_step_fn(x, y, device)}
        if device == "cpu" and batch == BATCH:
            steps["numpy (hand-written)"] = numpy_step_fn(x, y)
        title = (f"MLP 784-512-512-10 training step, batch {batch}, SGD momentum, "
                 f"{threads} thread(s)")
        result = run_pair(title, steps, device, **timing)
        if batch == LARGE_BATCH:
            floor = gemm_floor_ms(batch, device)
            ms = result["shenjing"]["ms_per_step"]
            print(f"  {'GEMM-bound (8 matmuls)':<22}{floor:>10.3f}   shenjing step / GEMM "
                  f"time: {ms / floor:.2f}")
            result["gemm_bound_ms"] = round(floor, 3)
        results[f"batch_{batch}"] = result
    return results


if __name__ == "__main__":
    main()
