"""download / extract_archive end to end against a local http.server (Range-aware)."""
import hashlib
import io
import os
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import shenjing.data.download  # noqa: F401 (the module, shadowed by the function below)

dl = sys.modules["shenjing.data.download"]
BODY = bytes(range(256)) * 300  # 76,800 bytes: several read blocks


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range`` unless the path is in ``server.no_range``;
    a path in ``server.truncate`` gets half of its bytes once, then the connection drops."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if rng and self.path not in srv.no_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        data = body[start:]
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.path in srv.truncate:
            srv.truncate.discard(self.path)
            data = data[:len(data) // 2]
            self.close_connection = True
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.no_range, srv.truncate = {}, [], set(), set()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _md5(b):
    return hashlib.md5(b).hexdigest()


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def test_download_then_cached(server, tmp_path):
    server.files["/a.bin"] = BODY
    target = tmp_path / "sub" / "a.bin"
    out = dl.download(server.url + "/a.bin", str(target), md5=_md5(BODY), verbose=False)
    assert out == str(target) and target.read_bytes() == BODY
    assert not os.path.exists(str(target) + ".part")
    assert len(server.log) == 1
    dl.download(server.url + "/a.bin", target, sha256=_sha256(BODY), md5=_md5(BODY),
                verbose=False)
    assert len(server.log) == 1  # second call: verified on disk, server not asked


def test_checksum_mismatch_caches_nothing(server, tmp_path):
    server.files["/a.bin"] = BODY[::-1]  # the server sends other bytes
    target = tmp_path / "a.bin"
    with pytest.raises(dl.ChecksumError) as err:
        dl.download(server.url + "/a.bin", target, sha256=_sha256(BODY), verbose=False)
    msg = str(err.value)
    assert _sha256(BODY) in msg and _sha256(BODY[::-1]) in msg
    assert not target.exists() and not os.path.exists(str(target) + ".part")


def test_existing_file_with_wrong_digest_is_reported_not_replaced(server, tmp_path):
    server.files["/a.bin"] = BODY
    target = tmp_path / "a.bin"
    target.write_bytes(b"user's own bytes")
    with pytest.raises(dl.ChecksumError, match="delete it"):
        dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert target.read_bytes() == b"user's own bytes" and server.log == []


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.files["/a.bin"] = BODY
    server.truncate.add("/a.bin")
    target = tmp_path / "a.bin"
    part = str(target) + ".part"
    with pytest.raises(dl.DownloadError, match="interrupted"):
        dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert not target.exists() and os.path.getsize(part) == len(BODY) // 2
    dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert server.log[-1] == ("/a.bin", f"bytes={len(BODY) // 2}-")
    assert target.read_bytes() == BODY and not os.path.exists(part)


def test_server_ignoring_range_gets_full_download(server, tmp_path):
    server.files["/a.bin"] = BODY
    server.no_range.add("/a.bin")
    target = tmp_path / "a.bin"
    with open(str(target) + ".part", "wb") as f:
        f.write(BODY[:1000])
    dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert server.log == [("/a.bin", "bytes=1000-")]
    assert target.read_bytes() == BODY  # the 200 body replaced the part, not appended to it


def test_stale_part_is_fetched_again_whole(server, tmp_path):
    server.files["/a.bin"] = BODY
    target = tmp_path / "a.bin"
    with open(str(target) + ".part", "wb") as f:
        f.write(b"\xff" * 1000)  # a piece of some other file
    dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert [r for _, r in server.log] == ["bytes=1000-", None]
    assert target.read_bytes() == BODY


def test_complete_part_is_used_and_overlong_part_restarts(server, tmp_path):
    server.files["/a.bin"] = BODY
    target = tmp_path / "a.bin"
    with open(str(target) + ".part", "wb") as f:
        f.write(BODY)  # finished, but not yet renamed
    dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert target.read_bytes() == BODY and server.log == []
    target.unlink()
    with open(str(target) + ".part", "wb") as f:
        f.write(BODY + b"junk")  # longer than the file: the server answers 416
    dl.download(server.url + "/a.bin", target, md5=_md5(BODY), verbose=False)
    assert [r for _, r in server.log] == [f"bytes={len(BODY) + 4}-", None]
    assert target.read_bytes() == BODY


def test_mirrors_tried_in_order(server, tmp_path):
    server.files["/b/a.bin"] = BODY
    target = tmp_path / "a.bin"
    dl.download([server.url + "/a/a.bin", server.url + "/b/a.bin"], target, md5=_md5(BODY),
                verbose=False)
    assert [p for p, _ in server.log] == ["/a/a.bin", "/b/a.bin"] and target.read_bytes() == BODY


def test_offline_error_names_target_path(tmp_path):
    target = tmp_path / "x" / "a.bin"
    with pytest.raises(dl.DownloadError) as err:
        dl.download("http://127.0.0.1:1/a.bin", target, md5="0" * 32, verbose=False)
    assert str(target) in str(err.value) and "place it at" in str(err.value)
    assert not target.exists()


def test_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SHENJING_DATA", str(tmp_path))
    assert dl.data_home() == str(tmp_path)
    monkeypatch.delenv("SHENJING_DATA")
    assert dl.data_home() == os.path.join(os.path.expanduser("~"), ".cache", "shenjing")


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_extract_archive(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    _tar(archive, [("top/a.txt", b"a", "file"), ("top/sub/b.txt", b"bb", "file")])
    dest = tmp_path / "out"
    dl.extract_archive(archive, dest)
    assert (dest / "top" / "a.txt").read_bytes() == b"a"
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"bb"
    assert sorted(os.listdir(dest)) == ["top"]  # the temporary folder is gone


@pytest.mark.parametrize("name,kind", [("../evil.txt", "file"), ("top/../../evil.txt", "file"),
                                       ("/tmp/shenjing-evil.txt", "file"),
                                       ("top/link", "symlink")])
def test_extract_refuses_unsafe_members(tmp_path, name, kind):
    archive = tmp_path / "bad.tar.gz"
    _tar(archive, [("top/a.txt", b"a", "file"), (name, b"evil", kind)])
    dest = tmp_path / "out"
    with pytest.raises(dl.UnsafeArchiveError, match="refusing"):
        dl.extract_archive(archive, dest)
    assert not (tmp_path / "evil.txt").exists() and not os.path.exists("/tmp/shenjing-evil.txt")
    assert os.listdir(dest) == []  # checked before anything is written
