"""sj.regularizers: penalty values, get/serialize, layer arguments, gradients against torch
with the same penalty written by hand, frozen layers, and a manual training loop."""
import numpy as np
import pytest
import torch
from helpers import assert_close, randn

import shenjing as sj
from shenjing import regularizers as R
from shenjing.nn import GRU, LSTM, Conv2D, Dense, Embedding, Sequential, SimpleRNN

W = randn(5, 4, seed=3)


# ---------------------------------------------------------------- the penalties

@pytest.mark.parametrize("reg, expected", [
    (R.L1(0.1), 0.1 * np.abs(W).sum()),
    (R.L2(0.1), 0.1 * (W ** 2).sum()),                       # Keras 3: no 1/2
    (R.L1L2(l1=0.2, l2=0.3), 0.2 * np.abs(W).sum() + 0.3 * (W ** 2).sum()),
    (R.L1L2(), 0.0),
    (R.get("l1"), 0.01 * np.abs(W).sum()),
    (R.get("l2"), 0.01 * (W ** 2).sum()),
])
def test_penalty_values(reg, expected):
    value = reg(sj.tensor(W))
    assert value.shape == () and value.dtype == np.float32
    assert_close(value.item(), expected, rtol=1e-5)


def _orthogonal_numpy(w, factor, mode):
    v = w if mode == "rows" else w.T
    v = v / np.sqrt(np.maximum((v ** 2).sum(1, keepdims=True), 1e-12))
    p = np.abs(v @ v.T) * (1 - np.eye(len(v)))
    return factor * 0.5 * p.sum() / (len(v) * (len(v) - 1) / 2)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer(mode):
    reg = R.OrthogonalRegularizer(factor=0.3, mode=mode)
    assert_close(reg(sj.tensor(W)).item(), _orthogonal_numpy(W.astype(np.float64), 0.3, mode),
                 rtol=1e-5)
    assert R.OrthogonalRegularizer(1.0)(sj.eye(4)).item() == 0.0
    with pytest.raises(ValueError, match="2-D"):
        reg(sj.ones((2, 2, 2)))


def test_get_serialize_round_trip_and_errors():
    assert R.get(None) is None
    assert R.get("l2") == R.L2(0.01) and R.get("L1") == R.L1(0.01)
    assert R.get("l1_l2") == R.L1L2(0.0, 0.0)               # Keras 3 defaults
    assert R.l2 is R.L2 and R.l1_l2 is R.L1L2
    for reg in (R.L1(0.5), R.L2(1e-4), R.L1L2(0.1, 0.2), R.OrthogonalRegularizer(0.1, "columns")):
        config = R.serialize(reg)
        assert config["class_name"] == type(reg).__name__
        assert R.get(config) == reg and R.deserialize(config) == reg
    assert R.serialize(None) is None
    assert repr(R.L2(0.5)) == "L2(l2=0.5)"
    fn = lambda w: sj.sum(w)  # noqa: E731  (any callable works)
    assert R.get(fn) is fn
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        R.get("l3")
    with pytest.raises(TypeError, match="a regularizer must be"):
        R.get(3)
    with pytest.raises(ValueError, match=">= 0"):
        R.L2(-1.0)
    with pytest.raises(ValueError, match="mode"):
        R.OrthogonalRegularizer(mode="diagonal")


def test_custom_subclass_deserializes_by_name():
    class Twice(R.Regularizer):
        def __init__(self, k=1.0):
            self.k = k

        def __call__(self, x):
            return self.k * sj.sum(x)

        def get_config(self):
            return {"k": self.k}

    reg = R.get(R.serialize(Twice(2.0)))
    assert isinstance(reg, Twice) and reg.k == 2.0


# ---------------------------------------------------------------- layers: gradients vs torch

def _sj_total(model, x, y):
    logits = model(sj.tensor(x))
    data = sj.losses.SparseCategoricalCrossentropy(from_logits=True)(sj.tensor(y), logits)
    reg = model.regularization_loss()
    return data + reg, reg


def test_dense_gradients_match_torch_with_hand_written_penalty():
    x, y = randn(6, 4, seed=1), np.array([0, 1, 2, 1, 0, 2])
    model = Sequential([
        Dense(5, input_dim=4, activation="relu", kernel_regularizer=R.L2(0.05),
              bias_regularizer=R.L1(0.02), activity_regularizer=R.L1L2(0.01, 0.03)),
        Dense(3, kernel_regularizer=R.L1L2(l1=0.01, l2=0.02)),
    ])
    model(sj.tensor(x))                                # build the second layer
    for layer in model:
        layer.bias.data[...] = randn(*layer.bias.shape, seed=7)
    total, reg = _sj_total(model, x, y)
    total.backward()

    k1, b1, k2, b2 = (torch.tensor(p.numpy(), requires_grad=True) for p in model.parameters())
    h = torch.relu(torch.tensor(x) @ k1 + b1)
    logits = h @ k2 + b2
    penalty = (0.05 * (k1 ** 2).sum() + 0.02 * b1.abs().sum()
               + (0.01 * h.abs().sum() + 0.03 * (h ** 2).sum()) / 6   # activity / batch
               + 0.01 * k2.abs().sum() + 0.02 * (k2 ** 2).sum())
    t_total = torch.nn.functional.cross_entropy(logits, torch.tensor(y)) + penalty
    t_total.backward()
    assert_close(reg.item(), penalty.item(), rtol=1e-5)
    assert_close(total.item(), t_total.item(), rtol=1e-5)
    for p, t in zip(model.parameters(), (k1, b1, k2, b2)):
        assert_close(p.grad.numpy(), t.grad.numpy(), atol=1e-6)


