"""sj.io.load_torch_state_dict: torch weights copied into the matching shenjing model give
the same outputs (1e-5); mismatches raise naming both sides and change nothing."""
import numpy as np
import pytest

import shenjing as sj
import shenjing.io as sjio
from shenjing import nn

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-5, atol=1e-5)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def torch_out(net, x):
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(np.asarray(x)))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_mlp_dense_kernel_is_transposed():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    model = sj.Sequential([nn.Dense(32, activation="relu"), nn.Dense(10)])
    x = rand(5, 64)
    model(x)
    report = sjio.load_torch_state_dict(model, net.state_dict())
    np.testing.assert_allclose(model.predict(x), torch_out(net, x), **TOL)
    assert report[0] == ("0.weight", "layers.0.kernel", "transpose")
    assert ("2.bias", "layers.1.bias", "copy") in report
    assert len(report) == 4 and "0.weight -> layers.0.kernel (transpose)" in str(report)


def test_linear_layer_keeps_torch_layout_and_numpy_values():
    torch.manual_seed(0)
    net = torch.nn.Linear(6, 3)
    model = sj.Sequential([nn.Linear(6, 3)])
    state = {k: v.numpy() for k, v in net.state_dict().items()}  # NumPy arrays work too
    report = sjio.load_torch_state_dict(model, state)
    assert [m.transform for m in report] == ["copy", "copy"]
    x = rand(4, 6)
    np.testing.assert_allclose(model.predict(x), torch_out(net, x), **TOL)


@pytest.mark.parametrize("keras_bn", [True, False])
def test_cnn_with_batchnorm(keras_bn):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3, groups=2, bias=False),
        torch.nn.BatchNorm2d(6), torch.nn.Flatten(), torch.nn.Linear(6 * 2 * 2, 10))
    net.train()
    for i in range(3):  # running statistics away from 0 / 1
        net(torch.randn(8, 1, 8, 8) * (i + 1) + i)
    bn = (lambda c: nn.BatchNormalization(epsilon=1e-5)) if keras_bn else nn.BatchNorm2d
    model = sj.Sequential([nn.Conv2D(4, 3, padding=1), bn(4), nn.ReLU(),
                           nn.MaxPooling2D(2), nn.Conv2D(6, 3, groups=2, use_bias=False),
                           bn(6), nn.Flatten(), nn.Dense(10)])
    x = rand(5, 1, 8, 8)
    model(x)
    report = sjio.load_torch_state_dict(model, net)  # a torch module works too
    np.testing.assert_allclose(model.predict(x), torch_out(net, x), **TOL)
    tracked = [m for m in report if m.torch_name.endswith("num_batches_tracked")]
    assert len(tracked) == (0 if keras_bn else 2)
    if keras_bn:
        assert ("1.running_var", "layers.1.moving_variance", "copy") in report


class TorchLSTMClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(30, 8)
        self.lstm = torch.nn.LSTM(8, 12, batch_first=True)
        self.fc = torch.nn.Linear(12, 3)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids))
        return self.fc(out[:, -1])


def test_lstm_classifier():
    torch.manual_seed(0)
    net = TorchLSTMClassifier()
    model = sj.Sequential([nn.Embedding(30, 8), nn.LSTM(12), nn.Dense(3)])
    ids = np.random.default_rng(0).integers(0, 30, (4, 7))
    model(ids)
    report = sjio.load_torch_state_dict(model, net.state_dict())
    np.testing.assert_allclose(model.predict(ids), torch_out(net, ids), **TOL)
    assert ("lstm.weight_ih_l0", "layers.1.weight_ih", "copy") in report
    assert ("embedding.weight", "layers.0.embeddings", "copy") in report


