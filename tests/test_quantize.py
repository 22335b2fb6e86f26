"""sj.quantize: dynamic int8 Dense layers (against a float64 reference of the same formula and
against the float model on the 8x8 digits) and magnitude pruning with fine-tuning."""
import copy

import numpy as np
import pytest
import torch
from helpers import randn

import shenjing as sj
from shenjing.nn import Dense, Linear
from shenjing.quantize import (
    KeepPruned,
    QuantizedDense,
    apply_masks,
    dynamic_int8,
    model_size,
    prune_magnitude,
    quantize_weight,
    sparsity,
)

# ---------------------------------------------------------------- the arithmetic

def test_quantize_weight_per_output_channel():
    w = randn(20, 6, seed=1)
    w[:, 3] = 0.0                                             # an all-zero column
    q, s = quantize_weight(w)
    assert q.dtype == np.int8 and s.dtype == np.float32 and s.shape == (6,)
    np.testing.assert_allclose(s[[0, 1, 2, 4, 5]], np.abs(w).max(0)[[0, 1, 2, 4, 5]] / 127,
                               rtol=1e-6)
    assert np.abs(q).max() == 127 and (q[:, 3] == 0).all()
    assert (np.abs(q.astype(np.float32) * s - w) <= s / 2 + 1e-7).all()  # round to nearest


def _reference(x, layer):
    """The documented formula in float64: dequantized inputs times dequantized weights."""
    w = layer.kernel.numpy().astype(np.float64)
    sw = np.abs(w).max(0) / 127
    wq = np.clip(np.rint(w / sw), -127, 127)
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    sx = (hi - lo) / 255
    z = round(-lo / sx)
    xq = np.clip(np.rint(x / sx) + z, 0, 255)
    return ((xq - z) * sx) @ (wq * sw) + layer.bias.numpy()


@pytest.mark.parametrize("shift", [0.0, 3.0, -3.0])       # mixed, all positive, all negative
def test_quantized_dense_matches_the_formula_and_the_float_layer(shift):
    sj.manual_seed(0)
    layer = Dense(7, input_dim=12)
    layer.bias.data[...] = randn(7, seed=2)
    x = randn(9, 12, seed=3) + np.float32(shift)
    q = QuantizedDense.from_float(layer).eval()
    y = q(sj.tensor(x)).numpy()
    assert y.dtype == np.float32 and y.shape == (9, 7)
    np.testing.assert_allclose(y, _reference(x.astype(np.float64), layer), rtol=1e-5, atol=1e-5)
    y_float = layer(sj.tensor(x)).numpy()
    assert np.abs(y - y_float).max() < 0.02 * np.abs(y_float).max()


def test_linear_and_sequences_and_activation():
    torch.manual_seed(0)
    tl = torch.nn.Linear(5, 3)
    layer = Linear(5, 3)
    layer.weight.data[...] = tl.weight.detach().numpy()
    layer.bias.data[...] = tl.bias.detach().numpy()
    x = randn(2, 4, 5, seed=4)                                 # (batch, time, features)
    y = QuantizedDense.from_float(layer).eval()(sj.tensor(x)).numpy()
    expected = tl(torch.tensor(x)).detach().numpy()
    assert y.shape == (2, 4, 3)
    assert np.abs(y - expected).max() < 0.02 * np.abs(expected).max()
    relu = QuantizedDense.from_float(Dense(4, input_dim=5, activation="relu")).eval()
    assert (relu(sj.tensor(x)).numpy() >= 0).all()


def test_quantized_dense_is_inference_only():
    q = QuantizedDense.from_float(Dense(3, input_dim=2))
    x = sj.randn(4, 2)
    with pytest.raises(RuntimeError, match="inference-only.*model.eval"):
        q(x)                                                   # training mode
    q.eval()
    with pytest.raises(RuntimeError, match="no gradient"):
        q(sj.randn(4, 2, requires_grad=True))
    with pytest.raises(ValueError, match="expects inputs with 2 features"):
        q(sj.randn(4, 3))
    with pytest.raises(ValueError, match="not built"):
        QuantizedDense.from_float(Dense(3))
    with pytest.raises(TypeError, match="Dense or Linear"):
        QuantizedDense.from_float(sj.nn.Conv2D(2, 3))