def test_conv2d_kernel_regularizer_matches_torch():
    x = randn(2, 3, 6, 6, seed=2)
    conv = Conv2D(4, 3, kernel_regularizer=R.L1L2(0.01, 0.1), bias_regularizer="l2")
    out = conv(sj.tensor(x))
    (out.sum() * 0.1 + conv.regularization_loss()).backward()
    tc = torch.nn.Conv2d(3, 4, 3)
    with torch.no_grad():
        tc.weight.copy_(torch.tensor(conv.kernel.numpy()))
        tc.bias.copy_(torch.tensor(conv.bias.numpy()))
    w = tc.weight
    t = (tc(torch.tensor(x)).sum() * 0.1 + 0.01 * w.abs().sum() + 0.1 * (w ** 2).sum()
         + 0.01 * (tc.bias ** 2).sum())
    t.backward()
    assert_close(conv.kernel.grad.numpy(), w.grad.numpy(), atol=1e-5)
    assert_close(conv.bias.grad.numpy(), tc.bias.grad.numpy(), atol=1e-5)


@pytest.mark.parametrize("cls, tcls", [(SimpleRNN, torch.nn.RNN), (LSTM, torch.nn.LSTM),
                                       (GRU, torch.nn.GRU)])
def test_recurrent_regularizers_match_torch(cls, tcls):
    x = randn(2, 5, 3, seed=4)
    torch.manual_seed(0)
    tl = tcls(3, 4, batch_first=True)
    layer = cls(4, kernel_regularizer=R.L2(0.1), recurrent_regularizer=R.L1(0.05),
                bias_regularizer=R.L2(0.2)).load_torch_weights(tl)
    (layer(sj.tensor(x)).sum() + layer.regularization_loss()).backward()
    out = tl(torch.tensor(x))[0][:, -1]
    penalty = (0.1 * (tl.weight_ih_l0 ** 2).sum() + 0.05 * tl.weight_hh_l0.abs().sum()
               + 0.2 * ((tl.bias_ih_l0 ** 2).sum() + (tl.bias_hh_l0 ** 2).sum()))
    (out.sum() + penalty).backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert_close(getattr(layer, name).grad.numpy(), getattr(tl, name + "_l0").grad.numpy(),
                     atol=1e-5, what=name)


def test_embedding_regularizer_matches_torch():
    ids = np.array([[1, 2, 2], [0, 4, 1]])
    emb = Embedding(6, 3, embeddings_regularizer=R.L2(0.5), activity_regularizer=R.L1(0.1))
    out = emb(sj.tensor(ids))
    (out.sum() + emb.regularization_loss()).backward()
    w = torch.tensor(emb.embeddings.numpy(), requires_grad=True)
    t_out = w[torch.tensor(ids)]
    (t_out.sum() + 0.5 * (w ** 2).sum() + 0.1 * t_out.abs().sum() / 2).backward()
    assert_close(emb.embeddings.grad.numpy(), w.grad.numpy(), atol=1e-6)


# ---------------------------------------------------------------- losses, freezing, configs

def test_losses_list_and_none_without_regularizers():
    plain = Sequential([Dense(3, input_dim=2), Dense(1)])
    assert plain.losses == [] and plain.regularization_loss() is None
    model = Sequential([Dense(3, input_dim=2, kernel_regularizer="l2",
                              activity_regularizer="l1"), Dense(1, bias_regularizer="l1")])
    assert len(model.losses) == 1           # no forward yet: no activity penalty, 2nd unbuilt
    model(sj.randn(4, 2))
    losses = model.losses
    assert len(losses) == 3 and all(isinstance(v, sj.Tensor) and v.shape == () for v in losses)
    assert_close(model.regularization_loss().item(), sum(v.item() for v in losses), rtol=1e-6)
    assert len(model[0].losses) == 2 and len(model[1].losses) == 1


def test_activity_penalty_is_per_sample_and_kept_from_last_forward():
    layer = Dense(2, input_dim=2, kernel_initializer="ones", activity_regularizer=R.L1(1.0))
    layer(sj.ones((4, 2)))
    assert_close(layer.losses[0].item(), 4.0)          # Σ|y| = 4 samples · 2 · 2, / 4
    layer(sj.ones((1, 2)) * 3)
    assert_close(layer.losses[0].item(), 12.0)         # replaced, not accumulated
    with sj.no_grad():
        layer(sj.ones((2, 2)))
    assert_close(layer.losses[0].item(), 4.0)


