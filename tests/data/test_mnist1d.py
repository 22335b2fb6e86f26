"""load_mnist1d: generated locally by the mnist1d package, cached as .npz, deterministic."""
import builtins
import os
import random

import numpy as np
import pytest

import shenjing as sj
from shenjing.data.datasets import mnist1d as m1d

mnist1d = pytest.importorskip("mnist1d", reason="the mnist1d package is not installed: "
                                                "`pip install mnist1d` (or shenjing[data])")


def test_standard_split_shapes_dtypes_and_cache(tmp_path, monkeypatch):
    state = np.random.get_state()
    py_state = random.getstate()
    (x_train, y_train), (x_test, y_test) = sj.data.load_mnist1d(root=tmp_path)
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64 and y_test.shape == (1000,)
    assert set(np.unique(y_train).tolist()) == set(range(10))
    assert abs(float(np.concatenate([x_train, x_test]).std()) - 1) < 1e-3  # package standardises
    # NumPy's and Python's global generators are left as they were
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state()[1:2], state[1:2]))
    assert random.getstate() == py_state
    [cache] = os.listdir(tmp_path)
    assert cache.endswith(".npz")
    monkeypatch.setattr(m1d, "_generate", lambda args: pytest.fail("cache not used"))
    (x2, y2), (x3, y3) = sj.data.load_mnist1d(root=tmp_path)
    np.testing.assert_array_equal(x2, x_train)
    np.testing.assert_array_equal(y3, y_test)


def test_matches_the_package_and_depends_on_seed(tmp_path):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = 500, 3
    ref = make_dataset(args)
    (x, y), (xt, yt) = sj.data.load_mnist1d(seed=3, num_samples=500, cache=False)
    assert x.shape == (400, 40) and xt.shape == (100, 40)
    np.testing.assert_allclose(x, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(yt, ref["y_test"])
    (x4, _), _ = sj.data.load_mnist1d(seed=4, num_samples=500, root=tmp_path)
    assert not np.allclose(x4, x)
    (x5, _), _ = sj.data.load_mnist1d(seed=3, num_samples=500, root=tmp_path)
    np.testing.assert_array_equal(x5, x)  # a second, independent generation repeats exactly
    assert len(os.listdir(tmp_path)) == 2  # one cache file per argument set
    with pytest.raises(TypeError, match="unknown dataset arguments"):
        sj.data.load_mnist1d(num_samples=100, cache=False, templ_len=3)


def test_missing_package_message(monkeypatch):
    real_import = builtins.__import__

    def no_mnist1d(name, *args, **kw):
        if name == "mnist1d" or name.startswith("mnist1d."):
            raise ImportError("No module named 'mnist1d'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_mnist1d)
    with pytest.raises(ImportError, match=r"pip install mnist1d"):
        sj.data.load_mnist1d(cache=False)
