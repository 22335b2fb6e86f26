"""Training step of one Transformer encoder layer — d_model 128, 4 heads, feed-forward 512,
post-norm, dropout 0.1, T=64, batch 32, MSE to a random target, Adam — shenjing's
TransformerEncoderLayer vs torch.nn.TransformerEncoderLayer(batch_first=True) in the same
run.  Goal: ratio ≤ 1.5."""
from __future__ import annotations

import numpy as np
import torch
from common import run_pair

import shenjing as sj
from shenjing.losses import functional as LF

D_MODEL, HEADS, FF, DROPOUT = 128, 4, 512, 0.1
BATCH, LENGTH, LR = 32, 64, 1e-3


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, LENGTH, D_MODEL)).astype(np.float32)
    return x, rng.standard_normal((BATCH, LENGTH, D_MODEL)).astype(np.float32)


def shenjing_step_fn(x, target, device="cpu"):
    sj.manual_seed(0)
    layer = sj.nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, DROPOUT, batch_first=True)
    layer.to(device)
    xt, tt = sj.as_tensor(x, device=device), sj.as_tensor(target, device=device)
    opt = sj.optim.Adam(layer.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        loss = LF.mse_loss(layer(xt), tt)
        loss.backward()
        opt.step()

    return step


def torch_step_fn(x, target, device="cpu"):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, DROPOUT,
                                             batch_first=True).to(device)
    opt = torch.optim.Adam(layer.parameters(), lr=LR)
    xt, tt = torch.from_numpy(x).to(device), torch.from_numpy(target).to(device)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(xt), tt)
        loss.backward()
        opt.step()

    return step


def main(device="cpu"):
    x, target = make_data()
    threads = sj.get_num_threads()
    torch.set_num_threads(threads)
    steps = {"shenjing": shenjing_step_fn(x, target, device),
             "pytorch": torch_step_fn(x, target, device)}
    return run_pair(f"Transformer encoder layer training step: d_model {D_MODEL}, {HEADS} "
                    f"heads, ff {FF}, dropout {DROPOUT}, T={LENGTH}, batch {BATCH}, Adam, "
                    f"{threads} thread(s) (CPU goal ≤ 1.3x)", steps, device,
                    n_steps=10, rounds=5, warmup=3, retries=1)


if __name__ == "__main__":
    main()
