"""Small data sets bundled with scikit-learn (iris, 8×8 digits), split and scaled.

scikit-learn is imported only when a loader is called: ``pip install shenjing[data]``.

    (x_train, y_train), (x_test, y_test) = sj.data.load_iris()
"""
from __future__ import annotations

import numpy as np


def load_iris(test_size=0.2, random_state=42, standardize=True):
    """Fisher's iris: 150 flowers, 4 features, 3 classes → ``(x_train, y_train), (x_test, y_test)``.

    Split with ``train_test_split(X, y, test_size=test_size, random_state=random_state)``
    (120 / 30 samples by default); with ``standardize`` a ``StandardScaler`` is fit on the
    training features and applied to both splits.  Features are float32, labels int64.

    >>> (x_train, y_train), (x_test, y_test) = sj.data.load_iris()
    >>> x_train.shape, x_test.shape
    ((120, 4), (30, 4))
    """
    datasets, model_selection, preprocessing = _sklearn("load_iris")
    bunch = datasets.load_iris()
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        bunch.data, bunch.target, test_size=test_size, random_state=random_state)
    if standardize:
        scaler = preprocessing.StandardScaler()
        x_train = scaler.fit_transform(x_train)
        x_test = scaler.transform(x_test)
    return _cast(x_train, y_train), _cast(x_test, y_test)


def load_digits(test_size=0.2, random_state=42, standardize=True):
    """8×8 handwritten digits: 1,797 images as 64 pixels, 10 classes.

    Split with ``train_test_split(X, y, test_size, random_state, stratify=y)`` (1,437 / 360
    by default; stratified so every digit keeps its share in both splits).  With
    ``standardize`` the pixel values 0..16 are divided by 16 into [0, 1] (a fixed scale, so
    nothing is fit on the data).  Features are float32 of shape (N, 64), labels int64.

    >>> (x_train, y_train), (x_test, y_test) = sj.data.load_digits()
    >>> x_train.shape, x_test.shape
    ((1437, 64), (360, 64))
    """
    datasets, model_selection, _ = _sklearn("load_digits")
    bunch = datasets.load_digits()
    x, y = bunch.data, bunch.target
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=test_size, random_state=random_state, stratify=y)
    if standardize:
        x_train, x_test = x_train / 16.0, x_test / 16.0
    return _cast(x_train, y_train), _cast(x_test, y_test)


DATASETS = {"iris": load_iris, "digits": load_digits}
"""Name → loader, for the CLI (``shenjing train digits-mlp``)."""


def _cast(x, y):
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)


def _sklearn(who):
    try:
        from sklearn import datasets, model_selection, preprocessing  # noqa: PLC0415
    except ImportError as e:
        raise ImportError(f"{who} needs scikit-learn, which is not installed: "
                          "`pip install scikit-learn` or `pip install shenjing[data]`.") from e
    return datasets, model_selection, preprocessing
