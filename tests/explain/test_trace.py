"""sj.explain.trace: z, a, δ, gradients and updates equal torch's on the same weights."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import randn

import shenjing as sj

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model_and_torch():
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Dense(5, activation="tanh", input_dim=4),
                              sj.nn.Dense(3, activation="sigmoid", input_dim=5)])
    ws = [(torch.tensor(m.kernel.numpy(), requires_grad=True),
           torch.tensor(m.bias.numpy(), requires_grad=True)) for m in model.layers]
    return model, ws


def test_trace_matches_torch():
    model, ws = _model_and_torch()
    x, y = randn(6, 4), randn(6, 3, seed=1)
    opt = sj.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    t = sj.explain.trace(model, x, y, "mse", opt)
    h = torch.tensor(x)
    zs, acts = [], [torch.tanh, torch.sigmoid]
    for (w, b), f in zip(ws, acts):
        z = h @ w + b
        z.retain_grad()
        zs.append(z)
        h = f(z)
    loss = ((h - torch.tensor(y)) ** 2).mean()
    loss.backward()
    assert t.loss == pytest.approx(loss.item(), rel=1e-5)
    for layer, z, (w, b) in zip(t.layers, zs, ws):
        np.testing.assert_allclose(layer.z, z.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.delta, z.grad.numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(layer.grads["kernel"], w.grad.numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(layer.grads["bias"], b.grad.numpy(), rtol=1e-4, atol=1e-7)
    topt = torch.optim.SGD([p for pair in ws for p in pair], lr=0.5, momentum=0.9)
    before = [p.detach().clone() for pair in ws for p in pair]
    topt.step()
    got = [u for layer in t.layers for u in (layer.updates["kernel"], layer.updates["bias"])]
    for u, p, b0 in zip(got, [p for pair in ws for p in pair], before):
        np.testing.assert_allclose(u, (p.detach() - b0).numpy(), rtol=1e-4, atol=1e-7)


def test_trace_leaves_model_untouched_and_formats():
    model, _ = _model_and_torch()
    opt = sj.optim.Adam(model.parameters(), lr=0.1)
    before = [p.numpy().copy() for p in model.parameters()]
    t = sj.explain.trace(model, randn(2, 4), randn(2, 3, seed=2), "mse", opt)
    assert all(p.grad is None for p in model.parameters()) and not opt.state
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    # Adam's first step is ≈ -lr·sign(g)
    np.testing.assert_allclose(t.layers[0].updates["kernel"],
                               -0.1 * np.sign(t.layers[0].grads["kernel"]), rtol=1e-3)
    assert [layer.name for layer in t.layers] == [m.name for m in model.layers]
    assert t[model.layers[1].name] is t.layers[1]
    text = str(t)
    assert "δ = ∂L/∂z" in text and "∂L/∂kernel" in text and "Δbias" in text
    assert t.to_markdown().count("\n|") > 10 and r"\begin{bmatrix}" in t.to_latex()
    assert sj.explain.trace(model, randn(2, 4), randn(2, 3), "mse").layers[0].updates is None


def test_separate_activation_layer_and_torch_order_loss():
    sj.manual_seed(1)
    model = sj.nn.Sequential([sj.nn.Dense(3, input_dim=2), sj.nn.ReLU(), sj.nn.Dense(2,
                                                                                    input_dim=3)])
    t = sj.explain.trace(model, randn(4, 2), np.array([0, 1, 1, 0]), sj.losses.cross_entropy)
    assert len(t.layers) == 2  # only layers with weights
    np.testing.assert_array_equal(t.layers[0].z, t.layers[0].a)  # no activation inside


def test_worked_backprop_example_matches_torch():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import worked_backprop as wb
    finally:
        sys.path.pop(0)
    t = wb.run()
    w1 = torch.tensor(wb.W1, requires_grad=True)
    b1 = torch.tensor(wb.B1, requires_grad=True)
    w2 = torch.tensor(wb.W2, requires_grad=True)
    b2 = torch.tensor(wb.B2, requires_grad=True)
    z1 = torch.tensor(wb.X) @ w1 + b1
    z1.retain_grad()
    z2 = torch.relu(z1) @ w2 + b2
    z2.retain_grad()
    loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(z2), torch.tensor(wb.Y))
    loss.backward()
    assert t.loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(t.layers[0].delta, z1.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(t.layers[1].delta, z2.grad.numpy(), rtol=1e-10)
    opt = torch.optim.SGD([w1, b1, w2, b2], lr=wb.LR)
    opt.step()
    new = [lay.params[k] + lay.updates[k] for lay in t.layers for k in ("kernel", "bias")]
    for mine, theirs in zip(new, (w1, b1, w2, b2)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-10)
    found = {name for name, *_ in wb.seed_discrepancies()}
    assert {"z1", "z2", "a2", "loss", "delta1", "b2_new", "w1_new"} <= found
    assert "delta2" not in found and "dw1" not in found  # these do follow from its figures
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "worked_backprop.py")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "do not follow" in out.stdout and "b2_new" in out.stdout
