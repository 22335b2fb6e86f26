"""Layer freezing (``layer.trainable = False``), Keras semantics: no optimizer moves a frozen
weight (momentum, weight decay and all), gradients still flow through it, a frozen
BatchNormalization runs in inference mode, freezing between fits takes effect, and
``summary()`` counts trainable / non-trainable weights."""
import numpy as np
import pytest
import torch
from helpers import assert_close, randn

import shenjing as sj
from shenjing import Sequential
from shenjing.nn import BatchNormalization, Dense

X = randn(32, 4, seed=1)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
CE = sj.losses.SparseCategoricalCrossentropy(from_logits=True)


def _mlp(**kw):
    sj.manual_seed(0)
    model = Sequential([Dense(8, input_dim=4, activation="relu", **kw), Dense(2)])
    model(sj.tensor(X))                      # build the second layer before binding
    return model


def _snapshot(layer):
    return [p.numpy().copy() for p in layer.parameters()]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _steps(model, opt, n):
    for _ in range(n):
        loss = CE(sj.tensor(Y), model(sj.tensor(X)))
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda p: sj.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda p: sj.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1, clipnorm=0.5),
    lambda p: sj.optim.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True),
    lambda p: sj.optim.AdamW(p, lr=0.01, weight_decay=0.5, global_clipnorm=1.0),
    lambda p: sj.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    lambda p: sj.optim.Adagrad(p, lr=0.1, weight_decay=0.1),
], ids=["sgd-nesterov", "sgd-clipnorm", "adam-amsgrad", "adamw", "rmsprop", "adagrad"])
def test_frozen_weights_never_move_with_any_optimizer(make):
    model = _mlp()
    opt = make(model.parameters())
    _steps(model, opt, 3)            # momentum / moment state now non-zero for every weight
    assert all(opt.state[p] for p in model.parameters())
    model[0].trainable = False
    frozen, live = _snapshot(model[0]), _snapshot(model[1])
    _steps(model, opt, 3)
    assert _same(_snapshot(model[0]), frozen)
    assert not _same(_snapshot(model[1]), live)
    assert all(p.grad is None for p in model[0].parameters())


def test_gradients_flow_through_a_frozen_layer():
    sj.manual_seed(1)
    model = Sequential([Dense(6, input_dim=4, activation="tanh"),
                        Dense(5, activation="tanh", trainable=False), Dense(2)])
    loss = CE(sj.tensor(Y), model(sj.tensor(X)))
    loss.backward()
    assert model[1].kernel.grad is None and model[1].bias.grad is None
    k1, b1, k2, b2, k3, b3 = (torch.tensor(p.numpy()) for p in model.parameters())
    k1.requires_grad_(), b1.requires_grad_()
    h = torch.tanh(torch.tanh(torch.tensor(X) @ k1 + b1) @ k2 + b2)
    torch.nn.functional.cross_entropy(h @ k3 + b3, torch.tensor(Y)).backward()
    assert_close(model[0].kernel.grad.numpy(), k1.grad.numpy(), atol=1e-6)
    assert_close(model[0].bias.grad.numpy(), b1.grad.numpy(), atol=1e-6)


def test_lazy_layer_frozen_before_build():
    layer = Dense(3, trainable=False)
    layer(sj.randn(2, 5))
    assert not any(p.requires_grad for p in layer.parameters())
    assert list(Sequential([layer]).trainable_parameters()) == []


def _bn_model():
    sj.manual_seed(2)
    return Sequential([Dense(8, input_dim=4), BatchNormalization(), Dense(2)])


def test_frozen_batch_normalization_in_fit_uses_and_keeps_moving_statistics():
    model = _bn_model()
    model.compile(sj.optim.SGD(lr=0.1, momentum=0.9), CE)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    bn = model[1]
    stats = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]
    assert not np.allclose(stats[0], 0)              # the first fit updated them
    bn.trainable = False
    frozen = _snapshot(bn)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    assert _same([bn.moving_mean.numpy(), bn.moving_variance.numpy()], stats)
    assert _same(_snapshot(bn), frozen)              # gamma, beta untouched
    model.train()                                    # training mode: still inference BN
    y_train = model(sj.tensor(X)).numpy()
    model.eval()
    np.testing.assert_allclose(y_train, model(sj.tensor(X)).numpy(), rtol=1e-6)


def test_freezing_between_fits_takes_effect_without_recompiling():
    model = _mlp()
    model.compile(sj.optim.Adam(lr=0.01), CE)
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    model[0].trainable = False
    first = _snapshot(model[0])
    second = _snapshot(model[1])
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert _same(_snapshot(model[0]), first)
    assert not _same(_snapshot(model[1]), second)
    model[0].trainable = True                        # unfreezing works the same way
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert not _same(_snapshot(model[0]), first)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return {k: int(v.split()[0].replace(",", "")) for k, v in
            (line.split(": ", 1) for line in lines if "params:" in line)}


def test_summary_counts_trainable_and_non_trainable():
    model = _bn_model()
    # Dense 4·8+8 = 40, BN gamma/beta 16 + moving stats 16, Dense 8·2+2 = 18
    model(sj.tensor(X))
    assert _summary(model) == {"Total params": 90, "Trainable params": 74,
                               "Non-trainable params": 16}
    model[1].trainable = False
    assert _summary(model) == {"Total params": 90, "Trainable params": 58,
                               "Non-trainable params": 32}
    model[0].trainable = False
    assert _summary(model)["Trainable params"] == 18
    model.trainable = False
    assert _summary(model) == {"Total params": 90, "Trainable params": 0,
                               "Non-trainable params": 90}
    model.trainable = True
    assert _summary(model)["Trainable params"] == 74
