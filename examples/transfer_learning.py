"""Transfer learning on the bundled 8x8 digits (no download): pretrain a small CNN on digits
0-4, freeze its convolutional backbone, put a new head on it for digits 5-9, fine-tune on a
few labelled samples, and compare with the same network trained from scratch on them.

    python examples/transfer_learning.py            # about 10 s of compute
    python examples/transfer_learning.py --quick    # fewer epochs (what the tests run)
    SHENJING_PRETRAIN=shenjing python examples/transfer_learning.py   # never use torch

Pretraining runs in PyTorch when it is installed, and the weights come over with
``sj.io.load_torch_state_dict`` (the Dense kernels are transposed, BatchNorm's running
statistics become moving_mean / moving_variance; the printed report lists every tensor);
without torch the same network is pretrained in shenjing.  Either way the fine-tuning is
shenjing's: ``layer.trainable = False`` on the convolutional backbone, ``model.pop()`` /
``model.add()`` to replace the two Dense layers of the head, then ``compile`` / ``fit`` on
the few samples.

What to expect, honestly: 8x8 digits are easy, and the same CNN trained from scratch on the
25 images already reaches about 91% on digits 5-9.  With the backbone pretrained on 0-4 (it
never saw a 5-9) and frozen, the new head reaches about 93% (seed 0, torch pretraining, the
full run), training 8.6k of the 13.5k weights.  The gain is small and not guaranteed: the
--quick run (shorter pretraining and fine-tuning) can come out below scratch, and freezing
the Dense(64) layer too (features specific to 0-4) lands well below it (about 70%).  The
script prints what happened in your run.
"""
import argparse
import importlib.util
import os

import numpy as np

import shenjing as sj
import shenjing.io  # noqa: F401  (sj.io.load_torch_state_dict)
from shenjing import nn

SHOTS = 5  # labelled samples per new class


def backbone_layers():
    """Conv(16) → BN → ReLU → pool → Conv(32) → BN → ReLU → pool → Flatten."""
    return [nn.Conv2D(16, 3, padding=1), nn.BatchNormalization(momentum=0.9, epsilon=1e-5),
            nn.ReLU(), nn.MaxPooling2D(2),
            nn.Conv2D(32, 3, padding=1), nn.BatchNormalization(momentum=0.9, epsilon=1e-5),
            nn.ReLU(), nn.MaxPooling2D(2), nn.Flatten()]


def head_layers(num_classes):
    return [nn.Dense(64, activation="relu"), nn.Dense(num_classes)]


def shenjing_cnn(num_classes, example):
    model = sj.Sequential(backbone_layers() + head_layers(num_classes))
    model(example[:1])  # build the weights
    return model


def compile_model(model, lr):
    model.compile(sj.optim.Adam(lr=lr),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def pretrain_torch(x, y, epochs):
    """The same CNN in PyTorch, trained on digits 0-4; returns the torch module."""
    import torch  # noqa: PLC0415  (optional)

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(32 * 2 * 2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(xt)).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


def pretrained_model(x, y, epochs, use_torch):
    """A shenjing CNN holding weights pretrained on digits 0-4."""
    model = shenjing_cnn(5, x)
    if use_torch:
        import torch  # noqa: PLC0415

        net = pretrain_torch(x, y, epochs)
        report = sj.io.load_torch_state_dict(model, net)
        print(f"Pretrained in PyTorch; load_torch_state_dict copied {len(report)} tensors:")
        print("  " + str(report).replace("\n", "\n  "))
        with torch.no_grad():
            want = net(torch.from_numpy(x[:64])).numpy()
        gap = np.abs(model.predict(x[:64]) - want).max()
        print(f"  max |shenjing - torch| on 64 images: {gap:.2e}")
    else:
        print("Pretraining in shenjing (PyTorch not used).")
        compile_model(model, 3e-3).fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def few_shot(x, y, shots, seed=0):
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False)
                          for c in np.unique(y)])
    return x[idx], y[idx]


def fine_tune(model, x_few, y_few, epochs):
    """Freeze the pretrained backbone, replace the head, train on the few samples."""
    n_backbone = len(backbone_layers())
    for layer in model.layers[:n_backbone]:  # freeze the backbone ...
        layer.trainable = False
    while len(model.layers) > n_backbone:    # ... and replace the head
        model.pop()
    for layer in head_layers(5):
        model.add(layer)
    frozen = model.layers[0].kernel.data.copy()
    compile_model(model, 3e-3).fit(x_few, y_few, epochs=epochs, batch_size=16, verbose=0)
    assert np.array_equal(model.layers[0].kernel.data, frozen), "the backbone moved"
    return model


def from_scratch(x_few, y_few, epochs):
    sj.manual_seed(0)
    model = compile_model(shenjing_cnn(5, x_few), 3e-3)
    model.fit(x_few, y_few, epochs=epochs, batch_size=16, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (for tests)")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("SHENJING_QUICK") == "1"
    epochs = int(os.environ.get("SHENJING_EPOCHS", 30 if quick else 100))
    use_torch = (os.environ.get("SHENJING_PRETRAIN", "torch") == "torch"
                 and importlib.util.find_spec("torch") is not None)
    sj.manual_seed(0)

    (x_train, y_train), (x_test, y_test) = sj.data.load_digits()
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    old, new = y_train < 5, y_train >= 5
    model = pretrained_model(x_train[old], y_train[old], 2 if quick else 6, use_torch)
    acc_old = np.mean(model.predict(x_test[y_test < 5]).argmax(1) == y_test[y_test < 5])
    print(f"Pretrained on digits 0-4: accuracy {acc_old:.3f} on their test images")

    x_few, y_few = few_shot(x_train[new], y_train[new] - 5, SHOTS)
    x_eval, y_eval = x_test[y_test >= 5], y_test[y_test >= 5] - 5
    print(f"Fine-tuning on {len(x_few)} images of digits 5-9 ({SHOTS} per class), "
          f"{epochs} epochs; testing on {len(x_eval)}")
    tuned = fine_tune(model, x_few, y_few, epochs)
    scratch = from_scratch(x_few, y_few, epochs)
    acc_tuned, acc_scratch = tuned.evaluate(x_eval, y_eval)[1], scratch.evaluate(x_eval, y_eval)[1]
    trainable = sum(p.size for p in tuned.trainable_parameters())
    print(f"Fine-tuned, frozen backbone ({trainable} trainable weights) Test Accuracy: "
          f"{acc_tuned:.4f}")
    print(f"From scratch ({scratch.count_params()} trainable weights) Test Accuracy: "
          f"{acc_scratch:.4f}")
    better = "better" if acc_tuned > acc_scratch else "not better"
    print(f"Transfer learning is {better} than training from scratch on these {len(x_few)} "
          "images.")


if __name__ == "__main__":
    main()
