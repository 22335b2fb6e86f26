"""No float64 array anywhere in a float32 training step (DESIGN.md rule 4: it halves speed).

Every ``Function`` subclass's ``forward`` and ``backward`` is wrapped for the test: each op
output, each array saved for backward, each gradient handed to an op and each gradient it
returns is checked, then every parameter gradient, buffer and optimizer state array.
"""
import numpy as np
import pytest

import shenjing as sj
from shenjing.autograd import Function
from shenjing.losses import functional as LF
from shenjing.nn import functional as F


class Float64Creep(AssertionError):
    pass


def _arrays(value):
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays(v)
    elif isinstance(value, sj.Tensor):
        yield value.data
    elif hasattr(value, "dtype") and hasattr(value, "shape"):
        yield value


def _check(value, where):
    for a in _arrays(value):
        if a.dtype == np.float64 or a.dtype == np.complex128:
            raise Float64Creep(f"{where}: a {a.dtype} array of shape {a.shape}")


def _function_classes():
    seen, stack = [], [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


def _wrap(cls, name):
    original = cls.__dict__[name]

    def checked(self, *args, **kwargs):
        _check(args, f"{cls.__name__}.{name} input")
        out = original(self, *args, **kwargs)
        _check(out, f"{cls.__name__}.{name} output")
        if name == "forward":
            _check(getattr(self, "saved", None), f"{cls.__name__} saved for backward")
        return out

    return checked


@pytest.fixture
def float64_guard(monkeypatch):
    """Every op's forward and backward checked while the test runs."""
    classes = _function_classes()
    assert len(classes) > 20  # the ops are loaded: the guard sees them
    for cls in classes:
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                monkeypatch.setattr(cls, name, _wrap(cls, name))


def _train(model, loss_fn, x, y, optimizers, steps=2):
    model(x)  # build the lazy layers
    params = list(model.parameters())
    assert params and all(p.dtype == np.float32 for p in params)
    for opt_cls, kwargs in optimizers:
        opt = opt_cls(params, **kwargs)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            _check(loss, "loss")
            loss.backward()
            for p in params:
                assert p.grad is not None
                _check(p.grad, f"gradient of a {p.shape} parameter")
            opt.step()
        for p in params:
            _check(p, f"parameter {p.shape} after {opt_cls.__name__}")
            _check(list(opt.state[p].values()), f"{opt_cls.__name__} state of {p.shape}")
    for name, b in model.named_buffers():
        if np.issubdtype(b.dtype, np.floating):
            _check(b, f"buffer {name}")


OPTIMIZERS = [(sj.optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)),
              (sj.optim.Adam, dict(lr=1e-3, amsgrad=True)),
              (sj.optim.AdamW, dict(lr=1e-3)),
              (sj.optim.RMSprop, dict(lr=1e-3, centered=True, momentum=0.9)),
              (sj.optim.Adagrad, dict(lr=1e-2, lr_decay=0.01))]


def _data(shape, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return (sj.as_tensor(rng.standard_normal(shape).astype(np.float32)),
            sj.as_tensor(rng.integers(0, classes, shape[0])))


def test_mlp(float64_guard):
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Dense(16, activation="relu"), sj.nn.Dropout(0.2),
                              sj.nn.Dense(16, activation="tanh"), sj.nn.Dense(4)])
    x, y = _data((8, 10))
    _train(model, F.cross_entropy, x, y, OPTIMIZERS)


def test_cnn_with_batch_norm(float64_guard):
    sj.manual_seed(0)
    model = sj.nn.Sequential([
        sj.nn.Conv2D(4, 3, padding="same"), sj.nn.BatchNormalization(), sj.nn.ReLU(),
        sj.nn.MaxPooling2D(2), sj.nn.Conv2D(6, 3), sj.nn.ReLU(), sj.nn.Flatten(),
        sj.nn.Dense(4)])
    x, y = _data((4, 1, 8, 8))
    model.train()
    _train(model, F.cross_entropy, x, y, OPTIMIZERS[:2])


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent(float64_guard, cell):
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Embedding(50, 8), getattr(sj.nn, cell)(6),
                              sj.nn.Dense(4)])
    rng = np.random.default_rng(0)
    x = sj.as_tensor(rng.integers(1, 50, (3, 7)))
    y = sj.as_tensor(rng.integers(0, 4, 3))
    _train(model, F.cross_entropy, x, y, OPTIMIZERS[1:3])


def test_transformer_encoder_layer(float64_guard):
    sj.manual_seed(0)
    layer = sj.nn.TransformerEncoderLayer(16, 2, 32, 0.1, batch_first=True)
    rng = np.random.default_rng(0)
    x = sj.as_tensor(rng.standard_normal((2, 5, 16)).astype(np.float32))
    target = sj.as_tensor(rng.standard_normal((2, 5, 16)).astype(np.float32))
    layer.train()
    _train(layer, LF.mse_loss, x, target, OPTIMIZERS[1:3])


def test_resnet_blocks(float64_guard):
    sj.manual_seed(0)
    model = sj.models.resnet_cifar(8, num_classes=4, input_shape=(3, 8, 8))
    model.train()
    x, y = _data((2, 3, 8, 8))
    _train(model, F.cross_entropy, x, y, OPTIMIZERS[:1], steps=1)


@pytest.mark.parametrize("loss", ["huber_loss", "binary_cross_entropy_with_logits",
                                  "smooth_l1_loss", "l1_loss", "mse_loss"])
def test_losses(float64_guard, loss):
    fn = getattr(LF, loss)
    rng = np.random.default_rng(0)
    x = sj.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    t = sj.as_tensor(rng.uniform(0, 1, (4, 3)).astype(np.float32))
    out = fn(x, t)
    _check(out, loss)
    out.backward()


def test_the_guard_catches_a_float64_scalar_in_a_loss(float64_guard):
    """The guard sees a float64 array multiplied in, even when cast back to float32 later
    (NumPy scalars, np.float64(0.5) included, are weak in shenjing: they never upcast)."""
    sj.manual_seed(0)
    model = sj.nn.Sequential([sj.nn.Dense(4)])
    x, y = _data((8, 10))

    def bad_loss(out, y):
        return F.cross_entropy(out * np.full(4, 0.5), y)  # a float64 array promotes

    with pytest.raises(Float64Creep, match="float64"):
        _train(model, bad_loss, x, y, OPTIMIZERS[:1])
    assert (sj.tensor(np.ones(2, np.float32)) * np.float64(0.5)).dtype == np.float32

    def bad_intermediate(out, y):  # cast back to float32 at the end: only the op guard sees it
        return F.cross_entropy((out * sj.as_tensor(np.ones(4))).astype(np.float32), y)

    with pytest.raises(Float64Creep, match="float64"):
        _train(model, bad_intermediate, x, y, OPTIMIZERS[:1])
