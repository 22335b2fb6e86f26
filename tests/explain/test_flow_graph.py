"""gradient_flow verdicts and numbers, graph / plot_model drawings, gradcheck_module."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import randn

import shenjing as sj
from shenjing.explain.flow import dead_fraction, saturated_fraction


def _deep(act, depth, init="glorot_uniform"):
    sj.manual_seed(0)
    return sj.nn.Sequential([sj.nn.Dense(16, activation=act, kernel_initializer=init)
                             for _ in range(depth)] + [sj.nn.Dense(3)])


def test_flow_numbers_match_torch_gradients():
    model = _deep("tanh", 2)
    x, y = randn(8, 4), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    r = sj.explain.gradient_flow(model, x, y, sj.losses.cross_entropy, lr=0.1)
    ws = [torch.tensor(m.kernel.numpy(), requires_grad=True) for m in model.layers]
    bs = [torch.tensor(m.bias.numpy()) for m in model.layers]
    h = torch.tensor(x)
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w + b
        h = torch.tanh(h) if i < 2 else h
    torch.nn.functional.cross_entropy(h, torch.tensor(y)).backward()
    for row, w in zip(r.layers, ws):
        assert row.grad_norm == pytest.approx(w.grad.norm().item(), rel=1e-4)
        assert row.update_ratio == pytest.approx(0.1 * row.grad_norm / row.weight_norm)
    assert r.layers[0].activation == "tanh" and r.layers[-1].activation is None
    assert all(p.grad is None for p in model.parameters())


def test_verdicts():
    x, y = randn(32, 8), np.arange(32) % 3
    loss = sj.losses.cross_entropy
    assert sj.explain.gradient_flow(_deep("sigmoid", 20), x, y, loss).verdict == "vanishing"
    healthy = sj.explain.gradient_flow(_deep("relu", 6, "he_normal"), x, y, loss)
    assert healthy.verdict == "healthy" and healthy.summary().startswith("healthy:")
    model = _deep("linear", 4)
    model(x)  # build
    for m in model.layers:
        m.kernel.data *= 30
    assert sj.explain.gradient_flow(model, x, y, loss).verdict == "exploding"


def test_dead_and_saturated_units():
    a = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])
    assert dead_fraction(a) == pytest.approx(1 / 3)
    assert dead_fraction(np.zeros((2, 4, 3, 3))) == 1.0
    assert saturated_fraction(np.array([0.995, -0.999, 0.5, 0.0]), "tanh") == 0.5
    assert saturated_fraction(np.array([0.005, 0.5, 0.995, 0.3]), "sigmoid") == 0.5
    model = sj.nn.Sequential([sj.nn.Dense(4, input_dim=2), sj.nn.ReLU(), sj.nn.Dense(1,
                                                                                    input_dim=4)])
    model.layers[0].kernel.data[:, :2] = -1.0  # units 0, 1 dead on positive inputs
    model.layers[0].kernel.data[:, 2:] = 1.0
    r = sj.explain.gradient_flow(model, np.ones((5, 2), "float32"), np.zeros((5, 1)), "mse")
    assert r.layers[0].activation == "relu" and r.layers[0].dead_fraction == 0.5


def test_flow_plot(tmp_path):
    r = sj.explain.gradient_flow(_deep("relu", 3), randn(4, 5), np.arange(4) % 3,
                                 sj.losses.cross_entropy)
    fig = r.plot(tmp_path / "flow.png")
    assert (tmp_path / "flow.png").read_bytes()[:4] == b"\x89PNG" and len(fig.axes) == 2
    assert "‖∂L/∂W‖" in str(r)


def test_graph_walks_ops_and_names_parameters(tmp_path):
    model = sj.nn.Sequential([sj.nn.Dense(3, activation="relu", input_dim=4),
                              sj.nn.Dense(1, input_dim=3)])
    out = model(sj.randn(2, 4)).sum()
    g = sj.explain.graph(out, params=dict(model.named_parameters()))
    assert g.dot.startswith("digraph") and g.nodes == 9
    for text in ("Sum", "Affine", "ReLU", "layers.0.kernel", "(4, 3)", "input"):
        assert text in g.dot
    assert g.dot.count("->") == 8
    assert g.save(tmp_path / "g.dot").endswith("g.dot")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz not installed")
    g.save(tmp_path / "g.svg")
    assert "<svg" in (tmp_path / "g.svg").read_text()


def test_graph_without_dot_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    g = sj.explain.graph((sj.tensor([1.0], requires_grad=True) * 2).sum())
    with pytest.warns(RuntimeWarning, match="dot"):
        written = g.save(tmp_path / "g.png")
    assert written.endswith("g.dot") and "digraph" in (tmp_path / "g.dot").read_text()


def test_plot_model_and_module_plot(tmp_path):
    model = sj.nn.Sequential([sj.nn.Dense(8, activation="relu"), sj.nn.Dropout(0.5),
                              sj.nn.Dense(2)])
    d = sj.explain.plot_model(model, input_shape=(4,))
    assert d.nodes == 3 and d.dot.count("->") == 2 and "output (1, 8)" in d.dot
    assert model.training  # modes restored
    d2 = model.plot(tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text() == d2.dot
    if shutil.which("dot"):
        model.plot(tmp_path / "m.png")
        assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_gradcheck_module_reports_worst_element_per_parameter():
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Dense(3, activation="tanh", input_dim=4),
                              sj.nn.Dense(2, input_dim=3)])
    report = sj.explain.gradcheck_module(model, randn(5, 4), randn(5, 2, seed=1),
                                         lambda out, t: ((out - t) ** 2).mean())
    assert report.ok
    names = [e.name for e in report.entries]
    assert names == ["input[0]", "layers.0.kernel", "layers.0.bias", "layers.1.kernel",
                     "layers.1.bias"]
    kernel = report.entries[1]
    assert len(kernel.worst_index) == 2 and kernel.shape == (4, 3)


def test_vanishing_gradients_example_quick():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, os.path.join(root, "examples",
                                                       "vanishing_gradients.py"), "--quick"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = dict(re.findall(r"^(sigmoid \(Glorot\)|ReLU \+ He init|sigmoid \+ batch norm|"
                           r"sigmoid \+ residual)\s+(\w+)", out.stdout, re.M))
    assert rows == {"sigmoid (Glorot)": "vanishing", "ReLU + He init": "healthy",
                    "sigmoid + batch norm": "healthy", "sigmoid + residual": "healthy"}
