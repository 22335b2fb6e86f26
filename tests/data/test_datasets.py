"""load_iris / load_digits: shapes, dtypes, and the same split + scaling as done by hand."""
import builtins

import numpy as np
import pytest

import shenjing as sj

sklearn = pytest.importorskip("sklearn")
from sklearn import datasets as skd  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def test_load_iris_shapes_dtypes():
    (x_train, y_train), (x_test, y_test) = sj.data.load_iris()
    assert x_train.shape == (120, 4) and x_test.shape == (30, 4)
    assert y_train.shape == (120,) and y_test.shape == (30,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert set(np.concatenate([y_train, y_test]).tolist()) == {0, 1, 2}
    np.testing.assert_allclose(x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=0), 1, atol=1e-5)


def test_load_iris_matches_sklearn_by_hand():
    bunch = skd.load_iris()
    x_tr, x_te, y_tr, y_te = train_test_split(bunch.data, bunch.target, test_size=0.2,
                                              random_state=42)
    scaler = StandardScaler()
    x_tr, x_te = scaler.fit_transform(x_tr), scaler.transform(x_te)
    (x_train, y_train), (x_test, y_test) = sj.data.load_iris()
    np.testing.assert_array_equal(x_train, x_tr.astype(np.float32))
    np.testing.assert_array_equal(x_test, x_te.astype(np.float32))
    np.testing.assert_array_equal(y_train, y_tr)
    np.testing.assert_array_equal(y_test, y_te)


def test_load_iris_options():
    (x_train, _), (x_test, _) = sj.data.load_iris(test_size=0.5, random_state=0,
                                                  standardize=False)
    assert x_train.shape == (75, 4) and x_test.shape == (75, 4)
    raw = skd.load_iris().data
    assert x_train.min() >= raw.min() - 1e-6 and x_train.max() > 5  # raw centimetres


def test_load_digits_shapes_and_range():
    (x_train, y_train), (x_test, y_test) = sj.data.load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == np.float32 and y_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() <= 1.0
    assert set(y_train.tolist()) == set(range(10))
    # stratified: each digit's share of the test split is within one sample of 20%
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - counts * 0.2) <= 1)


def test_load_digits_matches_sklearn_by_hand():
    bunch = skd.load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(bunch.data, bunch.target, test_size=0.2,
                                              random_state=42, stratify=bunch.target)
    (x_train, y_train), (x_test, y_test) = sj.data.load_digits()
    np.testing.assert_array_equal(x_train, (x_tr / 16).astype(np.float32))
    np.testing.assert_array_equal(y_test, y_te)
    (raw, _), _ = sj.data.load_digits(standardize=False)
    assert raw.max() == 16.0


def test_registry():
    assert sj.data.datasets.DATASETS["iris"] is sj.data.load_iris
    assert sj.data.DATASETS["digits"] is sj.data.load_digits


def test_missing_sklearn_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pip install shenjing\[data\]"):
        sj.data.load_iris()


def test_loader_over_digits():
    (x_train, y_train), _ = sj.data.load_digits()
    loader = sj.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, seed=0)
    assert len(loader) == 23
    seen = np.concatenate([yb.numpy() for _, yb in loader])
    assert np.array_equal(np.sort(seen), np.sort(y_train))
