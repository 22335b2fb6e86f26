"""Training step of an MLP 784-512-512-10 (batch 128, SGD with momentum, random data):
shenjing vs PyTorch CPU in the same run, plus a hand-written NumPy step for reference."""
from __future__ import annotations

import numpy as np
import torch
from common import classifier_step, compare, report

import shenjing as sj
from shenjing.nn import functional as F

SIZES = (784, 512, 512, 10)
BATCH, LR, MOMENTUM = 128, 0.01, 0.9


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return x, y


def shenjing_step_fn(x, y):
    sj.manual_seed(0)
    layers = []
    for units in SIZES[1:-1]:
        layers.append(sj.nn.Dense(units, activation="relu"))
    layers.append(sj.nn.Dense(SIZES[-1]))
    model = sj.nn.Sequential(layers)
    xt, yt = sj.as_tensor(x), sj.as_tensor(y)
    model(xt)  # build the lazy layers
    opt = sj.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    return classifier_step(model, opt, F.cross_entropy, xt, yt)


def torch_step_fn(x, y):
    torch.manual_seed(0)
    mods = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    mods.append(torch.nn.Linear(SIZES[-2], SIZES[-1]))
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
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


def main():
    x, y = make_data()
    threads = sj.get_num_threads()
    torch.set_num_threads(threads)
    steps = {"shenjing": shenjing_step_fn(x, y), "pytorch": torch_step_fn(x, y),
             "numpy (hand-written)": numpy_step_fn(x, y)}
    series = compare(steps)
    return report(f"MLP 784-512-512-10 training step, batch {BATCH}, SGD momentum, "
                  f"{threads} thread(s)", series)


if __name__ == "__main__":
    main()
