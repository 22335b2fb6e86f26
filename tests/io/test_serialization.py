"""sj.io save/load: every public layer, containers, subclassed and zoo models round-trip; the
file format; clear errors for damaged files and wrong architectures (no partial loads)."""
import inspect
import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import shenjing as sj
from shenjing import nn
from shenjing.io import load_weights, save_model, save_weights
from shenjing.io.serialization import ModelFileError

RNG = np.random.default_rng(0)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def seq(n=5, d=3):
    return f32(2, n, d)


def img(c=3, h=6, w=6):
    return f32(2, c, h, w)


def transformer_layer():
    return nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)


# one entry per public Module class of sj.nn: (factory, inputs); a new layer must be added
LAYERS = {
    "Module": (lambda: nn.Module(name="bare"), None),
    "Sequential": (lambda: nn.Sequential([nn.Dense(4), nn.ReLU(), nn.Dense(2)]), [f32(2, 3)]),
    "ModuleList": (lambda: nn.ModuleList([nn.Linear(3, 2), nn.Linear(2, 1)]), None),
    "Dense": (lambda: nn.Dense(4, activation="relu", kernel_initializer="he_normal",
                               kernel_regularizer=sj.regularizers.L2(1e-3)), [f32(2, 3)]),
    "Linear": (lambda: nn.Linear(3, 4, bias=False), [f32(2, 3)]),
    "Activation": (lambda: nn.Activation("tanh"), [f32(2, 3)]),
    "Dropout": (lambda: nn.Dropout(0.5, seed=3), [f32(2, 3)]),
    "Flatten": (lambda: nn.Flatten(), [img()]),
    "Reshape": (lambda: nn.Reshape((3, 36)), [img()]),
    "Identity": (lambda: nn.Identity(), [f32(2, 3)]),
    "ReLU": (lambda: nn.ReLU(), [f32(2, 3)]),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), [f32(2, 3)]),
    "ELU": (lambda: nn.ELU(0.5), [f32(2, 3)]),
    "SELU": (lambda: nn.SELU(), [f32(2, 3)]),
    "GELU": (lambda: nn.GELU("tanh"), [f32(2, 3)]),
    "Sigmoid": (lambda: nn.Sigmoid(), [f32(2, 3)]),
    "Tanh": (lambda: nn.Tanh(), [f32(2, 3)]),
    "SiLU": (lambda: nn.SiLU(), [f32(2, 3)]),
    "Softplus": (lambda: nn.Softplus(), [f32(2, 3)]),
    "Softmax": (lambda: nn.Softmax(axis=0), [f32(2, 3)]),
    "LogSoftmax": (lambda: nn.LogSoftmax(axis=1), [f32(2, 3)]),
    "Conv1D": (lambda: nn.Conv1D(4, 3, padding="same", activation="relu"), [seq(3, 8)]),
    "Conv2D": (lambda: nn.Conv2D(4, (3, 2), strides=(2, 1), use_bias=False), [img()]),
    "Conv1DTranspose": (lambda: nn.Conv1DTranspose(2, 3, strides=2), [seq(3, 5)]),
    "Conv2DTranspose": (lambda: nn.Conv2DTranspose(2, 3, strides=2, output_padding=1),
                        [img()]),
    "MaxPooling1D": (lambda: nn.MaxPooling1D(2), [seq(3, 8)]),
    "MaxPooling2D": (lambda: nn.MaxPooling2D((2, 3)), [img()]),
    "AveragePooling1D": (lambda: nn.AveragePooling1D(3, strides=1), [seq(3, 8)]),
    "AveragePooling2D": (lambda: nn.AveragePooling2D(2, padding="same"), [img(3, 5, 5)]),
    "GlobalAveragePooling1D": (lambda: nn.GlobalAveragePooling1D(keepdims=True), [seq()]),
    "GlobalAveragePooling2D": (lambda: nn.GlobalAveragePooling2D(), [img()]),
    "GlobalMaxPooling1D": (lambda: nn.GlobalMaxPooling1D(), [seq()]),
    "GlobalMaxPooling2D": (lambda: nn.GlobalMaxPooling2D(keepdims=True), [img()]),
    "AdaptiveAveragePooling2D": (lambda: nn.AdaptiveAveragePooling2D((2, 3)), [img()]),
    "BatchNormalization": (lambda: nn.BatchNormalization(axis=1, momentum=0.5), [img()]),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3, momentum=0.5), [f32(4, 3)]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), [img()]),
    "LayerNormalization": (lambda: nn.LayerNormalization(epsilon=1e-5), [f32(2, 5)]),
    "LayerNorm": (lambda: nn.LayerNorm(5), [f32(2, 5)]),
    "GroupNormalization": (lambda: nn.GroupNormalization(groups=2), [img(4, 3, 3)]),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), [img(4, 3, 3)]),
    "Add": (lambda: nn.Add(), [[f32(2, 3), f32(2, 3)]]),
    "Subtract": (lambda: nn.Subtract(), [[f32(2, 3), f32(2, 3)]]),
    "Multiply": (lambda: nn.Multiply(), [[f32(2, 3), f32(2, 3)]]),
    "Average": (lambda: nn.Average(), [[f32(2, 3), f32(2, 3)]]),
    "Maximum": (lambda: nn.Maximum(), [[f32(2, 3), f32(2, 3)]]),
    "Minimum": (lambda: nn.Minimum(), [[f32(2, 3), f32(2, 3)]]),
    "Concatenate": (lambda: nn.Concatenate(axis=-1), [[f32(2, 3), f32(2, 2)]]),
    "ZeroPadding2D": (lambda: nn.ZeroPadding2D((1, 2)), [img()]),
    "UpSampling2D": (lambda: nn.UpSampling2D((2, 1)), [img()]),
    "Cropping2D": (lambda: nn.Cropping2D(((1, 0), (0, 2))), [img()]),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(2, 4), [seq(5, 6), seq(7, 8)]),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2, kdim=6, vdim=6),
                           [seq(4, 8), seq(5, 6), seq(5, 6)]),
    "PositionalEmbedding": (lambda: nn.PositionalEmbedding(6), [seq(6, 8)]),
    "SinusoidalPositionalEncoding": (lambda: nn.SinusoidalPositionalEncoding(10, 8),
                                     [seq(6, 8)]),
    "TransformerEncoderLayer": (transformer_layer, [seq(5, 8)]),
    "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, 16, norm_first=True),
                                [seq(4, 8), seq(5, 8)]),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(transformer_layer(), 2,
                                                         norm=nn.LayerNorm(8)), [seq(5, 8)]),
    "TransformerDecoder": (lambda: nn.TransformerDecoder(
        nn.TransformerDecoderLayer(8, 2, 16), 2), [seq(4, 8), seq(5, 8)]),
    "Embedding": (lambda: nn.Embedding(10, 4, mask_zero=True),
                  [RNG.integers(0, 10, (2, 5))]),
    "SimpleRNN": (lambda: nn.SimpleRNN(4, return_sequences=True), [seq()]),
    "LSTM": (lambda: nn.LSTM(4, return_state=True, unit_forget_bias=False), [seq()]),
    "GRU": (lambda: nn.GRU(4, go_backwards=True, recurrent_activation="tanh"), [seq()]),
    "Bidirectional": (lambda: nn.Bidirectional(nn.LSTM(3, return_sequences=True),
                                               merge_mode="sum"), [seq()]),
}


