"""Seed 002 §4.2, the worked backpropagation example, recomputed — and where it goes wrong.

    python examples/worked_backprop.py

The seed describes "one input node, two hidden nodes, one output node", ReLU hidden units,
a sigmoid output, cross-entropy loss, learning rate α = 0.1, and gives

    x = [1, 2],  y = [0],  w1 = [0.5, 0.3],  b1 = [0.2, 0.1],  w2 = [-0.3, 0.1],  b2 = [0.1, 0.3]

Only one reading makes those shapes a network: a 1-2-1 network (W1 is 1×2, b1 has 2
entries, W2 is 2×1) trained on a batch of two one-feature samples x = 1 and x = 2, both
labelled 0, with the mean binary cross-entropy of seed §4.1.2 (the 1/m there).  The output
node has one bias; the seed lists two ([0.1, 0.3]), so we take the first, 0.1.

The program (1) computes that network's forward values, errors δ = ∂L/∂z, gradients and
SGD-updated weights with ``sj.explain.trace``; (2) redoes each step of the seed's own hand
computation from the seed's own previous figures and prints every figure it states that
does not follow (beyond its 4-digit rounding).
"""
import numpy as np

import shenjing as sj

X = np.array([[1.0], [2.0]])  # two samples, one feature each
Y = np.array([[0.0], [0.0]])
W1, B1 = np.array([[0.5, 0.3]]), np.array([0.2, 0.1])
W2, B2 = np.array([[-0.3], [0.1]]), np.array([0.1])
LR = 0.1

# The figures the seed states, §4.2.2 - §4.2.5 (copied only to be checked).
SEED = {
    "z1": [0.7, 1.1], "a2": [0.4375, 0.5417], "z2": [-0.21, 0.14], "loss": 0.572,
    "delta2": [0.4375, 0.5417], "dw2": [0.30625, 0.5948], "delta1": [-0.0506, -0.0054],
    "dw1": [-0.0506, -0.0108], "lr_dw2": [0.0506, 0.05948], "w2_new": [-0.3506, 0.04052],
    "b2_new": [-0.0375, 0.24583], "w1_sub": [0.0506, 0.0108], "w1_new": [0.4494, 0.2892],
    "b1_new": [0.2506, 0.1054],
}
SEED_INPUTS = {"x": np.array([1.0, 2.0]), "w1": np.array([0.5, 0.3]),
               "b1": np.array([0.2, 0.1]), "w2": np.array([-0.3, 0.1]),
               "b2": np.array([0.1, 0.3])}
TOL = 6e-4  # the seed rounds to about four digits


def build_model():
    """The 1-2-1 network with the seed's weights, in float64."""
    model = sj.nn.Sequential([
        sj.nn.Dense(2, activation="relu", input_dim=1, dtype="float64", name="hidden"),
        sj.nn.Dense(1, activation="sigmoid", input_dim=2, dtype="float64", name="output"),
    ])
    for layer, w, b in zip(model.layers, (W1, W2), (B1, B2)):
        layer.kernel.data[...] = w
        layer.bias.data[...] = b
    return model


def run():
    """The correct forward values, δ, gradients and SGD updates, from ``sj.explain.trace``."""
    model = build_model()
    opt = sj.optim.SGD(model.parameters(), lr=LR)
    return sj.explain.trace(model, X, Y, sj.losses.binary_cross_entropy, opt)


