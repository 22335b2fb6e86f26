"""sj.io.export_onnx: the exported file runs in onnxruntime and matches model.predict to
1e-5, for dense, convolutional, residual, recurrent, embedding and attention models, at
batch sizes other than the example's; unsupported constructs raise a clear error."""
import sys

import numpy as np
import pytest

import shenjing as sj
import shenjing.io as sjio
from shenjing import nn
from shenjing.autograd import Function
from shenjing.io.onnx import OnnxExportError
from shenjing.tensor import Tensor

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = dict(rtol=1e-5, atol=1e-5)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check(model, example, *others, tmp_path):
    """Export on ``example``; run the file on it and on ``others`` against predict."""
    path = tmp_path / "model.onnx"
    proto = sjio.export_onnx(model, example, path)
    onnx.checker.check_model(onnx.load(str(path)))
    assert proto.opset_import[0].version >= 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    sess = session(path)
    for x in (example, *others):
        got = sess.run(None, {"input": x})
        want = model.predict(x)
        want = list(want) if isinstance(want, tuple) else [want]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, **TOL)
    return proto


def op_types(proto):
    return {n.op_type for n in proto.graph.node}


def train_bn_statistics(model, x, steps=3):
    """A few training-mode passes so the moving statistics are not the initial 0 / 1."""
    model.train()
    for i in range(steps):
        model(x * (1 + i) + i)


# ---------------------------------------------------------------- dense and convolutional
def test_mlp_digits_style(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([nn.Dense(32, activation="relu", input_dim=64), nn.Dropout(0.3),
                           nn.Dense(10, activation="softmax")])
    proto = check(model, rand(4, 64), rand(1, 64, seed=1), rand(9, 64, seed=2),
                  tmp_path=tmp_path)
    assert {"MatMul", "Relu", "Softmax"} <= op_types(proto)
    names = {i.name for i in proto.graph.initializer}
    assert "layers.0.kernel" in names and "layers.2.bias" in names


def test_cnn_with_batchnorm_pool_dropout_exports_in_eval_mode(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Conv2D(8, 3, padding="same", activation="relu", input_shape=(1, 12, 12)),
        nn.BatchNormalization(), nn.MaxPooling2D(2), nn.Dropout(0.5),
        nn.Conv2D(8, 3, strides=2, padding="same", groups=2), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AveragePooling2D(3, strides=2, padding="same"), nn.Flatten(), nn.Dense(10)])
    train_bn_statistics(model, rand(16, 1, 12, 12))
    assert model.training  # export switches to eval for the trace and back afterwards
    check(model, rand(2, 1, 12, 12), rand(5, 1, 12, 12, seed=1), tmp_path=tmp_path)
    assert model.training
    assert all(p.requires_grad for p in model.parameters())


def test_lenet5_and_frozen_layers(tmp_path):
    sj.manual_seed(0)
    model = sj.models.lenet5()
    model.layers[0].trainable = False
    check(model, rand(2, 1, 28, 28), rand(3, 1, 28, 28, seed=1), tmp_path=tmp_path)
    assert not model.layers[0].kernel.requires_grad


def test_resnet20_subclassed_with_residual_add(tmp_path):
    sj.manual_seed(0)
    model = sj.models.resnet20()
    train_bn_statistics(model, rand(4, 3, 32, 32), steps=1)
    proto = check(model, rand(2, 3, 32, 32), rand(3, 3, 32, 32, seed=1), tmp_path=tmp_path)
    assert {"Conv", "Add", "Pad", "Slice", "ReduceMean"} <= op_types(proto)


def test_conv1d_model(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Conv1D(8, 5, padding="causal", activation="relu", input_shape=(3, 40)),
        nn.MaxPooling1D(2), nn.Conv1D(8, 3, padding="same", strides=2, dilation_rate=1),
        nn.BatchNormalization(), nn.AveragePooling1D(2), nn.GlobalAveragePooling1D(),
        nn.Dense(2)])
    train_bn_statistics(model, rand(8, 3, 40))
    check(model, rand(4, 3, 40), rand(2, 3, 40, seed=1), tmp_path=tmp_path)