def test_frozen_layers_contribute_no_weight_penalty():
    model = Sequential([Dense(3, input_dim=2, kernel_regularizer="l2"),
                        Dense(1, kernel_regularizer="l2", activity_regularizer="l2")])
    model(sj.randn(4, 2))
    assert len(model.losses) == 3
    model[0].trainable = False
    assert len(model.losses) == 2                      # Keras: trainable_weights only
    model.trainable = False                            # the activity penalty stays (Keras)
    assert len(model.losses) == 1
    model.trainable = True
    assert len(model.losses) == 3


def test_add_weight_regularizer_in_custom_module():
    class Scale(sj.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = self.add_weight((3,), "ones", regularizer=R.L1(2.0))
            self.fixed = self.add_weight((3,), "ones", trainable=False, regularizer="l2")

        def forward(self, x):
            return x * self.gain

    m = Scale()
    assert [v.item() for v in m.losses] == [6.0]       # the non-trainable weight adds nothing
    m.gain = sj.nn.Parameter(np.zeros(3, np.float32))  # replaced: its old penalty is gone
    assert m.losses == []


@pytest.mark.parametrize("layer", [
    Dense(3, kernel_regularizer=R.L2(0.1), activity_regularizer="l1"),
    Conv2D(2, 3, bias_regularizer=R.L1L2(0.1, 0.2)),
    LSTM(4, recurrent_regularizer=R.OrthogonalRegularizer(0.5)),
    Embedding(5, 2, embeddings_regularizer="l2"),
])
def test_configs_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    for key in R._CONFIG_KEYS:
        if hasattr(layer, key):
            assert key in config and getattr(clone, key) == getattr(layer, key)


def test_bidirectional_copies_regularizers():
    bi = sj.nn.Bidirectional(GRU(3, kernel_regularizer=R.L2(0.1)))
    bi(sj.randn(2, 4, 5))
    assert len(bi.losses) == 2
    assert bi.forward_layer.kernel_regularizer == R.L2(0.1)


def test_manual_training_loop_shrinks_weights():
    x, y = randn(64, 8, seed=5), (randn(64, seed=6) > 0).astype(np.int64)

    def train(reg):
        sj.manual_seed(0)
        model = Sequential([Dense(16, input_dim=8, activation="relu", kernel_regularizer=reg),
                            Dense(2, kernel_regularizer=reg)])
        opt = sj.optim.SGD(model.parameters(), lr=0.1)
        criterion = sj.losses.SparseCategoricalCrossentropy(from_logits=True)
        for _ in range(30):
            loss = criterion(sj.tensor(y), model(sj.tensor(x)))
            if model.regularization_loss() is not None:
                loss = loss + model.regularization_loss()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return sum(float((p.numpy() ** 2).sum()) for p in model.parameters() if p.ndim == 2)

    plain, shrunk = train(None), train(R.L2(0.05))
    assert shrunk < 0.8 * plain


def test_regularizers_survive_save_and_load(tmp_path):
    model = sj.Sequential([Dense(8, input_dim=4, kernel_regularizer=R.L2(0.1),
                                 activity_regularizer="l1"), Dense(3, bias_regularizer="l1")])
    x = sj.randn(5, 4)
    model(x)
    sj.io.save_model(model, str(tmp_path / "model.sj"))
    loaded = sj.io.load_model(str(tmp_path / "model.sj"))
    assert loaded[0].kernel_regularizer == R.L2(0.1) and loaded[1].bias_regularizer == R.L1()
    loaded(x)
    assert_close(loaded.regularization_loss().item(), model.regularization_loss().item())


def test_fit_adds_the_penalty_to_the_loss_and_logs_it_separately():
    import shenjing as sj

    sj.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)).astype("float32"), rng.integers(0, 3, 64)
    model = sj.Sequential([sj.nn.Dense(3, input_dim=5,
                                       kernel_regularizer=sj.regularizers.l2(0.1))])
    model.compile("sgd", sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False)
    assert "regularization_loss" in history.history
    # one full batch: the logged loss is data loss + 0.1 * sum(W²) on the weights before the step
    assert history.history["regularization_loss"][0] > 0
    logs = model.evaluate(x, y, return_dict=True)
    w = model.layers[0].kernel.data.astype("float64")
    penalty = 0.1 * float((w ** 2).sum())
    assert logs["regularization_loss"] == pytest.approx(penalty, rel=1e-5)
    data_loss = sj.losses.SparseCategoricalCrossentropy(from_logits=True)(
        sj.tensor(y), sj.tensor(model.predict(x))).item()
    assert logs["loss"] == pytest.approx(data_loss + penalty, rel=1e-5)
    assert model.evaluate(x, y) == pytest.approx(logs["loss"])  # the list form leaves it out


def test_sequential_frozen_at_construction_freezes_its_layers():
    import shenjing as sj

    model = sj.Sequential([sj.nn.Dense(3, input_dim=2)], trainable=False)
    model.add(sj.nn.Dense(2))
    assert not any(layer.trainable for layer in model.layers)
