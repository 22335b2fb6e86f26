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
