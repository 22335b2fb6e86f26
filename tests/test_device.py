"""The device model: sj.device, Tensor.to, Module.to, mixed-device errors, creation with
``device=``, saving from a GPU and loading on the CPU, fit/evaluate/predict on a device.

"cuda" here is the strict NumPy-backed simulation (tests/fake_cupy.py) unless a real GPU
is present (the ``device`` fixture's "cuda" case)."""
import numpy as np
import pytest
import torch
from helpers import assert_close, randn

import shenjing as sj
from shenjing import backend


# ---------------------------------------------------------------------- without CuPy
@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)
    monkeypatch.setattr(backend, "_cupy", backend._UNSET)
    monkeypatch.setattr(backend, "_VALID", {})


def test_cuda_without_cupy_says_how_to_install(no_cupy):
    for call in (lambda: sj.device("cuda"), lambda: sj.tensor([1.0], device="cuda:0"),
                 lambda: sj.ones(2).to("cuda"), lambda: sj.nn.Dense(2).to("cuda")):
        with pytest.raises(RuntimeError, match=r'pip install "shenjing\[gpu\]"'):
            call()
    assert not sj.cuda.is_available() and sj.cuda.device_count() == 0
    sj.cuda.synchronize()
    sj.cuda.reset_peak_memory_stats()
    assert sj.cuda.max_memory_allocated() == 0 and sj.cuda.memory_allocated() == 0


def test_cupy_without_a_gpu_is_a_clear_error(fake_cuda, monkeypatch):
    monkeypatch.setattr(fake_cuda.cuda.runtime, "getDeviceCount", lambda: 0)
    monkeypatch.setattr(backend, "_VALID", {})
    with pytest.raises(RuntimeError, match="CuPy is installed but sees no CUDA GPU"):
        sj.device("cuda")
    assert not sj.cuda.is_available()


def test_device_names():
    d = sj.device("cpu")
    assert d == "cpu" and str(d) == "cpu" and d.type == "cpu" and d.index is None
    assert hash(d) == hash(sj.device(d)) and {d: 1}[sj.device("cpu")] == 1
    for bad in ("tpu", "cuda:x", "cpu:0", -1, 2.5):
        with pytest.raises(ValueError, match="cuda:N"):
            sj.device(bad)
    assert sj.ones(2).device == "cpu" and isinstance(sj.ones(2).device, sj.Device)


def test_cuda_device_names_and_bounds(fake_cuda):
    d = sj.device("cuda")
    assert d == "cuda:0" and d == sj.device(0) and str(d) == "cuda:0" and d.index == 0
    assert d != "cpu" and sj.cuda.is_available() and sj.cuda.device_count() == 1
    with pytest.raises(RuntimeError, match=r"CuPy sees 1 GPU\(s\), cuda:0 to cuda:0"):
        sj.device("cuda:3")


# ---------------------------------------------------------------------- tensors
def test_tensor_to_and_back_keeps_the_gradient_flowing(device):
    x = sj.tensor(randn(3, 4), requires_grad=True)
    y = x.to(device)
    assert y.device == device and x.device == "cpu"
    z = (y * y).sum().cpu()
    assert z.device == "cpu"
    z.backward()
    assert x.grad.device == "cpu"
    assert_close(x.grad.numpy(), 2 * randn(3, 4))
    assert x.to("cpu") is x and y.to(device) is y  # nothing to do: the same tensor


def test_to_casts_and_moves_at_once(device):
    x = sj.tensor(randn(2, 2), requires_grad=True)
    y = x.to(device, "float64")
    assert y.dtype == np.float64 and y.device == device
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.device == "cpu"
    assert x.to(sj.float64).device == "cpu"


def test_mixing_devices_names_both_and_the_op(device):
    if device == "cpu":
        pytest.skip("one device")
    a, b = sj.ones(2, device=device), sj.ones(2)
    with pytest.raises(RuntimeError, match=r"Add got inputs on different devices: input 0 "
                                           r"is on cuda:0, input 1 is on cpu"):
        a + b
    with pytest.raises(RuntimeError, match="MatMul.*input 1 is on cuda:0"):
        sj.ones(2, 2) @ sj.ones(2, 2, device=device)


def test_creation_functions_take_a_device(device):
    sj.manual_seed(3)
    ours = sj.randn(4, 5, device=device)
    sj.manual_seed(3)
    host = sj.randn(4, 5)
    np.testing.assert_array_equal(ours.numpy(), host.numpy())  # seeded: same on any device
    made = [sj.zeros(2, device=device), sj.ones(2, 3, device=device),
            sj.full((2,), 7, device=device), sj.arange(5, device=device),
            sj.eye(3, device=device), sj.rand(2, device=device), sj.empty(2, device=device),
            sj.randint(0, 5, (3,), device=device), sj.normal(size=3, device=device),
            sj.uniform(size=3, device=device), sj.linspace(0, 1, 4, device=device),
            sj.tensor([[1, 2]], device=device), sj.as_tensor(np.ones(3), device=device),
            sj.zeros_like(ours), sj.ones_like(ours), sj.full_like(ours, 2.0)]
    assert all(t.device == device for t in made)
    assert sj.zeros_like(ours, device="cpu").device == "cpu"
    assert repr(ours).endswith(f"device='{ours.device}')") == (device != "cpu")