def _sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def seed_recomputed():
    """Each stated figure redone from the seed's inputs and its own previous figures:
    name → (recomputed value, what went wrong when it differs)."""
    s, i = SEED, SEED_INPUTS
    relu_grad = (np.array(s["z1"]) > 0).astype(float)  # ReLU'(z) = 1 for z > 0
    return {
        "z1": (i["x"] * i["w1"] + i["b1"], "x·w1 + b1 taken elementwise as the seed writes it "
               "(the dot-product reading gives x·w1 = 1.1 and z1 = [1.3, 1.2]); 1.1 is neither"),
        "z2": (np.array(s["z1"]) * i["w2"] + i["b2"], "a1·w2 + b2 elementwise from its own a1 "
               "(-0.21 is only the first product, without the bias)"),
        "a2": (_sigmoid(s["z2"]), "1/(1 + e^-z) of its own z2"),
        "loss": (-np.log(1 - s["a2"][0]), "with y = 0, L = -log(1 - a); the formula "
                 "also lacks the brackets around -(y log a + (1 - y) log(1 - a))"),
        "delta2": (np.array(s["a2"]) - 0.0, ""),
        "dw2": (np.array(s["delta2"]) * np.array(s["z1"]), "δ2·a1 multiplied out again"),
        "delta1": (i["w2"] * np.array(s["delta2"]) * relu_grad, "ReLU'(z) = 1 for z > 0, "
                   "not (1 - a); even with (1 - a) the product would be "
                   + str(np.round(i["w2"] * np.array(s["delta2"]) * (1 - np.array(s["z1"])),
                                  4).tolist())),
        "dw1": (np.array(s["delta1"]) * i["x"], ""),
        "lr_dw2": (LR * np.array(s["dw2"]), "α = 0.1 times its own Δw2"),
        "w2_new": (i["w2"] - LR * np.array(s["dw2"]), "follows from the wrong α·Δw2"),
        "b2_new": (i["b2"] - LR * np.array(s["delta2"]), "b2 - α·Δb2 subtracted again"),
        "w1_sub": (LR * np.array(s["dw1"]), "α is dropped and the sign flipped"),
        "w1_new": (i["w1"] - LR * np.array(s["dw1"]), "w1 - α·Δw1: a negative gradient "
                   "increases w1"),
        "b1_new": (i["b1"] - LR * np.array(s["delta1"]),
                   "α is dropped (the step is 10× too large)"),
    }


def seed_discrepancies():
    """[(name, stated, recomputed, explanation)] for every stated figure that is off."""
    out = []
    for name, (value, why) in seed_recomputed().items():
        stated = np.atleast_1d(np.asarray(SEED[name], dtype=float))
        value = np.atleast_1d(np.asarray(value, dtype=float))
        if not np.allclose(stated, value, atol=TOL, rtol=0):
            out.append((name, stated, value, why))
    return out


STRUCTURAL = [
    "§4.2.1 says one input node but gives two input values x = [1, 2]: read here as a batch "
    "of two one-feature samples",
    "the single output node is given two biases b2 = [0.1, 0.3] and two outputs a2: one "
    "node has one bias (0.1 used)",
    "the learning rate is 0.01 in §3.2.4 and 0.1 in §4.2.5 (0.1 used, as in the example)",
    "§3.2.2 defines the output error as y - ŷ; §4.2.4 uses a - y (the latter is ∂L/∂z for "
    "sigmoid + cross-entropy)",
]


def main():
    t = run()
    print("Seed 002 §4.2 network (1-2-1, ReLU → sigmoid, mean BCE, SGD α = 0.1), computed:")
    print(t.table(precision=5))
    print("\nUpdated weights (w + Δw):")
    for layer in t.layers:
        for k, w in layer.params.items():
            print(f"  {layer.name}.{k} = {np.round(w + layer.updates[k], 6).tolist()}")
    found = seed_discrepancies()
    print(f"\nThe seed's hand computation, each step redone from its own figures: "
          f"{len(found)} of {len(SEED)} stated figures do not follow")
    for name, stated, value, why in found:
        print(f"  {name:7s} stated {np.round(stated, 5).tolist()}, "
              f"should be {np.round(value, 5).tolist()}: {why}")
    print("\nInconsistencies in the set-up itself:")
    for line in STRUCTURAL:
        print(f"  - {line}")


if __name__ == "__main__":
    main()
