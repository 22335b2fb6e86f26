"""CIFAR-10 and CIFAR-100 from the official Python-pickle archives, plus a synthetic stand-in.

    (x_train, y_train), (x_test, y_test) = sj.data.load_cifar10()     # uint8 (N, 3, 32, 32)
    (x_train, y_train), _ = sj.data.load_cifar100(label_mode="coarse")
    (x_train, y_train), _ = sj.data.synthetic_cifar10(1000, 200, seed=0)  # offline runs

The batches are Python pickles, and unpickling a file can run code.  Two guards:
(1) only files we can vouch for are read: the archive is md5-checked against the published
digest before it is extracted (``download=True``), or the user placed the archive or the
extracted folder there explicitly (``download=False``, or a folder already present: we trust
what you put in your data folder, as you would trust a script you run);
(2) the unpickler only resolves NumPy's array-rebuilding functions, so a pickle that asks for
anything else (``os.system``, ...) is refused instead of run.
"""
from __future__ import annotations

import codecs
import importlib
import importlib.util
import os
import pickle

import numpy as np

from ..download import DownloadError, data_home, download, extract_archive

_URL = "https://www.cs.toronto.edu/~kriz/"
RESOURCES = {
    "cifar10": {
        "urls": [_URL + "cifar-10-python.tar.gz"],
        "archive": "cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
    },
    "cifar100": {
        "urls": [_URL + "cifar-100-python.tar.gz"],
        "archive": "cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
    },
}
"""name → mirror URLs, archive name, published md5, folder inside the archive, batch files."""


def load_cifar10(root=None, download=True):
    """CIFAR-10: 50,000 / 10,000 colour images, 10 classes.

    Returns ``(x_train, y_train), (x_test, y_test)`` with images uint8 ``(N, 3, 32, 32)``
    (NCHW) and int64 labels 0..9.  Files live in ``root`` (default ``<data_home()>/cifar10``);
    see the module docstring for which files are trusted.

    >>> (x_train, y_train), _ = sj.data.load_cifar10()     # doctest: +SKIP
    >>> x_train.shape
    (50000, 3, 32, 32)
    """
    return _load("cifar10", root, download, b"labels")


def load_cifar100(root=None, download=True, label_mode="fine"):
    """CIFAR-100: 50,000 / 10,000 colour images, 100 fine or 20 coarse classes.

    ``label_mode="fine"`` gives labels 0..99, ``"coarse"`` the 20 superclasses 0..19.  Images
    uint8 ``(N, 3, 32, 32)``, labels int64; default ``root``: ``<data_home()>/cifar100``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"load_cifar100 label_mode must be 'fine' or 'coarse', "
                         f"got {label_mode!r}.")
    return _load("cifar100", root, download, label_mode.encode() + b"_labels")


def synthetic_cifar10(n_train=5000, n_test=1000, seed=0, num_classes=10):
    """Random stand-in for CIFAR-10 with the same shapes and dtypes, for offline runs.

    Each class gets its own mean colour, and every image is that colour plus uniform noise, so
    a model can learn something; the data come from ``np.random.default_rng(seed)``.

    >>> (x_train, y_train), (x_test, y_test) = sj.data.synthetic_cifar10(100, 20, seed=0)
    >>> x_train.shape, x_train.dtype, y_train.dtype
    ((100, 3, 32, 32), dtype('uint8'), dtype('int64'))
    """
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"synthetic_cifar10 expects a non-negative int for `{name}`, "
                             f"got {n!r}.")
    rng = np.random.default_rng(seed)
    colours = rng.uniform(40, 215, size=(num_classes, 3, 1, 1))

    def split(n):
        y = rng.integers(0, num_classes, size=n, dtype=np.int64)
        noise = rng.uniform(-40, 40, size=(n, 3, 32, 32))
        return np.clip(colours[y] + noise, 0, 255).astype(np.uint8), y

    return split(int(n_train)), split(int(n_test))


def _load(name, root, download_, label_key):
    res = RESOURCES[name]
    root = os.path.abspath(root or os.path.join(data_home(), name))
    folder = os.path.join(root, res["folder"])
    batches = res["train"] + res["test"]
    if not all(os.path.exists(os.path.join(folder, b)) for b in batches):
        _extract(name, res, root, download_)
    train = [_read_batch(os.path.join(folder, b), label_key) for b in res["train"]]
    test = [_read_batch(os.path.join(folder, b), label_key) for b in res["test"]]
    return _concat(train), _concat(test)


def _extract(name, res, root, download_):
    archive = os.path.join(root, res["archive"])
    if download_:
        try:
            download(res["urls"], archive, md5=res["md5"])
        except DownloadError as e:
            raise DownloadError(f"load_{name} could not download {res['archive']} ({e}). If "
                                f"this machine is offline, fetch {res['urls'][0]} elsewhere and "
                                f"place it at {archive}") from e
    elif not os.path.exists(archive):
        raise FileNotFoundError(f"load_{name}: download=False but neither the extracted folder "
                                f"{os.path.join(root, res['folder'])} nor the archive {archive} "
                                f"is there; place {res['urls'][0]} at {archive}.")
    extract_archive(archive, root)


_NUMPY_CORE = "numpy._core" if importlib.util.find_spec("numpy._core") else "numpy.core"
_ALLOWED = {  # (module, name) a CIFAR pickle may ask for → what it gets
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 at protocol 2
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(_core + ".multiarray", "_reconstruct")] = importlib.import_module(
        _NUMPY_CORE + ".multiarray")._reconstruct
    _ALLOWED[(_core + ".numeric", "_frombuffer")] = importlib.import_module(
        _NUMPY_CORE + ".numeric")._frombuffer


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only NumPy's array-rebuilding globals."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds "
                                     "only arrays, lists and bytes.")


def _read_batch(path, label_key):
    with open(path, "rb") as f:
        batch = _ArrayUnpickler(f, encoding="bytes").load()
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path} is not a CIFAR batch: expected a dict with b'data' and "
                         f"{label_key!r}, found {found}.")
    x = np.asarray(batch[b"data"], dtype=np.uint8)
    y = np.asarray(batch[label_key], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: expected data of shape (N, 3072) and N labels, got "
                         f"{x.shape} and {y.shape}.")
    return x.reshape(-1, 3, 32, 32), y


def _concat(parts):
    xs, ys = zip(*parts)
    return np.concatenate(xs), np.concatenate(ys)
