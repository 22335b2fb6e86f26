"""Vanishing gradients in a 20-layer MLP on sklearn digits, and three cures.

    python examples/vanishing_gradients.py            # --quick: a short run (tests)

Seed 001's FAQ: with sigmoid units every layer multiplies the backward signal by
σ'(z) ≤ 1/4, so after 20 layers the first layers receive almost nothing.  Compared, with
the same short training (Adam, lr 1e-3):

  1. sigmoid, Glorot init            — the gradient vanishes
  2. ReLU + He init                  — derivative 1 on the active half, variance kept
  3. sigmoid + batch normalisation   — pre-activations kept in σ's steep region
  4. sigmoid + residual connections  — x + f(x): the identity path carries the gradient
     (seed 003, residual networks)

For each: ``sj.explain.gradient_flow`` at initialisation (its verdict, and the
first/last layer gradient-norm ratio) and the test accuracy reached.
"""
import argparse

import numpy as np

import shenjing as sj

DEPTH, WIDTH = 20, 64


class Residual(sj.nn.Module):
    """x + Dense(x) after an activation: y = x + act(x @ W + b)."""

    def __init__(self, units, activation):
        super().__init__()
        self.dense = sj.nn.Dense(units, activation=activation)

    def forward(self, x):
        return x + self.dense(x)


def build(kind):
    """A DEPTH-layer MLP (DEPTH - 1 hidden layers of WIDTH units, then 10 logits)."""
    hidden = DEPTH - 1
    if kind == "sigmoid":
        layers = [sj.nn.Dense(WIDTH, activation="sigmoid") for _ in range(hidden)]
    elif kind == "relu_he":
        layers = [sj.nn.Dense(WIDTH, activation="relu", kernel_initializer="he_normal")
                  for _ in range(hidden)]
    elif kind == "batchnorm":
        layers = []
        for _ in range(hidden):
            layers += [sj.nn.Dense(WIDTH), sj.nn.BatchNorm1d(WIDTH), sj.nn.Sigmoid()]
    elif kind == "residual":
        layers = [sj.nn.Dense(WIDTH, activation="sigmoid")]
        layers += [Residual(WIDTH, "sigmoid") for _ in range(hidden - 1)]
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return sj.Sequential(layers + [sj.nn.Dense(10)])


KINDS = {"sigmoid": "sigmoid (Glorot)", "relu_he": "ReLU + He init",
         "batchnorm": "sigmoid + batch norm", "residual": "sigmoid + residual"}


def compare(epochs, n_train=None, seed=0):
    """{kind: (FlowReport at initialisation, test accuracy after ``epochs``)}."""
    (x_train, y_train), (x_test, y_test) = sj.data.load_digits()
    if n_train:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    results = {}
    for kind in KINDS:
        sj.manual_seed(seed)
        model = build(kind)
        flow = sj.explain.gradient_flow(model, x_train[:256], y_train[:256],
                                        sj.losses.cross_entropy)
        model.compile(optimizer=sj.optim.Adam(lr=1e-3),
                      loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0)
        pred = np.argmax(model.predict(x_test), axis=-1)
        results[kind] = (flow, float(np.mean(pred == np.asarray(y_test))))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on 512 samples")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    epochs, n_train = (1, 512) if args.quick else (args.epochs, None)
    results = compare(epochs, n_train)
    print(f"{DEPTH}-layer MLPs on digits, {epochs} epoch(s) of Adam (lr 1e-3):")
    print(f"{'model':22s} {'verdict':10s} {'‖g_first‖/‖g_last‖':>19s} {'test acc':>9s}")
    for kind, (flow, acc) in results.items():
        norms = [r.grad_norm for r in flow.layers]
        ratio = norms[0] / norms[-1]
        print(f"{KINDS[kind]:22s} {flow.verdict:10s} {ratio:19.2e} {acc:9.3f}")


if __name__ == "__main__":
    main()