def test_bidirectional_gru_and_stacked_lstm():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 6, batch_first=True, bidirectional=True)
    model = sj.Sequential([nn.Bidirectional(nn.GRU(6, return_sequences=True))])
    x = rand(3, 7, 5)
    model(x)
    report = sjio.load_torch_state_dict(model, gru.state_dict())
    np.testing.assert_allclose(model.predict(x), torch_out(gru, x), **TOL)
    assert ("weight_hh_l0_reverse", "layers.0.backward_layer.weight_hh", "copy") in report

    lstm = torch.nn.LSTM(5, 4, num_layers=2, batch_first=True)
    stacked = sj.Sequential([nn.LSTM(4, return_sequences=True),
                             nn.LSTM(4, return_sequences=True)])
    stacked(x)
    sjio.load_torch_state_dict(stacked, lstm.state_dict())
    np.testing.assert_allclose(stacked.predict(x), torch_out(lstm, x), **TOL)


def test_multihead_attention_by_name():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    layer = nn.MultiheadAttention(16, 4)
    sjio.load_torch_state_dict(layer, mha.state_dict())
    x = rand(2, 5, 16)
    with torch.no_grad():
        want = mha(*[torch.from_numpy(x)] * 3)[0].numpy()
    layer.eval()
    np.testing.assert_allclose(layer(x, x, x)[0].numpy(), want, **TOL)


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn1(self.conv1(x))).mean(dim=(2, 3)))


class Net(sj.Model):
    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(2)  # defined first: pairing goes by name, not by order
        self.conv1 = nn.Conv2D(4, 3)
        self.bn1 = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.fc(sj.relu(self.bn1(self.conv1(x))).mean(axis=(2, 3)))


def test_same_module_names_pair_by_name():
    torch.manual_seed(0)
    net, model = TorchNet(), Net()
    x = rand(2, 3, 6, 6)
    model(x)
    sjio.load_torch_state_dict(model, net.state_dict())
    np.testing.assert_allclose(model.predict(x), torch_out(net, x), **TOL)


def test_shape_mismatch_names_both_sides_and_changes_nothing():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = sj.Sequential([nn.Dense(16), nn.Dense(5)])
    model(rand(1, 8))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"torch '2.weight' has shape \(4, 16\) after "
                                         r"transpose \(16, 4\), shenjing 'layers.1.kernel'.*"
                                         r"\(16, 5\)") as err:
        sjio.load_torch_state_dict(model, net.state_dict())
    assert "nothing was changed" in str(err.value)
    assert_unchanged(model, before)


def test_architecture_mismatch_raises_and_changes_nothing():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 36, 3))
    model = sj.Sequential([nn.Conv2D(4, 3), nn.BatchNormalization(), nn.Flatten(),
                           nn.Dense(3)])
    model(rand(1, 1, 8, 8))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"torch '2' \(weight, bias\) does not match "
                                         r"shenjing BatchNormalization"):
        sjio.load_torch_state_dict(model, net.state_dict())
    assert_unchanged(model, before)
    bigger = sj.Sequential([nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(3), nn.Dense(3)])
    bigger(rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="2 modules with weights.*3 layers"):
        sjio.load_torch_state_dict(bigger, net.state_dict())


def test_not_strict_loads_the_backbone_and_reports_the_head():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    model = sj.Sequential([nn.Dense(16, activation="relu"), nn.Dense(7)])
    model(rand(1, 8))
    head = model.layers[1].kernel.data.copy()
    report = sjio.load_torch_state_dict(model, net.state_dict(), strict=False)
    assert [m.shenjing_name for m in report] == ["layers.0.kernel", "layers.0.bias"]
    assert report.skipped_torch == ["2.weight", "2.bias"]
    assert report.skipped_shenjing == ["layers.1.kernel", "layers.1.bias"]
    np.testing.assert_array_equal(model.layers[1].kernel.data, head)
    np.testing.assert_allclose(model.layers[0].kernel.data,
                               net[0].weight.detach().numpy().T)


def test_unbuilt_model_and_bad_input_are_explained():
    with pytest.raises(ValueError, match="not built yet.*call the model once"):
        sjio.load_torch_state_dict(sj.Sequential([nn.Dense(3)]), {"0.weight": np.ones((3, 2))})
    with pytest.raises(TypeError, match="state_dict"):
        sjio.load_torch_state_dict(sj.Sequential([nn.Dense(3, input_dim=2)]), [1, 2])
