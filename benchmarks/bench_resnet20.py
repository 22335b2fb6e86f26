"""Training step of the CIFAR-10 ResNet-20 (3x32x32, batch 128, SGD momentum 0.9 with weight
decay, random data): shenjing vs PyTorch CPU in the same run, then the peak resident memory of
each side in its own subprocess (see bench_lenet.py).  Steps take seconds, so few rounds."""
from __future__ import annotations

import numpy as np
from bench_lenet import run
from common import classifier_step

BATCH, LR, MOMENTUM, WEIGHT_DECAY, CLASSES, SHAPE = 128, 0.1, 0.9, 1e-4, 10, (3, 32, 32)
MEMORY_STEPS = 3


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, *SHAPE)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    return x, y


def shenjing_step_fn(x, y, device="cpu"):
    import shenjing as sj  # noqa: PLC0415  (a --memory run of the torch side must not load it)
    from shenjing.nn import functional as F  # noqa: PLC0415

    sj.manual_seed(0)
    model = sj.models.resnet20(CLASSES).to(device)
    model.train()
    opt = sj.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    xt, yt = sj.as_tensor(x, device=device), sj.as_tensor(y, device=device)
    return classifier_step(model, opt, F.cross_entropy, xt, yt)


def torch_resnet20(num_classes=CLASSES):
    """ResNet-20 of He et al. (2016) in torch.nn, as sj.models.resnet20: 3x3 convolutions
    without bias, BatchNorm, option-A shortcuts (subsample, zero-pad the new channels)."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.extra:
                s = nn.functional.pad(s, (0, 0, 0, 0, 0, self.extra))
            return torch.relu(y + s)

    layers, cin = [nn.Conv2d(SHAPE[0], 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                   nn.ReLU()], 16
    for i, width in enumerate((16, 32, 64)):
        for j in range(3):
            layers.append(Block(cin, width, 2 if i > 0 and j == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def torch_step_fn(x, y, device="cpu"):
    import torch  # noqa: PLC0415

    torch.manual_seed(0)
    model = torch_resnet20().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                          weight_decay=WEIGHT_DECAY)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    return classifier_step(model, opt, torch.nn.functional.cross_entropy, xt, yt)


def main(device="cpu"):
    return run("bench_resnet20", f"ResNet-20 training step, 3x32x32, batch {BATCH}, "
               "SGD momentum", rounds=3, n_steps=2, warmup=1, device=device)


if __name__ == "__main__":
    main()