def test_dynamic_int8_replaces_nested_layers_in_a_copy():
    class Net(sj.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = sj.nn.Sequential([Dense(8, input_dim=4, activation="relu"),
                                          sj.nn.Dropout(0.1)])
            self.heads = sj.nn.ModuleList([Linear(8, 2), Linear(8, 3)])

        def forward(self, x):
            h = self.body(x)
            return [head(h) for head in self.heads]

    net = Net()
    q = dynamic_int8(net)
    assert isinstance(net.body[0], Dense) and isinstance(net.heads[1], Linear)  # untouched
    kinds = [type(m).__name__ for m in q.modules()]
    assert kinds.count("QuantizedDense") == 3 and "Dense" not in kinds and "Linear" not in kinds
    assert not q.training and list(q.parameters()) == []
    x = sj.randn(5, 4)
    with sj.no_grad():
        out, ref = q(x), net.eval()(x)
    for a, b in zip(out, ref):
        assert np.abs(a.numpy() - b.numpy()).max() < 0.05 * np.abs(b.numpy()).max()
    same = dynamic_int8(net, inplace=True)
    assert same is net and isinstance(net.body[0], QuantizedDense)


def test_quantized_state_dict_and_summary():
    sj.manual_seed(1)
    model = sj.Sequential([Dense(16, input_dim=8, activation="relu"), Dense(4)])
    model(sj.randn(1, 8))                                      # build the second layer
    q = dynamic_int8(model)
    state = q.state_dict()
    assert state["layers.0.kernel_q"].dtype == np.int8
    clone = dynamic_int8(copy.deepcopy(model))
    for t in clone.buffers():
        t.data[...] = 0
    clone.load_state_dict(state)
    x = sj.randn(3, 8)
    np.testing.assert_array_equal(clone(x).numpy(), q(x).numpy())
    rebuilt = QuantizedDense.from_config(q[0].get_config())   # what saving relies on
    rebuilt.load_state_dict(q[0].state_dict())
    np.testing.assert_array_equal(rebuilt.eval()(x).numpy(), q[0](x).numpy())
    lines = []
    q.summary(print_fn=lines.append)
    # int8 kernels 8·16 + 16·4, float scales and biases 2·16 + 2·4: all non-trainable
    assert "Total params: 232 (352 B)" in lines and "Trainable params: 0" in lines
    assert model_size(model) == 4 * (8 * 16 + 16 + 16 * 4 + 4)
    assert model_size(q) == 192 + 4 * 40


# ---------------------------------------------------------------- pruning

def _mlp():
    sj.manual_seed(3)
    model = sj.Sequential([Dense(20, input_dim=6, activation="relu"), Dense(5)])
    model(sj.randn(1, 6))
    return model


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_magnitude_zeroes_the_smallest_kernel_weights(scope):
    model = _mlp()
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    masks = prune_magnitude(model, amount=0.5, scope=scope)
    assert list(masks) == ["layers.0.kernel", "layers.1.kernel"]     # never the biases
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            np.testing.assert_array_equal(p.numpy(), before[n])
    kernels = [before[n] for n in masks]
    if scope == "global":
        flat = np.abs(np.concatenate([k.ravel() for k in kernels]))   # 120 + 100 weights
        cut = np.sort(flat)[110 - 1]
        for n, k in zip(masks, kernels):
            np.testing.assert_array_equal(masks[n], np.abs(k) > cut)
    else:
        for n, k in zip(masks, kernels):
            assert masks[n].sum() == k.size // 2
            assert np.abs(k[~masks[n]]).max() <= np.abs(k[masks[n]]).min()
    for n, p in model.named_parameters():
        if n in masks:
            np.testing.assert_array_equal(p.numpy(), before[n] * masks[n])
    assert sparsity(model) == 0.5


def test_prune_options_and_errors():
    model = _mlp()
    masks = prune_magnitude(model, amount=0.0)
    assert all(m.all() for m in masks.values()) and sparsity(model) == 0.0
    masks = prune_magnitude(model, amount=0.3, names=["layers.1.kernel"])
    assert list(masks) == ["layers.1.kernel"] and sparsity(model, masks) == 0.3
    with pytest.raises(ValueError, match=r"amount.*\[0, 1\]"):
        prune_magnitude(model, amount=1.5)
    with pytest.raises(ValueError, match="scope"):
        prune_magnitude(model, scope="row")
    with pytest.raises(ValueError, match="no kernel named"):
        prune_magnitude(model, names=["layers.0.bias"])
    with pytest.raises(ValueError, match="no kernels"):
        prune_magnitude(sj.Sequential([Dense(3)]))
    with pytest.raises(KeyError, match="no parameter 'x'"):
        apply_masks(model, {"x": np.ones(3, bool)})
    with pytest.raises(ValueError, match="shape"):
        apply_masks(model, {"layers.0.kernel": np.ones(3, bool)})


# ---------------------------------------------------------------- the digits MLP

@pytest.fixture(scope="module")
def digits():
    from shenjing.recipes.classic import digits_mlp

    sj.manual_seed(0)
    model, ((x_train, y_train), (x_test, y_test)) = digits_mlp(1e-3)  # 80/20 stratified
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    return model, (x_train, y_train), (x_test, y_test)


def _accuracy(model, x, y):
    return float((model.predict(x, verbose=0).argmax(1) == y).mean())


def test_int8_digits_accuracy_within_one_point_and_smaller(digits):
    model, _, (x, y) = digits
    float_acc = _accuracy(model, x, y)
    qmodel = dynamic_int8(model)
    int8_acc = _accuracy(qmodel, x, y)
    assert float_acc > 0.95
    assert abs(float_acc - int8_acc) <= 0.01, (float_acc, int8_acc)
    assert model_size(qmodel) < 0.3 * model_size(model)   # 4 bytes → 1 byte + scales
    qmodel.compile(loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    assert abs(qmodel.evaluate(x, y, return_dict=True)["accuracy"] - int8_acc) < 1e-9
    with pytest.raises((RuntimeError, ValueError), match="inference-only|no parameters"):
        qmodel.fit(x, y, epochs=1, verbose=0)


def test_pruning_half_the_digits_mlp_then_fine_tuning(digits):
    model, (x_train, y_train), (x, y) = digits
    float_acc = _accuracy(model, x, y)
    pruned = copy.deepcopy(model)
    masks = prune_magnitude(pruned, amount=0.5, scope="global")
    pruned.compile(sj.optim.Adam(lr=1e-3),
                   sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0,
               callbacks=[KeepPruned(masks)])
    assert sparsity(pruned) == 0.5                       # Adam's momentum did not revive them
    assert _accuracy(pruned, x, y) >= float_acc - 0.03


def test_quantized_model_survives_save_and_load(tmp_path):
    model = _mlp()
    q = dynamic_int8(model)
    sj.io.save_model(q, str(tmp_path / "q.sj"))
    loaded = sj.io.load_model(str(tmp_path / "q.sj")).eval()
    assert isinstance(loaded[0], QuantizedDense) and loaded[0].kernel_q.dtype == np.int8
    x = sj.randn(4, 6)
    np.testing.assert_array_equal(loaded(x).numpy(), q(x).numpy())
