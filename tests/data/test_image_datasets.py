"""MNIST (IDX) and CIFAR (pickle tar.gz) loaders on tiny files in the exact official formats."""
import functools
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import shenjing as sj
from shenjing.data.datasets import cifar, mnist
from shenjing.data.download import ChecksumError, DownloadError, UnsafeArchiveError

DEAD = "http://127.0.0.1:1/"  # nothing listens on port 1: connection refused at once


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """Serve the folder ``tmp_path/www`` over HTTP; yields (folder, base URL ending in /)."""
    www = tmp_path / "www"
    www.mkdir()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def _idx_bytes(a, code=0x08):
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def _write_mnist(folder, n_train=7, n_test=3, seed=0):
    """The four official gz files with random content; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train).astype(np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test).astype(np.uint8)}
    os.makedirs(folder, exist_ok=True)
    for name, a in arrays.items():
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(_idx_bytes(a))
    return arrays


# ---------------------------------------------------------------- IDX / MNIST


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                        (0x0C, np.int32), (0x0D, np.float32),
                                        (0x0E, np.float64)])
def test_read_idx_types_round_trip(tmp_path, code, dtype):
    a = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    raw = tmp_path / "a.idx"
    raw.write_bytes(_idx_bytes(a, code))
    out = sj.data.read_idx(raw)
    assert out.dtype == dtype and out.dtype.isnative and out.shape == (2, 3, 5)
    np.testing.assert_array_equal(out, a)
    gz = tmp_path / "a.idx.gz"
    gz.write_bytes(gzip.compress(_idx_bytes(a, code)))
    np.testing.assert_array_equal(sj.data.read_idx(gz), a)


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file"):
        sj.data.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((4, 4), np.uint8))[:-3])
    with pytest.raises(ValueError, match=r"truncated"):
        sj.data.read_idx(short)


def test_load_mnist_from_placed_files(tmp_path):
    arrays = _write_mnist(tmp_path / "m")
    (x_train, y_train), (x_test, y_test) = sj.data.load_mnist(tmp_path / "m", download=False)
    assert x_train.shape == (7, 28, 28) and x_test.shape == (3, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.shape == (3,)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    (xn, yn), _ = sj.data.load_mnist(tmp_path / "m", download=False, normalize=True)
    assert xn.shape == (7, 1, 28, 28) and xn.dtype == np.float32 and yn.dtype == np.int64
    np.testing.assert_allclose(xn[:, 0], x_train / 255.0, rtol=1e-6)
    assert 0 <= xn.min() and xn.max() <= 1


def test_load_mnist_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        sj.data.load_mnist(tmp_path, download=False)
    with pytest.raises(ValueError, match="kind"):
        sj.data.load_mnist(tmp_path, kind="kmnist")


@pytest.mark.parametrize("kind", ["mnist", "fashion"])
def test_load_mnist_downloads_and_checks(serve, tmp_path, monkeypatch, kind):
    www, url = serve
    arrays = _write_mnist(www)
    md5 = {name: _md5(www / name) for name in arrays}
    monkeypatch.setitem(mnist.RESOURCES, kind, {"folder": kind, "mirrors": [DEAD, url],
                                                "md5": md5})
    monkeypatch.setenv("SHENJING_DATA", str(tmp_path / "home"))
    (x_train, _), (_, y_test) = sj.data.load_mnist(kind=kind)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert sorted(os.listdir(tmp_path / "home" / kind)) == sorted(arrays)
    (www / "train-images-idx3-ubyte.gz").write_bytes(b"changed on the server")
    sj.data.load_mnist(kind=kind)  # cached and verified: the server is not read again


def test_load_mnist_corrupt_download(serve, tmp_path, monkeypatch):
    www, url = serve
    arrays = _write_mnist(www)
    md5 = {name: _md5(www / name) for name in arrays}
    md5["t10k-images-idx3-ubyte.gz"] = "0" * 32  # the published digest differs from the served
    monkeypatch.setitem(mnist.RESOURCES, "mnist", {"folder": "m", "mirrors": [url], "md5": md5})
    with pytest.raises(ChecksumError, match="0" * 32):
        sj.data.load_mnist(tmp_path / "m")
    assert not (tmp_path / "m" / "t10k-images-idx3-ubyte.gz").exists()
    assert not any(n.endswith(".part") for n in os.listdir(tmp_path / "m"))


def test_load_mnist_offline_names_every_missing_path(tmp_path, monkeypatch):
    res = dict(mnist.RESOURCES["mnist"], mirrors=[DEAD])
    monkeypatch.setitem(mnist.RESOURCES, "mnist", res)
    with pytest.raises(DownloadError) as err:
        sj.data.load_mnist(tmp_path / "m")
    for name in res["md5"]:
        assert str(tmp_path / "m" / name) in str(err.value)


def test_published_digests_table():
    assert mnist.RESOURCES["mnist"]["md5"]["train-images-idx3-ubyte.gz"] == \
        "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist.RESOURCES["fashion"]["md5"]["t10k-labels-idx1-ubyte.gz"] == \
        "bb300cfdad3c16e7a12a480ee83cd310"
    assert cifar.RESOURCES["cifar10"]["md5"] == "c58f30108f718f92721af3b95e74349a"
    assert cifar.RESOURCES["cifar100"]["md5"] == "eb9058c3a382ffc7106e4002c42a8d85"


# ---------------------------------------------------------------- CIFAR


def _cifar_tar(path, hundred=False, n=4, extra=(), seed=0):
    """A tar.gz laid out like the official one; returns {batch name: (data, labels)}."""
    rng = np.random.default_rng(seed)
    top = "cifar-100-python" if hundred else "cifar-10-batches-py"
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + \
        ["test_batch"]
    written = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = rng.integers(0, 256, (n, 3072), np.uint8)
            batch = {b"batch_label": name.encode(), b"data": data,
                     b"filenames": [b"img%d.png" % i for i in range(n)]}
            if hundred:
                fine, coarse = rng.integers(0, 100, n).tolist(), rng.integers(0, 20, n).tolist()
                batch.update({b"fine_labels": fine, b"coarse_labels": coarse})
                written[name] = (data, fine, coarse)
            else:
                batch[b"labels"] = rng.integers(0, 10, n).tolist()
                written[name] = (data, batch[b"labels"])
            _add(tar, f"{top}/{name}", pickle.dumps(batch, protocol=2))
        _add(tar, f"{top}/batches.meta", pickle.dumps({b"label_names": []}, protocol=2))
        for name, blob in extra:
            _add(tar, name, blob)
    return written


def _add(tar, name, blob):
    info = tarfile.TarInfo(name)
    info.size = len(blob)
    tar.addfile(info, io.BytesIO(blob))


def _serve_cifar(monkeypatch, www, url, name, **kw):
    written = _cifar_tar(www / cifar.RESOURCES[name]["archive"], name == "cifar100", **kw)
    archive = cifar.RESOURCES[name]["archive"]
    res = dict(cifar.RESOURCES[name], urls=[DEAD + archive, url + archive],
               md5=_md5(www / archive))
    monkeypatch.setitem(cifar.RESOURCES, name, res)
    return written


def test_load_cifar10_download_extract_parse(serve, tmp_path, monkeypatch):
    www, url = serve
    written = _serve_cifar(monkeypatch, www, url, "cifar10")
    (x_train, y_train), (x_test, y_test) = sj.data.load_cifar10(tmp_path / "c")
    assert x_train.shape == (20, 3, 32, 32) and x_test.shape == (4, 3, 32, 32)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and y_test.dtype == np.int64
    data, labels = written["data_batch_2"]
    np.testing.assert_array_equal(x_train[4:8], data.reshape(4, 3, 32, 32))
    np.testing.assert_array_equal(x_train[5, 1].ravel(), data[1, 1024:2048])  # NCHW: G plane
    np.testing.assert_array_equal(y_train[4:8], labels)
    np.testing.assert_array_equal(y_test, written["test_batch"][1])
    assert (tmp_path / "c" / "cifar-10-batches-py" / "test_batch").exists()
    (www / "cifar-10-python.tar.gz").unlink()  # second load: from the extracted folder
    (x2, _), _ = sj.data.load_cifar10(tmp_path / "c")
    np.testing.assert_array_equal(x2, x_train)


@pytest.mark.parametrize("mode", ["fine", "coarse"])
def test_load_cifar100_label_modes(serve, tmp_path, monkeypatch, mode):
    www, url = serve
    written = _serve_cifar(monkeypatch, www, url, "cifar100")
    (x_train, y_train), (x_test, y_test) = sj.data.load_cifar100(tmp_path, label_mode=mode)
    assert x_train.shape == (4, 3, 32, 32) and y_train.dtype == np.int64
    _, fine, coarse = written["test"]
    np.testing.assert_array_equal(y_test, fine if mode == "fine" else coarse)
    with pytest.raises(ValueError, match="label_mode"):
        sj.data.load_cifar100(tmp_path, label_mode="medium")


def test_cifar_checksum_mismatch_extracts_nothing(serve, tmp_path, monkeypatch):
    www, url = serve
    _serve_cifar(monkeypatch, www, url, "cifar10")
    monkeypatch.setitem(cifar.RESOURCES, "cifar10",
                        dict(cifar.RESOURCES["cifar10"], md5="1" * 32))
    with pytest.raises(ChecksumError):
        sj.data.load_cifar10(tmp_path)
    assert os.listdir(tmp_path) == ["www"]


def test_cifar_archive_with_traversal_member_is_refused(serve, tmp_path, monkeypatch):
    www, url = serve
    _serve_cifar(monkeypatch, www, url, "cifar10", extra=[("../../escaped.txt", b"x")])
    with pytest.raises(UnsafeArchiveError, match="escaped.txt"):
        sj.data.load_cifar10(tmp_path / "a" / "b")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "a" / "b" / "cifar-10-batches-py").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar_unpickler_refuses_code(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in cifar.RESOURCES["cifar10"]["train"] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|nt.system"):
        sj.data.load_cifar10(tmp_path, download=False)
    assert not (tmp_path / "pwned").exists()


def test_cifar_offline_and_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(cifar.RESOURCES, "cifar10",
                        dict(cifar.RESOURCES["cifar10"], urls=[DEAD + "c.tar.gz"]))
    with pytest.raises(DownloadError) as err:
        sj.data.load_cifar10(tmp_path)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(err.value)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        sj.data.load_cifar10(tmp_path, download=False)


def test_synthetic_cifar10():
    (x_train, y_train), (x_test, y_test) = sj.data.synthetic_cifar10(50, 10, seed=3)
    assert x_train.shape == (50, 3, 32, 32) and x_test.shape == (10, 3, 32, 32)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert 0 <= y_train.min() and y_train.max() < 10
    (x2, y2), _ = sj.data.synthetic_cifar10(50, 10, seed=3)
    np.testing.assert_array_equal(x2, x_train)
    np.testing.assert_array_equal(y2, y_train)
    (x3, _), _ = sj.data.synthetic_cifar10(50, 10, seed=4)
    assert not np.array_equal(x3, x_train)
    # learnable: images of one class share their mean colour
    (x, y), _ = sj.data.synthetic_cifar10(400, 0, seed=0)
    means = x.reshape(400, 3, -1).mean(axis=2)
    within = np.mean([means[y == c].std(axis=0).mean() for c in range(10)])
    assert within < 2 < means.std(axis=0).mean()