def test_transposed_convolutions_and_spatial_layers(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Conv2DTranspose(4, 3, strides=2, padding="same", input_shape=(3, 5, 5)),
        nn.ZeroPadding2D(((1, 0), (2, 2))), nn.Cropping2D(((1, 1), (0, 1))),
        nn.UpSampling2D(2), nn.Conv2DTranspose(2, 3, strides=2, padding=1, output_padding=1),
        nn.UpSampling2D(2, interpolation="bilinear"), nn.AdaptiveAveragePooling2D((3, 2)),
        nn.GlobalMaxPooling2D()])
    proto = check(model, rand(2, 3, 5, 5), rand(4, 3, 5, 5, seed=1), tmp_path=tmp_path)
    assert "ConvTranspose" in op_types(proto)


def test_normalisations_and_activations(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Conv2D(8, 3, input_shape=(3, 6, 6)), nn.GroupNormalization(groups=4),
        nn.GroupNorm(2, 8), nn.LayerNormalization(axis=(1, 2, 3)), nn.Reshape((8, -1)),
        nn.LayerNorm(16), nn.Flatten(), nn.Dense(16), nn.GELU(), nn.Dense(16, activation="gelu"),
        nn.GELU("tanh"), nn.ELU(0.5), nn.SELU(), nn.LeakyReLU(0.2), nn.SiLU(), nn.Softplus(),
        nn.Sigmoid(), nn.Tanh(), nn.Linear(16, 5), nn.LogSoftmax()])
    proto = check(model, rand(3, 3, 6, 6) * 3, rand(2, 3, 6, 6, seed=1), tmp_path=tmp_path)
    assert {"LayerNormalization", "Erf", "Selu", "LeakyRelu", "Softplus"} <= op_types(proto)


