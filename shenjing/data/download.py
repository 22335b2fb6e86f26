"""Download files once, verify them, extract archives safely; urllib only.

    path = sj.data.download("https://example.org/a.gz", os.path.join(sj.data.data_home(), "a.gz"),
                            md5="...")

A file is streamed to ``path + ".part"``, its checksum checked, and only then renamed to ``path``
(``os.replace``, atomic on one file system), so ``path`` never holds a truncated or corrupt file.
An interrupted transfer leaves the ``.part`` file; the next call asks the server for the rest
with an HTTP ``Range`` request (a server that ignores it sends the whole file again).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

CHUNK_SIZE = 1 << 20
USER_AGENT = "shenjing (python urllib)"


class ChecksumError(ValueError):
    """A file's digest differs from the published one."""


class DownloadError(ConnectionError):
    """No mirror could deliver a file (offline, server error, or an interrupted transfer)."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or device."""


def data_home() -> str:
    """Folder for downloaded data sets: ``$SHENJING_DATA``, else ``~/.cache/shenjing``."""
    home = os.environ.get("SHENJING_DATA") or os.path.join("~", ".cache", "shenjing")
    return os.path.abspath(os.path.expanduser(home))


def file_hash(path, algorithm="sha256") -> str:
    """Hex digest of a file's bytes (``"sha256"``, ``"md5"``, any ``hashlib`` name)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # integrity, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path, sha256=None, md5=None) -> None:
    """Raise ``ChecksumError`` (expected and actual digests) unless ``path`` matches."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected is None:
            continue
        actual = file_hash(path, algorithm)
        if actual != expected.lower():
            raise ChecksumError(f"{algorithm} mismatch for {path}: expected {expected.lower()}, "
                                f"got {actual}.")


def download(url, path, sha256=None, md5=None, timeout=60, verbose=True) -> str:
    """Fetch ``url`` to ``path`` unless it is already there; return ``path``.

    Args:
        url: a URL, or a list of mirror URLs tried in order (the next one on a network error).
        path: the target file; its folder is created.
        sha256, md5: the published digest(s).  An existing ``path`` is checked against them
            (a mismatch raises ``ChecksumError``: delete the file to download it again).  A new
            download that does not match is deleted (nothing is cached) and ``ChecksumError``
            names the expected and the actual digest.
        timeout: seconds to wait for the server on each connection.
        verbose: print one line to stderr when a download starts.

    Raises ``DownloadError`` when no mirror delivers the file, naming the file's exact target
    path so it can be placed there by hand on an offline machine.

    >>> sj.data.download("https://example.org/x.gz", "/tmp/x.gz", md5="0123...")  # doctest: +SKIP
    """
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("download needs at least one URL, got an empty list.")
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        try:
            verify(path, sha256, md5)
        except ChecksumError as e:
            raise ChecksumError(f"{e} The file was there before this call; delete it to "
                                f"download it again.") from None
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part = path + ".part"
    if (sha256 or md5) and os.path.exists(part) and _matches(part, sha256, md5):
        os.replace(part, path)  # a transfer that ended just before its rename
        return path
    errors = []
    for u in urls:
        if verbose:
            print(f"Downloading {u} -> {path}", file=sys.stderr)
        try:
            if _fetch(u, part, timeout) and not _matches(part, sha256, md5):
                os.remove(part)  # the kept piece may come from another version: once more, whole
                _fetch(u, part, timeout)
        except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
            errors.append(f"{u}: {e}")
            continue
        try:
            verify(part, sha256, md5)
        except ChecksumError:
            os.remove(part)
            raise
        os.replace(part, path)
        return path
    raise DownloadError(
        f"Could not download {os.path.basename(path)} ({'; '.join(errors)}). If this machine is "
        f"offline, fetch it elsewhere from {urls[0]} and place it at {path}")


def _matches(path, sha256, md5) -> bool:
    try:
        verify(path, sha256, md5)
    except ChecksumError:
        return False
    return True


def _fetch(url, part, timeout) -> bool:
    """Stream ``url`` into ``part``, continuing an existing ``part``; True if it resumed."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not have:  # 416: the range is past the end; start over
            raise
        os.remove(part)
        return _fetch(url, part, timeout)
    with response:
        status = getattr(response, "status", None)
        resumed = have > 0 and status == 206 and \
            response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        if have and status == 206 and not resumed:  # another range: start over without one
            os.remove(part)
            response.close()
            return _fetch(url, part, timeout)
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        written = 0
        with open(part, "ab" if resumed else "wb") as f:
            for block in iter(lambda: response.read(CHUNK_SIZE), b""):
                f.write(block)
                written += len(block)
    if expected is not None and written < expected:
        raise DownloadError(f"transfer interrupted after {written} of {expected} bytes; the "
                            f"part is kept in {part} and the next call resumes it")
    return resumed


def _check_member(member, dest):
    """Refuse absolute names, ``..``, links and devices: only files and folders under dest."""
    name = member.name
    target = os.path.realpath(os.path.join(dest, name))
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/") or \
            os.path.commonpath([dest, target]) != dest:
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}; "
                                 "refusing to extract this archive.")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"archive member {name!r} is a link or special file; "
                                 "refusing to extract this archive.")


def extract_archive(archive, dest) -> str:
    """Extract a tar archive (.tar, .tar.gz, ...) into folder ``dest``; return ``dest``.

    Every member is checked before anything is written (``UnsafeArchiveError`` for a member
    outside ``dest``, a link or a device).  Files are unpacked into a temporary folder inside
    ``dest`` and moved into place one by one with ``os.replace``, so an interrupted extraction
    never leaves a truncated file under its final name.
    """
    dest = os.path.realpath(os.fspath(dest))
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member, dest)
        tmp = tempfile.mkdtemp(prefix=".extract-", dir=dest)
        try:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **kwargs)
            for member in members:
                if member.isfile():
                    target = os.path.join(dest, member.name)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.replace(os.path.join(tmp, member.name), target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