def test_setitem_and_backward_with_host_values(device):
    x = sj.zeros(2, 3, device=device)
    x[0] = np.arange(3.0)  # a host array: copied onto x's device
    assert x.device == device and x.numpy()[0].tolist() == [0.0, 1.0, 2.0]
    w = sj.tensor(randn(2, 3), requires_grad=True, device=device)
    (w * 3).backward(np.ones((2, 3), np.float32))  # a host upstream gradient
    assert w.grad.device == device and np.all(w.grad.numpy() == 3)


# ---------------------------------------------------------------------- modules
def _cnn():
    return sj.Sequential([sj.nn.Conv2D(6, 3, padding="same", activation="relu",
                                       input_shape=(1, 8, 8)),
                          sj.nn.MaxPooling2D(2), sj.nn.BatchNormalization(axis=1, momentum=0.8),
                          sj.nn.Flatten(), sj.nn.Dropout(0.2),
                          sj.nn.Dense(10, activation="softmax")])


def test_module_to_moves_parameters_and_buffers_in_place(device):
    model = _cnn()
    params = list(model.parameters())
    assert model.to(device) is model and model.device == device
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(t.device == device for _, t, _ in model._walk())  # buffers too
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    model.to("cpu").load_state_dict(state)
    model.to(device).load_state_dict(state)  # onto the device each parameter is on
    assert all(t.device == device for _, t, _ in model._walk())
    lazy = sj.nn.Dense(3).to(device)  # built later: weights made on the module's device
    assert lazy(sj.ones(2, 4, device=device)).device == device
    assert lazy.kernel.device == device