# ---------------------------------------------------------------- recurrent
@pytest.mark.parametrize("layer", [nn.SimpleRNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_layers(tmp_path, layer, return_sequences):
    sj.manual_seed(0)
    model = sj.Sequential([layer(6, return_sequences=return_sequences, input_shape=(7, 5)),
                           nn.Dense(3)])
    proto = check(model, rand(4, 7, 5), rand(6, 7, 5, seed=1), rand(1, 7, 5, seed=2),
                  tmp_path=tmp_path)
    assert {"SimpleRNN": "RNN"}.get(layer.__name__, layer.__name__) in op_types(proto)


@pytest.mark.parametrize("layer", [nn.SimpleRNN, nn.LSTM, nn.GRU])
def test_bidirectional_and_go_backwards(tmp_path, layer):
    sj.manual_seed(0)
    model = sj.Sequential([
        nn.Bidirectional(layer(6, return_sequences=True)),
        nn.Bidirectional(layer(4), merge_mode="sum"),
        nn.Dense(2)])
    model(rand(2, 7, 5))
    check(model, rand(4, 7, 5), rand(3, 7, 5, seed=1), tmp_path=tmp_path)
    back = sj.Sequential([layer(5, return_sequences=True, go_backwards=True,
                                input_shape=(7, 5))])
    proto = check(back, rand(4, 7, 5), tmp_path=tmp_path)
    assert any(a.s == b"reverse" for n in proto.graph.node for a in n.attribute)


def test_lstm_states_and_activation_variants(tmp_path):
    class Net(sj.Model):
        def __init__(self):
            super().__init__()
            self.rnn = nn.SimpleRNN(6, activation="relu", return_sequences=True)
            self.lstm = nn.LSTM(5, recurrent_activation="hard_sigmoid", return_state=True)

        def forward(self, x):
            out, h, c = self.lstm(self.rnn(x))
            return out, h + c

    sj.manual_seed(0)
    model = Net()
    model(rand(2, 7, 5))
    proto = check(model, rand(3, 7, 5), rand(5, 7, 5, seed=1), tmp_path=tmp_path)
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1"]


def test_embedding_lstm_classifier_with_int_ids(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([nn.Embedding(50, 16), nn.LSTM(12), nn.Dense(2, activation="softmax")])
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, (4, 9))
    model(ids)
    proto = check(model, ids, rng.integers(0, 50, (7, 9)), tmp_path=tmp_path)
    assert "Gather" in op_types(proto)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_transformer_encoder_attention(tmp_path):
    sj.manual_seed(0)
    model = sj.Sequential([nn.Dense(16), nn.TransformerEncoderLayer(16, 4, 32),
                           nn.TransformerEncoderLayer(16, 2, 32, norm_first=True,
                                                      activation="gelu")])
    model(rand(2, 6, 8))
    check(model, rand(2, 6, 8), rand(5, 6, 8, seed=1), tmp_path=tmp_path)


def test_merge_layers_and_tensor_code_in_a_subclassed_model(tmp_path):
    class Net(sj.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2D(4, 3, padding="same"), nn.Conv2D(4, 1)
            self.cat, self.add, self.sub = nn.Concatenate(), nn.Add(), nn.Subtract()
            self.mul, self.avg = nn.Multiply(), nn.Average()
            self.mx, self.mn = nn.Maximum(), nn.Minimum()

        def forward(self, x):
            a, b = self.a(x), self.b(x)
            h = self.add([self.cat([a, b]), 0.5 * self.cat([b, a])]) - 1.0
            y = self.mx([self.mul([self.sub([a, b]), self.avg([a, b])]), self.mn([a, b])])
            z = sj.concatenate([h[:, :4], y[:, ::-1]], axis=1)
            z = sj.transpose(z, (0, 2, 3, 1)).reshape(z.shape[0], -1, 4)
            return (z ** 2).mean(axis=1) + z.max(axis=1) + sj.exp(-abs(z)).sum(axis=1) / 10

    sj.manual_seed(0)
    model = Net()
    model(rand(2, 3, 5, 5))
    check(model, rand(2, 3, 5, 5), rand(4, 3, 5, 5, seed=1), tmp_path=tmp_path)


def test_indexing_clip_where_and_stacking(tmp_path):
    class Net(sj.Model):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(6)

        def forward(self, x):
            h = self.fc(x)                                     # (B, 6)
            a = h[:, None, 1:5][..., ::-1]                     # (B, 1, 4)
            b = h[:, -1][:, None, None] + h[:, 0:4:2].reshape(-1, 1, 2).sum(axis=-1,
                                                                           keepdims=True)
            c = sj.where(np.array([True, False, True, False]), a, sj.clip(a, -0.1, 0.2))
            parts = sj.split(h, 3, axis=1)
            d = sj.stack(parts, axis=1)
            return c * b, d[:, 1:, :].std(axis=(1, 2)), sj.maximum(h, 0.0) ** 2

    sj.manual_seed(0)
    model = Net()
    model(rand(2, 5))
    check(model, rand(3, 5), rand(1, 5, seed=1), rand(8, 5, seed=2), tmp_path=tmp_path)


# ---------------------------------------------------------------- API and errors
def test_returns_proto_without_path_and_names_outputs():
    model = sj.Sequential([nn.Dense(3, input_dim=4)])
    proto = sjio.export_onnx(model, rand(2, 4), input_name="x", output_names=["logits"])
    assert [i.name for i in proto.graph.input] == ["x"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    out = session_from(proto).run(None, {"x": rand(3, 4)})[0]
    np.testing.assert_allclose(out, model.predict(rand(3, 4)), **TOL)
    with pytest.raises(ValueError, match="opset"):
        sjio.export_onnx(model, rand(2, 4), opset=13)


def session_from(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


class Cube(Function):
    def forward(self, x):
        return x ** 3

    def backward(self, g):
        return g


class CubeLayer(nn.Module):
    def forward(self, x):
        return Cube.apply(x)


class RawNumpy(nn.Module):
    def forward(self, x):
        return x + Tensor(x.data.mean(axis=0))


class SizeBranch(nn.Module):
    def forward(self, x):
        return x * 2 if x.shape[0] > 4 else x


@pytest.mark.parametrize("layer, message", [
    (CubeLayer(name="cubic"), r"CubeLayer 'cubic': its op Cube has no ONNX converter"),
    (RawNumpy(name="raw"), r"op Add in RawNumpy 'raw'.*computed outside the graph"),
    (SizeBranch(), r"different ops for batch sizes"),
])
def test_unsupported_constructs_raise_naming_layer_and_op(layer, message):
    model = sj.Sequential([nn.Dense(4, input_dim=4), layer])
    with pytest.raises(OnnxExportError, match=message):
        sjio.export_onnx(model, rand(2, 4))
    assert model.training


def test_masked_sequences_are_refused():
    model = sj.Sequential([nn.Embedding(10, 4, mask_zero=True), nn.LSTM(3)])
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    model(ids)
    with pytest.raises(OnnxExportError, match="LSTM 'lstm.*masked sequences"):
        sjio.export_onnx(model, ids)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"shenjing\[onnx\]"):
        sjio.export_onnx(sj.Sequential([nn.Dense(2, input_dim=2)]), rand(1, 2))