def public_layer_classes():
    return sorted(n for n in nn.__all__ if inspect.isclass(getattr(nn, n))
                  and issubclass(getattr(nn, n), nn.Module))


def test_every_public_layer_has_a_case():
    assert sorted(LAYERS) == public_layer_classes()


def outputs(module, inputs):
    module.eval()
    with sj.no_grad():
        out = module(*inputs)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy() for o in out]


def plain(config):
    """A config with the Modules in it replaced by (class name, their plain config)."""
    if isinstance(config, nn.Module):
        return type(config).__name__, plain(config.get_config())
    if isinstance(config, (list, tuple)):
        return type(config)(plain(c) for c in config)
    if isinstance(config, dict):
        return {k: plain(v) for k, v in config.items()}
    return config


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_round_trip(name, tmp_path):
    factory, inputs = LAYERS[name]
    sj.manual_seed(1)
    layer = factory()
    if inputs is not None:
        layer.train()
        with sj.no_grad():
            layer(*inputs)              # builds, and moves running statistics
        expected = outputs(layer, inputs)
    path = save_model(layer, tmp_path / "layer.safetensors")
    loaded = sj.load_model(path)
    assert type(loaded) is type(layer)
    assert plain(loaded.get_config()) == plain(layer.get_config())
    assert loaded.name == layer.name
    assert_same_state(layer, loaded)
    if inputs is not None:
        for a, b in zip(outputs(loaded, inputs), expected):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- models
