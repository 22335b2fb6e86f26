"""Module: registration order and names, state_dict, modes, freezing, dtypes, repr, summary."""
import copy

import numpy as np
import pytest

import shenjing as sj
from shenjing import nn
from shenjing.nn.module import reset_names


class Net(nn.Module):
    """Attributes of every registrable kind, interleaved, to pin the definition order."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(sj.ones(3))
        self.first = nn.Dense(3, input_dim=2)
        self.register_buffer("count", np.zeros(2))
        self.blocks = [nn.Dense(3, input_dim=3), nn.ReLU(), nn.Dense(3, input_dim=3)]
        self.heads = nn.ModuleList([nn.Linear(3, 2)])
        self.offset = nn.Parameter(sj.zeros(2))
        self.note = "not registered"

    def forward(self, x):
        x = self.first(x) * self.scale
        for block in self.blocks:
            x = block(x)
        return self.heads[0](x) + self.offset


def param_names(m):
    return [n for n, _ in m.named_parameters()]


def test_named_parameters_definition_order():
    net = Net()
    assert param_names(net) == [
        "scale", "first.kernel", "first.bias", "blocks.0.kernel", "blocks.0.bias",
        "blocks.2.kernel", "blocks.2.bias", "heads.0.weight", "heads.0.bias", "offset"]
    assert [n for n, _ in net.named_buffers()] == ["count"]
    assert list(net.state_dict()) == [
        "scale", "first.kernel", "first.bias", "count", "blocks.0.kernel", "blocks.0.bias",
        "blocks.2.kernel", "blocks.2.bias", "heads.0.weight", "heads.0.bias", "offset"]
    assert [n for n, _ in net.named_children()] == ["first", "blocks.0", "blocks.1", "blocks.2",
                                                    "heads"]
    assert [n for n, _ in net.named_modules()] == [
        "", "first", "blocks.0", "blocks.1", "blocks.2", "heads", "heads.0"]
    assert len(list(net.modules())) == 7
    assert net.count_params() == 3 + 9 + 12 + 12 + 8 + 2
    assert net(sj.randn(4, 2)).shape == (4, 2)


def test_sequential_names_use_indices():
    model = nn.Sequential([nn.Dense(4, input_dim=3), nn.ReLU(), nn.Dense(2, input_dim=4)])
    assert param_names(model) == ["layers.0.kernel", "layers.0.bias", "layers.2.kernel",
                                  "layers.2.bias"]
    assert param_names(nn.Sequential(nn.Linear(2, 2))) == ["layers.0.weight", "layers.0.bias"]


def test_shared_parameters_listed_once():
    net = nn.Module()
    a = nn.Dense(2, input_dim=2)
    net.a, net.b = a, a
    net.tied = a.kernel
    assert len(list(net.parameters())) == 2
    assert param_names(net) == ["a.kernel", "a.bias"]


def test_state_dict_round_trip_and_copies():
    a, b = Net(), Net()
    x = sj.randn(5, 2)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    kernel = b.first.kernel
    result = b.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.first.kernel is kernel  # loaded in place: optimisers keep their references
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    state["first.kernel"][...] = 0  # a copy, not a view
    assert np.abs(a.first.kernel.numpy()).sum() > 0


def test_load_state_dict_strict_errors():
    net = Net()
    state = net.state_dict()
    state.pop("offset")
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(state)
    msg = str(e.value)
    assert "missing keys: offset" in msg and "unexpected keys: extra.weight" in msg
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["offset"] and result.unexpected_keys == ["extra.weight"]

    bad = net.state_dict()
    before = net.scale.numpy().copy()
    bad["scale"] = np.full(3, 9.0)
    bad["first.kernel"] = np.zeros((3, 3))
    with pytest.raises(ValueError) as e:
        net.load_state_dict(bad)
    assert "'first.kernel'" in str(e.value)
    assert "(3, 3)" in str(e.value) and "(2, 3)" in str(e.value)
    np.testing.assert_array_equal(net.scale.numpy(), before)  # nothing loaded on error
    with pytest.raises(ValueError, match="shape mismatch"):
        net.load_state_dict(bad, strict=False)


def test_load_into_unbuilt_model_explains():
    built = nn.Sequential([nn.Dense(3, input_dim=2)])
    with pytest.raises(ValueError, match="not built yet"):
        nn.Sequential([nn.Dense(3)]).load_state_dict(built.state_dict())


def test_train_eval_propagate():
    net = nn.Sequential([nn.Dense(2, input_dim=2),
                         nn.Sequential([nn.Dropout(0.5), nn.ReLU()])])
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = sj.randn(3, 2)
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())  # dropout off
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_trainable():
    net = nn.Sequential([nn.Dense(3, input_dim=2), nn.Dense(1, input_dim=3)])
    net(sj.randn(4, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    net[0].trainable = False
    assert not net[0].trainable and net.trainable
    assert len(list(net.parameters())) == 4
    assert list(net.trainable_parameters()) == [net[1].kernel, net[1].bias]
    assert not net[0].kernel.requires_grad and net[0].kernel.trainable is False
    net(sj.randn(4, 2)).sum().backward()
    assert net[0].kernel.grad is None and net[1].kernel.grad is not None
    net.trainable = True
    assert net[0].kernel.requires_grad and len(list(net.trainable_parameters())) == 4


def test_add_weight_non_trainable_stays_frozen():
    class Scaler(nn.Module):
        def build(self, input_shape):
            self.gain = self.add_weight((input_shape[-1],), "ones", name="gain")
            self.fixed = self.add_weight((1,), "zeros", trainable=False)

        def forward(self, x):
            return x * self.gain + self.fixed

    layer = Scaler()
    assert not layer.built
    layer(sj.randn(2, 5))
    assert layer.built and layer.gain.shape == (5,) and layer.gain.name == "gain"
    assert list(layer.trainable_parameters()) == [layer.gain]
    layer.trainable = False
    layer.trainable = True
    assert list(layer.trainable_parameters()) == [layer.gain]


def test_to_double_float_in_place():
    net = Net()
    kernel = net.first.kernel
    assert net.double() is net
    assert kernel is net.first.kernel and kernel.dtype == np.float64
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.count.dtype == np.float64 and net.first.dtype == np.float64
    assert net(sj.randn(2, 2)).dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError):
        net.to("int64")
    if not sj.cuda.is_available():  # moving to a GPU: tests/test_device.py
        with pytest.raises(RuntimeError, match="CuPy"):
            net.to("cuda")


def test_auto_names_and_explicit_names():
    reset_names()
    layers = [nn.Dense(2), nn.Dense(2), nn.Dense(2, name="out"), nn.Dense(2)]
    assert [m.name for m in layers] == ["dense", "dense_1", "out", "dense_2"]
    assert nn.LeakyReLU().name == "leaky_re_lu"  # Keras' snake case of the class name
    assert nn.Sequential().name == "sequential"
    assert nn.Sequential().name == "sequential_1"
    with pytest.raises(ValueError, match="name"):
        nn.Dense(2, name="")


def test_repr_nested():
    model = nn.Sequential([nn.Dense(8, activation="relu", input_dim=4), nn.Dropout(0.5),
                           nn.Sequential([nn.Dense(2)]), nn.Softmax()])
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Dense(in_features=4, units=8, activation=relu)\n"
        "  (1): Dropout(rate=0.5)\n"
        "  (2): Sequential(\n"
        "    (0): Dense(in_features=?, units=2)\n"
        "  )\n"
        "  (3): Softmax(axis=-1)\n"
        ")")
    assert repr(nn.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"


def test_sequential_container_api():
    d1, d2 = nn.Dense(3, name="a"), nn.Dense(2, name="b")
    model = nn.Sequential([d1])
    model.add(d2)
    assert len(model) == 2 and list(model) == [d1, d2]
    assert model[0] is d1 and model[-1] is d2 and model["b"] is d2
    assert isinstance(model[1:], nn.Sequential) and model[1:][0] is d2
    assert model(sj.randn(4, 5)).shape == (4, 2)
    assert model.pop() is d2 and len(model) == 1
    with pytest.raises(TypeError, match="Sequential.add expects a layer"):
        model.add(sj.ops.relu)
    with pytest.raises(KeyError, match="no layer named 'zz'"):
        model["zz"]  # noqa: B018


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 3))
    assert len(ml) == 2 and param_names(ml) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(TypeError, match="no forward"):
        ml(sj.randn(1, 2))
    with pytest.raises(TypeError, match="holds Modules"):
        ml.append("x")


def test_registration_errors():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Dense(2)

    with pytest.raises(RuntimeError, match="super"):
        Forgetful()
    net = Net()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        net.scale = net.scale * 2
    net.scale = None  # allowed: removes it
    assert "scale" not in param_names(net)
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(sj.ones(1))


def test_forward_hook_and_output_shape():
    layer = nn.Dense(3, input_dim=2)
    seen = []
    handle = layer.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    layer(sj.randn(5, 2))
    assert seen == [(5, 3)] and layer.output_shape == (5, 3)
    handle.remove()
    layer(sj.randn(1, 2))
    assert len(seen) == 1 and layer.output_shape == (1, 3)


def summary_lines(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def row(lines, name):
    (line,) = [ln for ln in lines if ln.strip().startswith(name + " ")]
    return line.split()


def test_summary_counts():
    reset_names()
    model = nn.Sequential([nn.Dense(64, activation="relu", input_dim=4), nn.Dropout(0.2),
                           nn.Dense(10)])
    lines = summary_lines(model)
    assert lines[0] == 'Model: "sequential"'
    assert row(lines, "dense") == ["dense", "(Dense)", "(None,", "64)", "320"]
    assert row(lines, "dropout") == ["dropout", "(Dropout)", "(None,", "64)", "0"]
    assert row(lines, "dense_1") == ["dense_1", "(Dense)", "(None,", "10)", "650"]
    assert "Total params: 970 (3.79 KB)" in lines
    assert "Trainable params: 970" in lines and "Non-trainable params: 0" in lines
    model[0].trainable = False
    lines = summary_lines(model)
    assert "Trainable params: 650" in lines and "Non-trainable params: 320" in lines
    assert model.training  # the shape probe ran in eval mode and restored the mode


def test_summary_unbuilt_and_input_shape():
    reset_names()
    model = nn.Sequential([nn.Flatten(), nn.Dense(5)])
    lines = summary_lines(model)
    assert row(lines, "flatten") == ["flatten", "(Flatten)", "?", "0"]
    assert row(lines, "dense") == ["dense", "(Dense)", "?", "(unbuilt)"]
    assert any("not built yet" in ln for ln in lines)
    lines = summary_lines(model, input_shape=(2, 3))
    assert row(lines, "flatten") == ["flatten", "(Flatten)", "(None,", "6)", "0"]
    assert row(lines, "dense") == ["dense", "(Dense)", "(None,", "5)", "35"]
    assert "Total params: 35 (140 B)" in lines
    assert not any("not built yet" in ln for ln in lines)


def test_summary_counts_buffers_as_non_trainable_and_own_weights():
    reset_names()
    lines = []
    nn.summary(Net(), print_fn=lines.append)
    # 46 float32 parameters + a float64 buffer of 2 (counted as non-trainable, like Keras)
    assert "Total params: 48 (200 B)" in lines
    assert "Trainable params: 46" in lines and "Non-trainable params: 2" in lines
    assert row(lines, "(own") == ["(own", "weights)", "5"]  # scale (3) + offset (2)
    assert row(lines, "module_list") == ["module_list", "(ModuleList)", "?", "8"]


def test_deepcopy_keeps_structure_and_frozen_weights():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = self.add_weight((2,), "ones")
            self.fixed = self.add_weight((2,), "zeros", trainable=False)

    clone = copy.deepcopy(nn.Sequential([Holder()]))
    assert param_names(clone) == ["layers.0.w", "layers.0.fixed"]
    clone.trainable = False
    clone.trainable = True
    assert [p.requires_grad for p in clone.parameters()] == [True, False]
