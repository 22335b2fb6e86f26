"""Monitoring: TensorBoard event files read back, History.plot PNGs, the progress display."""
import os
import re
import struct

import numpy as np
import pytest

import shenjing as sj
from shenjing.nn import Dense

RNG = np.random.default_rng(1)
X = RNG.standard_normal((64, 5)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def compiled():
    sj.manual_seed(0)
    model = sj.Sequential([Dense(8, activation="relu"), Dense(3)])
    model.compile(sj.optim.Adam(lr=0.01), sj.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    return model


# ---------------------------------------------------------------- TensorBoard
def read_events(folder):
    """Every Event in the TFRecord files of ``folder`` (length, crc, data, crc framing)."""
    from tensorboardX.proto import event_pb2

    events = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            events.append(event_pb2.Event.FromString(data[pos + 12:pos + 12 + n]))
            pos += 12 + n + 4
    return events


def by_tag(events):
    """tag -> list of (step, summary value)."""
    out = {}
    for e in events:
        for v in e.summary.value:
            out.setdefault(v.tag, []).append((e.step, v))
    return out


def scalars(tags, tag):
    return [v.simple_value for _, v in sorted(tags[tag], key=lambda sv: sv[0])]


def test_tensorboard_scalars_histograms_and_summary(tmp_path):
    model = compiled()
    tb = sj.callbacks.TensorBoard(tmp_path, histogram_freq=2)
    h = model.fit(X, Y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                  callbacks=[tb])
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, val = by_tag(read_events(tmp_path / "train")), by_tag(read_events(tmp_path /
                                                                             "validation"))
    np.testing.assert_allclose(scalars(train, "epoch_loss"), h["loss"], rtol=1e-6)
    np.testing.assert_allclose(scalars(train, "epoch_accuracy"), h["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(scalars(val, "epoch_loss"), h["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(scalars(val, "epoch_accuracy"), h["val_accuracy"], rtol=1e-6)
    np.testing.assert_allclose(scalars(train, "epoch_learning_rate"), [0.01] * 3, rtol=1e-6)
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2]
    for name, p in model.named_parameters():
        steps = [s for s, _ in train["weights/" + name]]
        assert steps == [0, 2] and [s for s, _ in train["gradients/" + name]] == [0, 2]
        histo = train["weights/" + name][-1][1].histo         # epoch 2 = the final weights
        assert histo.num == p.size
        assert histo.sum == pytest.approx(float(p.numpy().sum()), rel=1e-5, abs=1e-5)
        grad = train["gradients/" + name][-1][1].histo
        assert grad.num == p.size and grad.sum == pytest.approx(float(p.grad.numpy().sum()),
                                                                rel=1e-5, abs=1e-6)
    text = train["model_summary/text_summary"][0][1].tensor.string_val[0].decode()
    assert "Total params: 75" in text and "dense" in text


def test_tensorboard_batch_frequency_and_learning_rate_from_logs(tmp_path):
    model = compiled()
    model.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[
        sj.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 / (epoch + 1)),
        sj.callbacks.TensorBoard(tmp_path, update_freq=3, write_graph=False)])
    train = by_tag(read_events(tmp_path / "train"))
    assert [s for s, _ in train["batch_loss"]] == [3, 6]
    np.testing.assert_allclose(scalars(train, "epoch_learning_rate"), [0.01, 0.005], rtol=1e-6)
    assert not any(t.startswith(("model_summary", "weights/")) for t in train)
    assert not (tmp_path / "validation").exists()


def test_tensorboard_without_tensorboardx_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tbx(name, *args, **kwargs):
        if name.startswith("tensorboardX"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tbx)
    with pytest.raises(ImportError, match=r"pip install shenjing\[tensorboard\]"):
        sj.callbacks.TensorBoard("logs")
    with pytest.raises(ValueError, match="histogram_freq"):
        monkeypatch.undo()
        sj.callbacks.TensorBoard("logs", histogram_freq=-1)


# ---------------------------------------------------------------- History.plot
def test_history_plot_saves_a_png(tmp_path):
    h = compiled().fit(X, Y, epochs=4, validation_split=0.25, verbose=0)
    path = tmp_path / "curves.png"
    fig = h.plot(path)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]                   # train + validation
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), h["val_loss"])
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000
    assert len(h.plot(keys="loss").axes) == 1
    with pytest.raises(ValueError, match="nothing logged under \\['auc'\\]"):
        h.plot(keys=["auc"])


# ---------------------------------------------------------------- progress
def test_verbose_1_shows_eta_rate_loss_and_metrics(capsys):
    compiled().fit(X, Y, epochs=2, batch_size=16, validation_split=0.25, verbose=1)
    out, err = capsys.readouterr()
    assert out == ""
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("Epoch 2/2: 100%")
    assert re.search(r"3/3 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+batch/s", last)    # elapsed<ETA, rate
    assert re.search(r"loss=\d\.\d{4}, accuracy=\d\.\d{4}, val_loss=\d\.\d{4}, "
                     r"val_accuracy=\d\.\d{4}, [\d,]+ samples/s", last)


def test_verbose_2_one_keras_line_per_epoch(capsys):
    h = compiled().fit(X, Y, epochs=3, batch_size=16, validation_split=0.25, verbose=2)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 3
    pattern = (r"Epoch 3/3 - \d+\.\d\ds - [\d,]+ samples/s - loss: (\d\.\d{4}) - "
               r"accuracy: \d\.\d{4} - val_loss: (\d\.\d{4}) - val_accuracy: \d\.\d{4}")
    match = re.fullmatch(pattern, lines[2])
    assert match, lines[2]
    assert float(match[1]) == pytest.approx(h["loss"][-1], abs=5e-5)
    assert float(match[2]) == pytest.approx(h["val_loss"][-1], abs=5e-5)
