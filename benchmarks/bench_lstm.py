"""Training step of an LSTM text classifier — Embedding 10000×128 → LSTM 128 (last state) →
Dense 10, batch 64, T=50, Adam — shenjing vs PyTorch CPU (nn.Embedding + nn.LSTM
batch_first + nn.Linear) in the same run, on random token ids.  Goal: ratio ≤ 2.0."""
from __future__ import annotations

import numpy as np
import torch
from common import classifier_step, run_pair

import shenjing as sj
from shenjing.nn import functional as F

VOCAB, EMBED, UNITS, CLASSES = 10000, 128, 128, 10
BATCH, STEPS_T, LR = 64, 50, 1e-3


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, VOCAB, (BATCH, STEPS_T)), rng.integers(0, CLASSES, BATCH)


def shenjing_step_fn(x, y, device="cpu"):
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Embedding(VOCAB, EMBED), sj.nn.LSTM(UNITS),
                              sj.nn.Dense(CLASSES)])
    model.to(device)
    xt, yt = sj.as_tensor(x, device=device), sj.as_tensor(y, device=device)
    model(xt)  # build the lazy layers (on the model's device)
    opt = sj.optim.Adam(model.parameters(), lr=LR)
    return classifier_step(model, opt, F.cross_entropy, xt, yt)


class TorchClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB, EMBED)
        self.lstm = torch.nn.LSTM(EMBED, UNITS, batch_first=True)
        self.linear = torch.nn.Linear(UNITS, CLASSES)

    def forward(self, x):
        _, (h, _) = self.lstm(self.embedding(x))
        return self.linear(h[-1])


def torch_step_fn(x, y, device="cpu"):
    torch.manual_seed(0)
    model = TorchClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    return classifier_step(model, opt, torch.nn.functional.cross_entropy, xt, yt)


def main(device="cpu"):
    x, y = make_data()
    threads = sj.get_num_threads()
    torch.set_num_threads(threads)
    steps = {"shenjing": shenjing_step_fn(x, y, device), "pytorch": torch_step_fn(x, y, device)}
    return run_pair(f"LSTM classifier training step: Embedding {VOCAB}x{EMBED} → LSTM {UNITS} "
                    f"→ Dense {CLASSES}, T={STEPS_T}, batch {BATCH}, Adam, {threads} thread(s) "
                    "(CPU goal ≤ 1.6x)", steps, device, n_steps=10, rounds=5, warmup=3, retries=1)


if __name__ == "__main__":
    main()
