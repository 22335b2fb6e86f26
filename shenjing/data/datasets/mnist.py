"""MNIST and Fashion-MNIST from the official IDX files (downloaded once, md5-checked).

    (x_train, y_train), (x_test, y_test) = sj.data.load_mnist()              # uint8 (N, 28, 28)
    (x_train, y_train), _ = sj.data.load_mnist(kind="fashion", normalize=True)  # (N, 1, 28, 28)

Offline: place the four ``.gz`` files by hand in ``<data_home>/mnist`` (or ``fashion-mnist``);
the error raised when a download fails names the exact paths.
"""
from __future__ import annotations

import gzip
import os

import numpy as np

from ..download import DownloadError, data_home, download

RESOURCES = {
    "mnist": {
        "folder": "mnist",
        # the mirror torchvision uses (LeCun's site now asks for a login), then the original
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "http://yann.lecun.com/exdb/mnist/"],
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion": {
        "folder": "fashion-mnist",
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
                    "data/fashion/"],
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}
"""kind → target folder, mirror base URLs and the maintainers' published md5 of each file."""

_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# IDX type code → big-endian NumPy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into a native-endian array of the stored shape.

    Header: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, then each dimension as a big-endian
    uint32; the data follow big-endian.

    >>> images = sj.data.read_idx("train-images-idx3-ubyte.gz")   # doctest: +SKIP
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: its magic number is {raw[:4].hex()!r}, "
                         f"expected 0000 then a type code in "
                         f"{sorted(hex(c) for c in _IDX_DTYPES)} and the number of dimensions.")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: the IDX header promises shape {shape} ({expected} bytes in "
                         f"all), but the file has {len(raw)} bytes; it is truncated or corrupt.")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(root=None, download=True, kind="mnist", normalize=False):
    """MNIST digits (``kind="mnist"``) or Zalando's Fashion-MNIST (``kind="fashion"``).

    Returns ``(x_train, y_train), (x_test, y_test)``: 60,000 / 10,000 images as uint8
    ``(N, 28, 28)`` and int64 labels 0..9; with ``normalize=True`` the images are float32 in
    [0, 1] with a channel axis, ``(N, 1, 28, 28)``.

    Files live in ``root`` (default ``<data_home()>/mnist`` or ``.../fashion-mnist``).  With
    ``download`` missing files are fetched from the mirrors in ``RESOURCES`` and checked against
    the published md5; with ``download=False`` the files must already be there and are read as
    they are.  IDX files are plain numbers, so reading an unverified file cannot run code.

    >>> (x_train, y_train), (x_test, y_test) = sj.data.load_mnist()   # doctest: +SKIP
    >>> x_train.shape, y_train.dtype
    ((60000, 28, 28), dtype('int64'))
    """
    if kind not in RESOURCES:
        raise ValueError(f"load_mnist kind must be one of {sorted(RESOURCES)}, got {kind!r}.")
    res = RESOURCES[kind]
    root = os.path.abspath(root or os.path.join(data_home(), res["folder"]))
    paths = [os.path.join(root, name) for name in _FILES]
    _fetch_all(res, paths, download, f"load_mnist(kind={kind!r})")
    x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"{kind} {split} files disagree: images {x.shape}, labels {y.shape}; "
                             f"expected (N, rows, cols) images and N labels.")
    return _finish(x_train, y_train, normalize), _finish(x_test, y_test, normalize)


def load_fashion_mnist(root=None, download=True, normalize=False):
    """Fashion-MNIST: ``load_mnist(root, download, kind="fashion", normalize)``."""
    return load_mnist(root, download, kind="fashion", normalize=normalize)


def _fetch_all(res, paths, download_, who):
    missing = [p for p in paths if not os.path.exists(p)]
    if not download_:
        if missing:
            raise FileNotFoundError(f"{who}: download=False but these files are missing; place "
                                    f"them by hand (from {res['mirrors'][0]}): "
                                    + ", ".join(missing))
        return
    for path in paths:
        name = os.path.basename(path)
        try:
            download([m + name for m in res["mirrors"]], path, md5=res["md5"][name])
        except DownloadError as e:
            still = [p for p in paths if not os.path.exists(p)]
            raise DownloadError(f"{who} could not download {name} ({e}). If this machine is "
                                f"offline, fetch the files from {res['mirrors'][0]} and place "
                                f"them at: " + ", ".join(still)) from e


def _finish(x, y, normalize):
    y = y.astype(np.int64)
    if normalize:
        x = (x[:, None].astype(np.float32) / np.float32(255.0))
    return np.ascontiguousarray(x), y
