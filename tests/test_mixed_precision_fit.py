"""``Model.compile(..., mixed_precision=True)``: float16 training on digits within 1.5
points of the same model trained in float32, float32 master weights, the loss scale logged."""
from __future__ import annotations

import numpy as np
import pytest

import shenjing as sj
from shenjing.nn import BatchNormalization, Conv2D, Dense, Flatten, Reshape

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def digits():
    return sj.data.load_digits()


def mlp():
    return sj.Sequential([Dense(64, input_dim=64, activation="relu"), Dense(10)])


def fit(build, digits, mixed_precision, epochs):
    (x, y), (xt, yt) = digits
    sj.manual_seed(0)
    model = build()
    model.compile(optimizer=sj.optim.Adam(lr=3e-3),
                  loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], mixed_precision=mixed_precision)
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    _, acc = model.evaluate(xt, yt)
    return model, history, acc


def test_mixed_precision_fit_matches_float32(digits):
    _, h32, acc32 = fit(mlp, digits, False, epochs=6)
    model, h16, acc16 = fit(mlp, digits, True, epochs=6)
    assert acc32 > 0.9
    assert abs(acc16 - acc32) <= 0.015, (acc16, acc32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert "loss_scale" not in h32.history
    scales = h16.history["loss_scale"]
    assert len(scales) == 6 and all(s >= 1.0 and np.log2(s).is_integer() for s in scales)
    assert np.all(np.isfinite(h16.history["loss"]))
    assert model.predict(digits[1][0][:5]).dtype == np.float32  # inference: no autocast


def test_mixed_precision_fit_small_cnn_with_batch_norm(digits):
    def cnn():
        return sj.Sequential([Reshape((1, 8, 8)),
                              Conv2D(8, 3, padding="same", activation="relu"),
                              BatchNormalization(), Flatten(), Dense(10)])

    model, history, acc = fit(cnn, digits, "float16", epochs=2)
    assert acc > 0.85
    assert all(p.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize("value, match", [
    ("bfloat16", "bfloat16 is not supported"),
    ("float32", "supports dtype 'float16'"),
    (1, "mixed_precision must be True, False, None or 'float16', got 1"),
])
def test_compile_rejects_unsupported_mixed_precision(value, match):
    model = mlp()
    with pytest.raises(ValueError, match=match):
        model.compile("adam", "sparse_categorical_crossentropy", mixed_precision=value)
    assert not model.compiled


# ---------------------------------------------------------------- saving and resuming
def scaled_mlp():
    """The digits MLP with float16 and a loss scale that moves: growth every 7 clean steps
    (and backoffs on overflow), so the scale and the growth tracker both matter on resume."""
    sj.manual_seed(0)
    model = mlp()
    model.compile(sj.optim.Adam(lr=3e-3), sj.losses.SparseCategoricalCrossentropy(
        from_logits=True), mixed_precision="float16")
    model.mixed_precision = sj.amp.MixedPrecision("float16", growth_interval=7)
    return model


def test_mixed_precision_resume_from_a_file_is_bit_identical(digits, tmp_path):
    (x, y), _ = digits
    x, y = x[:1280], y[:1280]  # 20 full batches: the epoch's last step does not overflow
    fit_args = dict(batch_size=64, verbose=0)
    full = scaled_mlp()
    whole = full.fit(x, y, epochs=4, **fit_args).history["loss_scale"]
    half = scaled_mlp()
    first = half.fit(x, y, epochs=2, **fit_args).history["loss_scale"]
    saved = half.mixed_precision.scaler.state_dict()
    assert saved["_growth_tracker"] > 0 and saved["scale"] != 2.0 ** 16  # both must travel
    half.save(tmp_path / "mp.safetensors")
    sj.manual_seed(123)
    again = sj.load_model(tmp_path / "mp.safetensors")
    assert again.mixed_precision.policy == "float16" and again.epoch == 2
    assert again.mixed_precision.scaler.state_dict() == saved
    second = again.fit(x, y, epochs=4, initial_epoch=again.epoch, **fit_args).history
    assert first + second["loss_scale"] == whole and len(set(whole)) > 1
    for k, v in full.state_dict().items():
        assert np.array_equal(v, again.state_dict()[k]), k


def test_mixed_precision_without_optimizer_state_keeps_the_policy(digits, tmp_path):
    (x, y), _ = digits
    model = scaled_mlp()
    model.fit(x[:128], y[:128], batch_size=64, verbose=0)
    model.save(tmp_path / "m.safetensors", include_optimizer=False)
    loaded = sj.load_model(tmp_path / "m.safetensors")
    assert loaded.mixed_precision.policy == "float16"
    assert loaded.mixed_precision.loss_scale == 2.0 ** 16  # a fresh scaler


def test_a_file_saved_before_mixed_precision_still_loads(tmp_path):
    """Files written before ``compile`` had ``mixed_precision`` lack the key: float32."""
    import json

    from safetensors.numpy import save_file

    from shenjing.io.serialization import read_file

    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.ones((8, 64), np.float32), np.zeros(8, np.int64), verbose=0)
    path = tmp_path / "old.safetensors"
    model.save(path)
    tensors, metadata = read_file(path)
    doc = json.loads(metadata["shenjing"])
    del doc["compile"]["mixed_precision"]
    save_file(tensors, str(path), metadata={**metadata, "shenjing": json.dumps(doc)})
    loaded = sj.load_model(path)
    assert loaded.compiled and loaded.mixed_precision.policy is None
    assert loaded.optimizer.iterations == model.optimizer.iterations