def test_saved_on_the_gpu_loads_on_the_cpu_and_back(device, tmp_path):
    x, y = _digits(64)
    sj.manual_seed(0)
    model = _cnn()
    model.compile(optimizer=sj.optim.Adam(lr=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, device=device)
    want = model.predict(x, device=device)
    assert type(want) is np.ndarray
    path = model.save(tmp_path / "m.safetensors")
    on_cpu = sj.load_model(path)
    assert on_cpu.device == "cpu"
    np.testing.assert_allclose(on_cpu.predict(x), want, rtol=1e-5, atol=1e-6)
    back = sj.load_model(path)
    np.testing.assert_allclose(back.predict(x, device=device), want, rtol=1e-5, atol=1e-6)
    back.fit(x, y, epochs=2, initial_epoch=1, batch_size=32, verbose=0, device=device)
    sj.io.save_weights(back, tmp_path / "w.safetensors")
    on_cpu.load_weights(tmp_path / "w.safetensors")
    assert_close(on_cpu.predict(x), back.predict(x), atol=1e-5)


# ---------------------------------------------------------------------- training
def _digits(n=None):
    from sklearn.datasets import load_digits  # noqa: PLC0415

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return (x, d.target) if n is None else (x[:n], d.target[:n])


def _train_digits(device):
    x, y = _digits()
    sj.manual_seed(0)
    model = _cnn()
    model.compile(optimizer=sj.optim.Adam(lr=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x[:1400], y[:1400], epochs=8, batch_size=32, verbose=0, device=device,
                     validation_data=(x[1400:], y[1400:]))
    return model, hist, model.evaluate(x[1400:], y[1400:], return_dict=True, device=device)


@pytest.mark.usefixtures("one_blas_thread")
def test_digits_cnn_trains_on_the_device_like_on_the_cpu(device):
    model, hist, logs = _train_digits(device)
    assert model.device == device and logs["accuracy"] > 0.9, logs
    assert all(isinstance(v, float) for v in logs.values())
    assert all(isinstance(v, float) for vs in hist.history.values() for v in vs)
    if device == "cpu":
        return
    cpu_model, cpu_hist, cpu_logs = _train_digits("cpu")
    tol = 0 if device != "cpu" and not sj.cuda.is_available() else 1e-3  # fake: NumPy math
    for k, v in cpu_logs.items():
        assert abs(logs[k] - v) <= tol + (0.01 if tol else 0), (k, logs[k], v)
    if tol == 0:  # the simulation computes with NumPy: bit for bit
        assert hist.history == cpu_hist.history
        for a, b in zip(model.state_dict().values(), cpu_model.state_dict().values()):
            np.testing.assert_array_equal(a, b)


def test_train_on_batch_and_predict_on_batch_follow_the_model(device):
    x, y = _digits(32)
    model = _cnn().to(device)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.train_on_batch(x, y), float)
    assert isinstance(model.test_on_batch(x, y), float)
    assert model.predict_on_batch(x).shape == (32, 10)


OPTIMIZERS = {
    "sgd": (lambda p: sj.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "adam": (lambda p: sj.optim.Adam(p, lr=0.01, weight_decay=0.1),
             lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
    "adamw": (lambda p: sj.optim.AdamW(p, lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "rmsprop": (lambda p: sj.optim.RMSprop(p, lr=0.01, momentum=0.5),
                lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5)),
    "adagrad": (lambda p: sj.optim.Adagrad(p, lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_on_the_device_match_torch(name, device):
    make, make_torch = OPTIMIZERS[name]
    w0 = randn(4, 3)
    w = sj.nn.Parameter(sj.tensor(w0, device=device))
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = make([w]), make_torch([tw])
    for step in range(4):
        g = randn(4, 3, seed=10 + step)
        w.grad = sj.tensor(g, device=device)
        tw.grad = torch.tensor(g)
        opt.step()
        topt.step()
    assert w.device == device
    assert_close(w.numpy(), tw.detach().numpy(), atol=1e-5, what=name)
    state = opt.state_dict()["state"][0]
    assert all(backend.device_of(v) == device for v in state.values()
               if hasattr(v, "shape"))


LOSSES = {
    "cross_entropy": (lambda p, t: sj.nn.functional.cross_entropy(p, t), "labels"),
    "mse": (lambda p, t: sj.losses.MeanSquaredError()(t, p), "values"),
    "bce_logits": (lambda p, t: sj.losses.BinaryCrossentropy(from_logits=True)(t, p), "binary"),
    "huber": (lambda p, t: sj.losses.Huber()(t, p), "values"),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_on_the_device_match_the_cpu(name, device):
    fn, kind = LOSSES[name]
    p = randn(6, 4)
    t = {"labels": np.arange(6) % 4, "values": randn(6, 4, seed=2),
         "binary": (randn(6, 4, seed=3) > 0).astype(np.float32)}[kind]
    results = []
    for dev in ("cpu", device):
        pt = sj.tensor(p, requires_grad=True, device=dev)
        loss = fn(pt, sj.tensor(t, device=dev))
        assert loss.device == dev
        loss.backward()
        assert pt.grad.device == dev
        results.append((loss.item(), pt.grad.numpy()))
    assert_close(results[1][0], results[0][0], what="loss")
    assert_close(results[1][1], results[0][1], what="gradient")


def test_cli_device_flag(no_cupy, tmp_path, capsys):
    from shenjing.cli import main  # noqa: PLC0415

    args = ["--device", "cuda", "--out", str(tmp_path), "--verbose", "0"]
    assert main(["train", "iris-mlp", *args]) == 1
    assert 'pip install "shenjing[gpu]"' in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "model.safetensors"), "--device", "cuda"]) == 1
    assert 'pip install "shenjing[gpu]"' in capsys.readouterr().err


def test_cli_evaluates_on_the_device(fake_cuda, tmp_path, capsys):
    from shenjing.cli import main  # noqa: PLC0415

    assert main(["train", "iris-mlp", "--epochs", "2", "--out", str(tmp_path),
                 "--verbose", "0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "model.safetensors"), "--device", "cuda"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_dropout_masks_are_drawn_on_the_device_and_repeat_with_the_seed(device):
    x = sj.ones(64, 128, device=device)

    def masked():
        sj.manual_seed(5)
        a = sj.nn.functional.dropout(x, 0.25, training=True)
        b = sj.nn.functional.dropout(x, 0.25, training=True)
        return a, b

    (a, b), (a2, _) = masked(), masked()
    assert a.device == device
    values = a.numpy()
    assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((values == 0).mean() - 0.25) < 0.02            # P(drop) = p
    np.testing.assert_array_equal(values, a2.numpy())         # manual_seed repeats the masks
    assert not np.array_equal(values, b.numpy())              # successive draws differ


def test_device_generator_follows_the_host_generator(fake_cuda):
    from shenjing import random

    cp = backend.cupy_module(load=True)
    sj.manual_seed(1)
    first = random.device_generator(cp)
    assert random.device_generator(cp) is first                # kept while the host one is
    sj.manual_seed(1)
    again = random.device_generator(cp)
    assert again is not first                                  # re-made: a new host generator
    sj.manual_seed(1)
    u1 = random.device_generator(cp).random((3,), dtype=np.float32).get()
    sj.manual_seed(1)
    u2 = random.device_generator(cp).random((3,), dtype=np.float32).get()
    np.testing.assert_array_equal(u1, u2)                      # seeded: the same stream
    assert random.device_generator(np) is random.generator()   # the CPU: the host generator


def test_the_simulation_refuses_implicit_device_to_host_conversion(fake_cuda):
    """As real CuPy: numpy.asarray(device array) is an error; .numpy() / to_numpy are the
    explicit copies (so CI catches a stray np.asarray on device data)."""
    x = sj.ones(3, device="cuda")
    for convert in (np.asarray, np.array, np.ascontiguousarray):
        with pytest.raises(TypeError, match="implicit conversion"):
            convert(x.data)
    np.testing.assert_array_equal(x.numpy(), np.ones(3, np.float32))
    assert type(backend.to_numpy(x.data)) is np.ndarray
