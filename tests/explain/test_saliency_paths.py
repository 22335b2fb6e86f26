"""saliency / gradient × input against torch autograd; feature maps, filters, grids;
optimizer trajectories against torch.optim."""
import numpy as np
import pytest
import torch
from helpers import randn

import shenjing as sj


def _cnn():
    sj.manual_seed(0)
    conv = sj.nn.Conv2D(4, 3, activation="relu", name="conv", input_shape=(2, 6, 6))
    return sj.nn.Sequential([conv, sj.nn.Flatten(), sj.nn.Dense(3)])


def _torch_grad(model, x, target):
    conv, _, dense = model.layers
    xt = torch.tensor(x, requires_grad=True)
    h = torch.relu(torch.nn.functional.conv2d(xt, torch.tensor(conv.kernel.numpy()),
                                              torch.tensor(conv.bias.numpy())))
    out = h.flatten(1) @ torch.tensor(dense.kernel.numpy()) + torch.tensor(dense.bias.numpy())
    out[torch.arange(len(x)), torch.as_tensor(target)].sum().backward()
    return xt.grad.numpy()


def test_saliency_and_gradient_x_input_match_torch():
    model = _cnn()
    model(np.zeros((1, 2, 6, 6), "float32"))
    x = randn(3, 2, 6, 6)
    target = np.array([0, 2, 1])
    g = _torch_grad(model, x, target)
    s = sj.explain.saliency(model, x, target)
    assert s.shape == (3, 6, 6)
    np.testing.assert_allclose(s, np.abs(g).max(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sj.explain.gradient_x_input(model, x, target), x * g,
                               rtol=1e-4, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_saliency_non_image_keeps_shape():
    sj.manual_seed(1)
    model = sj.nn.Sequential([sj.nn.Dense(3, input_dim=4)])
    s = sj.explain.saliency(model, randn(2, 4), target=1)
    np.testing.assert_allclose(s, np.abs(np.broadcast_to(model.layers[0].kernel.numpy()[:, 1],
                                                         (2, 4))), rtol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        sj.explain.saliency(model, randn(2, 4), target=5)


def test_feature_maps_filters_and_grid(tmp_path):
    model = _cnn()
    x = randn(2, 2, 6, 6)
    maps = sj.explain.feature_maps(model, x, "conv")
    conv = model.layers[0]
    expected = torch.relu(torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(conv.kernel.numpy()), torch.tensor(conv.bias.numpy())))
    np.testing.assert_allclose(maps, expected.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(sj.explain.feature_maps(model, x, conv), maps)
    with pytest.raises(ValueError, match="no layer named"):
        sj.explain.feature_maps(model, x, "nope")
    f = sj.explain.filters(conv)
    assert f.shape == (8, 3, 3)
    np.testing.assert_array_equal(f[1], conv.kernel.numpy()[0, 1])
    fig = sj.explain.save_grid(f, tmp_path / "f.png", ncols=4)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and len(fig.axes) == 8


TORCH_OPT = {"sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
             "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
             "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
             "adam": lambda p, lr: torch.optim.Adam(p, lr=lr)}


@pytest.mark.parametrize("function", ["rosenbrock", "beale", "saddle"])
def test_paths_equal_torch_optim(function):
    from shenjing.explain.optim_paths import DEFAULT_LR, FUNCTIONS
    paths = sj.explain.optimizer_paths(function, tuple(TORCH_OPT), steps=10)
    fn, start, _, _ = FUNCTIONS[function]
    for name, make in TORCH_OPT.items():
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = make([p], DEFAULT_LR[function][name])
        pts = [p.detach().numpy().copy()]
        for _ in range(10):
            opt.zero_grad()
            fn(p[0], p[1]).backward()
            opt.step()
            pts.append(p.detach().numpy().copy())
        assert paths[name].shape == (11, 2)
        np.testing.assert_allclose(paths[name], np.stack(pts), rtol=1e-9, atol=1e-12)


def test_adam_reaches_rosenbrock_minimum(tmp_path):
    paths = sj.explain.optimizer_paths("rosenbrock", ["adam", "sgd"], steps=1000,
                                       path=tmp_path / "r.png")
    assert np.linalg.norm(paths["adam"][-1] - [1.0, 1.0]) < 0.05
    assert np.all(np.isfinite(paths["sgd"]))
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="unknown function"):
        sj.explain.optimizer_paths("himmelblau")