class TwoLayer(sj.Model):
    """No get_config: saved from its constructor arguments (Keras 3 style)."""

    def __init__(self, hidden, classes=3, act="relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden = nn.Dense(hidden, activation=act)
        self.drop = nn.Dropout(0.25)
        self.out = nn.Dense(classes)

    def forward(self, x):
        return self.out(self.drop(self.hidden(x)))


class Scaled(nn.Module):
    """Its own get_config/from_config, and a NumPy array as an argument."""

    def __init__(self, scale, name=None):
        super().__init__(name=name)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.inner = nn.Dense(2)

    def forward(self, x):
        return self.inner(x) * sj.tensor(self.scale)

    def get_config(self):
        return {"scale": self.scale, "name": self.name}


def _compiled_and_trained(model, x, y, epochs=2):
    model.compile(sj.optim.Adam(lr=0.01, amsgrad=True),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)
    return model


@pytest.mark.parametrize("make", [
    lambda: sj.Sequential([nn.Dense(8, activation="relu"), nn.Dropout(0.2), nn.Dense(3)]),
    lambda: TwoLayer(6, name="net"),
], ids=["Sequential", "subclassed"])
def test_compiled_model_round_trip_with_optimizer_state(make, tmp_path):
    sj.manual_seed(0)
    x, y = f32(32, 4), RNG.integers(0, 3, 32)
    model = _compiled_and_trained(make(), x, y)
    path = model.save(tmp_path / "m.safetensors")
    loaded = sj.load_model(path)
    assert type(loaded) is type(model) and loaded.name == model.name
    assert_same_state(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.compiled and loaded.metrics_names == model.metrics_names
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.epoch == model.epoch == 2 and loaded._seed == model._seed == 0
    a, b = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i, s in a["state"].items():
        assert s.keys() == b["state"][i].keys() and s["step"] == b["state"][i]["step"]
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            np.testing.assert_array_equal(s[k], b["state"][i][k])
    assert loaded.evaluate(x, y) == model.evaluate(x, y)


def test_subclassed_model_is_saved_from_its_arguments(tmp_path):
    model = TwoLayer(5, classes=2, act="tanh")
    model(f32(2, 3))
    path = save_model(model, tmp_path / "m.safetensors")
    with safe_open(path, "np") as f:
        spec = json.loads(f.metadata()["shenjing"])["model"]
    assert spec["source"] == "arguments"
    assert spec["config"] == {"hidden": 5, "classes": 2, "act": "tanh"}
    loaded = sj.load_model(path)
    assert loaded.hidden.units == 5 and loaded.out.units == 2
    assert_same_state(model, loaded)


def test_custom_get_config_with_an_array_argument(tmp_path):
    model = Scaled([1.5, -2.0], name="scaled")
    x = f32(3, 4)
    expected = outputs(model, [x])
    loaded = sj.load_model(save_model(model, tmp_path / "m.safetensors"))
    assert isinstance(loaded.scale, np.ndarray)
    np.testing.assert_array_equal(loaded.scale, model.scale)
    np.testing.assert_array_equal(outputs(loaded, [x])[0], expected[0])


@pytest.mark.parametrize("build", [
    lambda: sj.models.lenet5(),
    lambda: sj.models.resnet20(num_classes=5),
    lambda: sj.models.conv_autoencoder(),
], ids=["lenet5", "resnet20", "conv_autoencoder"])
def test_zoo_models_round_trip(build, tmp_path):
    sj.manual_seed(2)
    model = build()
    loaded = sj.load_model(save_model(model, tmp_path / "zoo.safetensors"))
    assert type(loaded) is type(model)
    assert_same_state(model, loaded)
    x = np.zeros((1, *_zoo_input(model)), np.float32) + 0.5
    np.testing.assert_array_equal(outputs(loaded, [x])[0], outputs(model, [x])[0])


def _zoo_input(model):
    return (1, 28, 28) if not isinstance(model, sj.models.ResNet) else (3, 16, 16)


def test_float64_frozen_layers_and_seeded_dropout_survive(tmp_path):
    model = sj.Sequential([nn.Dense(4), nn.Dropout(0.5, seed=7), nn.Dense(2)]).double()
    model(np.ones((2, 3)))
    model.layers[0].trainable = False
    model.layers[1](sj.ones((3, 3)))     # advance the dropout layer's own generator
    loaded = sj.load_model(save_model(model, tmp_path / "m.safetensors"))
    assert loaded.layers[0].kernel.dtype == np.float64 and loaded.dtype == np.float64
    assert not loaded.layers[0].trainable and not loaded.layers[0].kernel.requires_grad
    assert loaded.layers[2].kernel.requires_grad
    assert (loaded.layers[1]._generator.bit_generator.state
            == model.layers[1]._generator.bit_generator.state)


def test_custom_loss_function_needs_custom_objects(tmp_path):
    def my_loss(y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean(axis=-1)

    model = sj.Sequential([nn.Dense(1)])
    model.compile("sgd", my_loss)
    model.fit(f32(8, 2), f32(8, 1), epochs=1, verbose=0)
    path = model.save(tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match=r"custom_objects=\{'my_loss': my_loss\}"):
        sj.load_model(path)
    assert sj.load_model(path, compile=False).compiled is False
    loaded = sj.load_model(path, custom_objects={"my_loss": my_loss})
    assert loaded.loss.fn is my_loss


# ---------------------------------------------------------------- weights files
def test_save_weights_is_a_plain_safetensors_file(tmp_path):
    model = TwoLayer(4)
    model(f32(2, 3))
    path = save_weights(model, tmp_path / "w.safetensors")
    tensors = load_file(path)
    weights = {k: v for k, v in tensors.items() if not k.startswith("shenjing/")}
    assert sorted(weights) == sorted(model.state_dict())
    other = TwoLayer(4)                    # not built: the file's input shapes build it
    load_weights(other, path)
    assert_same_state(model, other)


def test_npz_weights_still_load(tmp_path):
    model = sj.Sequential([nn.Dense(3, input_dim=2)])
    path = model.save_weights(tmp_path / "w.npz")
    with np.load(path) as data:
        assert sorted(data.files) == ["layers.0.bias", "layers.0.kernel"]
    other = sj.Sequential([nn.Dense(3, input_dim=2)])
    other.load_weights(path)
    assert_same_state(model, other)


def test_load_weights_of_another_architecture_names_keys_and_changes_nothing(tmp_path):
    model = sj.Sequential([nn.Dense(4, input_dim=3), nn.Dense(2)])
    model(f32(1, 3))
    path = model.save_weights(tmp_path / "w.safetensors")
    wrong = sj.Sequential([nn.Dense(5, input_dim=3), nn.Dense(2), nn.Dense(1)])
    wrong(f32(1, 3))
    before = wrong.state_dict()
    with pytest.raises(ModelFileError) as info:
        wrong.load_weights(path)
    message = str(info.value)
    assert "w.safetensors" in message and "missing keys: layers.2.kernel" in message
    assert "'layers.0.kernel': the state has shape (3, 4), the model has (3, 5)" in message
    for k, v in wrong.state_dict().items():
        np.testing.assert_array_equal(v, before[k])       # no partial load


def test_load_model_with_a_missing_weight_fails(tmp_path):
    model = sj.Sequential([nn.Dense(2, input_dim=3)])
    path = str(save_model(model, tmp_path / "m.safetensors"))
    tensors = load_file(path)
    with safe_open(path, "np") as f:
        metadata = f.metadata()
    del tensors["layers.0.bias"]
    from shenjing.io.serialization import checksum
    save_file(tensors, path, metadata={**metadata, "crc32": checksum(tensors)})
    with pytest.raises(ModelFileError, match="missing keys: layers.0.bias"):
        sj.load_model(path)


# ---------------------------------------------------------------- damaged files
@pytest.fixture
def saved(tmp_path):
    model = sj.Sequential([nn.Dense(3, input_dim=2)])
    return str(save_model(model, tmp_path / "m.safetensors"))


def test_truncated_file(saved):
    raw = open(saved, "rb").read()
    open(saved, "wb").write(raw[:len(raw) - 7])
    with pytest.raises(ModelFileError, match="not a shenjing model file or it is damaged"):
        sj.load_model(saved)


def test_flipped_byte_in_the_data_is_caught_by_the_checksum(saved):
    raw = bytearray(open(saved, "rb").read())
    raw[-3] ^= 0xFF
    open(saved, "wb").write(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum does not match"):
        sj.load_model(saved)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"PK\x03\x04junk"])
def test_garbage_files(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="bad.safetensors.*damaged"):
        sj.load_model(path)


def test_missing_file_and_weights_only_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        sj.load_model(tmp_path / "nope.safetensors")
    model = sj.Sequential([nn.Dense(3, input_dim=2)])
    path = model.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ModelFileError, match="holds no shenjing model.*load_weights"):
        sj.load_model(path)


def test_a_file_naming_arbitrary_code_is_refused(saved):
    with safe_open(saved, "np") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    doc = json.loads(metadata["shenjing"])
    doc["model"] = {"class_name": "system", "module": "os", "source": "arguments",
                    "args": ["echo hacked"], "config": {}}
    save_file(tensors, saved, metadata={**metadata, "shenjing": json.dumps(doc)})
    with pytest.raises(ValueError, match="class 'system' .module 'os'., which is not loaded"):
        sj.load_model(saved)


def test_unknown_class_hint_and_custom_objects(tmp_path):
    class Local(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.lin = nn.Linear(2, k)

        def forward(self, x):
            return self.lin(x)

    path = save_model(Local(3), tmp_path / "m.safetensors")
    loaded = sj.load_model(path)                          # still defined: found by name
    assert type(loaded) is Local and loaded.lin.out_features == 3
    with safe_open(path, "np") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    doc = json.loads(metadata["shenjing"])
    doc["model"]["class_name"] = "Gone"
    save_file(tensors, path, metadata={**metadata, "shenjing": json.dumps(doc)})
    with pytest.raises(ValueError, match=r"import the module.*custom_objects=\{'Gone': Gone\}"):
        sj.load_model(path)
    assert type(sj.load_model(path, custom_objects={"Gone": Local})) is Local


def test_newer_format_version_is_refused(saved):
    with safe_open(saved, "np") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, saved, metadata={**metadata, "format_version": "99"})
    with pytest.raises(ModelFileError, match="format version 99.*upgrade"):
        sj.load_model(saved)


def test_quantized_model_round_trip_keeps_int8_buffers_and_eval_mode(tmp_path):
    sj.manual_seed(3)
    model = sj.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
    x = f32(5, 4)
    model(x)
    quantized = sj.quantize.dynamic_int8(model)
    loaded = sj.load_model(save_model(quantized, tmp_path / "q.safetensors"))
    assert loaded.layers[0].kernel_q.dtype == np.int8 and not loaded.training
    assert_same_state(quantized, loaded)
    np.testing.assert_array_equal(loaded.predict(x), quantized.predict(x))


def test_a_constructor_argument_without_json_form_is_a_clear_error(tmp_path):
    model = TwoLayer(4, act=lambda x: x * 2)
    with pytest.raises(TypeError, match="cannot save model/config/act: function .*get_config"):
        save_model(model, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())                     # nothing written


def test_a_compiled_but_untrained_model_loads_and_trains(tmp_path):
    model = sj.Sequential([nn.Dense(3)])
    model.compile(sj.optim.SGD(lr=0.5, momentum=0.5), "mse", metrics=["mae"])
    loaded = sj.load_model(model.save(tmp_path / "m.safetensors"))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert not loaded.optimizer.param_groups and loaded.epoch == 0
    loaded.fit(f32(8, 2), f32(8, 3), epochs=1, verbose=0)
    assert loaded.optimizer.param_groups and loaded.metrics_names == ["loss", "mae"]
