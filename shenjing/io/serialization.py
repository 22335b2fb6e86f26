"""Saving and loading models: one safetensors file, the architecture as JSON, no pickle.

    model.save("model.safetensors")                 # or sj.io.save_model(model, path)
    model = sj.load_model("model.safetensors")      # compiled, optimizer state included
    model.fit(x, y, epochs=4, initial_epoch=model.epoch)   # continues bit for bit

    model.save_weights("w.safetensors"); other.load_weights("w.safetensors")

File format (version 1): a `safetensors <https://huggingface.co/docs/safetensors>`_ file.

* Tensors: the weights under their ``state_dict`` names (``layers.0.kernel``), so any
  safetensors reader sees them; every other array lives under ``shenjing/...``
  (``shenjing/optimizer/state/3/exp_avg``, ``shenjing/callbacks/0/best_weights/...``).
* Metadata (str → str): ``format`` = ``"shenjing"``, ``format_version`` = ``"1"``,
  ``kind`` = ``"model"`` or ``"weights"``, ``crc32`` (hex CRC-32 of every tensor's name,
  dtype, shape and bytes, in name order: damage inside the data is detected too) and
  ``shenjing``, a JSON document::

      {"format_version": 1, "shenjing_version": "0.1.0",
       "model": {"class_name", "module", "source", "config", "dtype"},   # sj.io.config
       "structure": {"shapes": {path: {"class", "shape"}}, "trainable": {path: bool},
                     "training": bool},
       "compile": {"loss", "metrics", "loss_weights", "mixed_precision",  # or null
                   "optimizer", "groups": [[weight names]], "bind": bool, "state": {...},
                   "loss_scaler": {"scale", "_growth_tracker", ...}},  # when it scales
       "training": {"epoch", "seed", "callbacks": [{"class_name", "state"}],
                    "generators": {path: PCG64 state}}}

  A weights file has only ``structure`` (so ``load_weights`` can build lazy layers).

Why one safetensors file: no code runs on load (safetensors holds raw arrays; the JSON is
parsed, never evaluated, and names only classes already imported — see ``sj.io.config``),
other tools read the weights, and one file is replaced atomically.  Every write goes to a
temporary file in the same folder, is flushed to disk (fsync) and renamed over the target
(``os.replace``), so a crash mid-write leaves the previous file intact.  Loading checks
everything (format, checksum, keys, shapes) before changing a model: a damaged file, a
file for another architecture or a missing weight raise a ``ModelFileError`` (a
``ValueError``) naming the file and the keys, never a partial load.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from .config import Decoder, Encoder
from .state import (
    apply_compile,
    apply_structure,
    apply_training,
    build_lazy,
    doc_compile,
    doc_structure,
    doc_training,
)

FORMAT, FORMAT_VERSION = "shenjing", 1
PREFIX = "shenjing/"  # tensors that are not weights

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "read_file",
           "ModelFileError"]


class ModelFileError(ValueError):
    """A file that is not a shenjing model/weights file, is damaged, or does not fit."""


# ---------------------------------------------------------------- files
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, write) -> str:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, fsync it, then rename it
    over ``path``; on any error the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def contiguous(a):
    """``a`` as a C-contiguous NumPy array (0-d arrays stay 0-d, unlike ascontiguousarray)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def checksum(tensors) -> str:
    """CRC-32 over each tensor's name, dtype, shape and bytes, in name order (hex)."""
    crc = 0
    for name in sorted(tensors):
        a = contiguous(tensors[name])
        crc = zlib.crc32(f"{name}|{a.dtype.str}|{a.shape}".encode(), crc)
        crc = zlib.crc32(memoryview(a.reshape(-1)).cast("B"), crc)
    return f"{crc:08x}"


def _write(path, tensors, metadata) -> str:
    from safetensors.numpy import save_file  # noqa: PLC0415  (import cost only when saving)

    tensors = {k: contiguous(v) for k, v in tensors.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), **metadata,
                "crc32": checksum(tensors)}
    return write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_file(path):
    """``(tensors, metadata)`` of a file written here (or any safetensors/.npz file),
    checked whole; ``ModelFileError`` naming ``path`` when it is damaged."""
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model or weights file at {path!r}.")
    damaged = f"{path!r} is not a shenjing model file or it is damaged"
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":  # a .npz from an older save_weights: arrays only, no pickle
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}, {"kind": "weights"}
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise ModelFileError(f"{damaged} ({e}).") from e
    try:
        with safe_open(path, framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: np.array(f.get_tensor(k)) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{damaged} ({e}).") from e
    if metadata.get("format") == FORMAT:
        if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelFileError(f"{path!r} was written in format version "
                                 f"{metadata['format_version']}; this shenjing reads up to "
                                 f"{FORMAT_VERSION}: upgrade shenjing.")
        if metadata.get("crc32") != checksum(tensors):
            raise ModelFileError(f"{damaged} (its checksum does not match its contents).")
    return tensors, metadata


def _document(path, metadata) -> dict:
    try:
        doc = json.loads(metadata.get("shenjing", "{}"))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path!r} is not a shenjing model file or it is damaged "
                             f"(bad JSON: {e}).") from e
    if metadata.get("format") != FORMAT or not isinstance(doc.get("model"), dict):
        raise ModelFileError(f"{path!r} holds no shenjing model (no architecture in its "
                             "metadata); if it holds weights, build the model in code and "
                             "call model.load_weights(path).")
    return doc


def _weights(tensors) -> dict:
    return {k: v for k, v in tensors.items() if not k.startswith(PREFIX)}


def _load_state(module, weights, path, strict=True):
    """``load_state_dict`` (it checks every key and shape before writing anything), with the
    file named in the error."""
    try:
        return module.load_state_dict(weights, strict=strict)
    except ValueError as e:
        raise ModelFileError(f"the weights in {path!r} do not fit this model: {e}") from e


# ---------------------------------------------------------------- weights only
def save_weights(module, path) -> str:
    """Write ``module.state_dict()`` to ``path`` atomically: a safetensors file, or a NumPy
    ``.npz`` when ``path`` ends in ``.npz``.  Returns the path.

    >>> sj.io.save_weights(model, "w.safetensors")
    """
    path = os.fspath(path)
    state = dict(module.state_dict())
    if any(k.startswith(PREFIX) for k in state):
        raise ValueError(f"weight names may not start with {PREFIX!r}.")
    if path.endswith(".npz"):
        return write_atomic(path, lambda tmp: _savez(tmp, state))
    shapes = {}
    structure = doc_structure(module, Encoder(shapes))
    return _write(path, {**state, **shapes},
                  {"kind": "weights", "shenjing": json.dumps({"structure": structure})})


def _savez(tmp, state):
    with open(tmp, "wb") as f:
        np.savez(f, **state)


def load_weights(module, path, strict=True):
    """Load weights from ``save_weights``/``save`` (or an ``.npz``) into ``module``.

    Lazy layers not built yet are built from the input shapes the file records.  Keys and
    shapes are all checked first: on a mismatch nothing is loaded and the error names them.
    Returns ``(missing_keys, unexpected_keys)`` (both empty when ``strict``).
    """
    tensors, metadata = read_file(path)
    try:
        doc = json.loads(metadata.get("shenjing", "{}"))
    except json.JSONDecodeError:
        doc = {}
    shapes = doc.get("structure", {}).get("shapes", {})
    if shapes:
        build_lazy(module, shapes, Decoder(tensors))
    return _load_state(module, _weights(tensors), os.fspath(path), strict)


# ---------------------------------------------------------------- whole models
def save_model(model, path, include_optimizer=True) -> str:
    """Write ``model`` to ``path`` (see the module docstring for the format): architecture,
    weights and, for a compiled ``sj.Model``, the compile settings, the optimizer state
    (unless ``include_optimizer=False``) and the training state.  Atomic; returns the path.

    >>> sj.io.save_model(model, "model.safetensors")
    """
    weights = dict(model.state_dict())
    if any(k.startswith(PREFIX) for k in weights):
        raise ValueError(f"weight names may not start with {PREFIX!r}.")
    extra = {}
    enc = Encoder(extra)
    from .. import __version__  # noqa: PLC0415

    doc = {"format_version": FORMAT_VERSION, "shenjing_version": __version__,
           "model": enc.module_spec(model), "structure": doc_structure(model, enc),
           "compile": None, "training": None}
    if getattr(model, "compiled", False):
        doc["compile"] = doc_compile(model, enc, include_optimizer)
    if hasattr(model, "epoch"):
        doc["training"] = doc_training(model, enc)
    return _write(path, {**weights, **extra}, {"kind": "model", "shenjing": json.dumps(doc)})


def load_model(path, custom_objects=None, compile=True):
    """The model saved at ``path`` by ``model.save``/``save_model``/``ModelCheckpoint``.

    Rebuilt from its configuration (classes must be imported, or given in
    ``custom_objects={"Net": Net}``), weights loaded, and — unless ``compile=False`` —
    compiled as it was, with the optimizer's state, ``model.epoch`` (epochs trained), the
    run seed and the callbacks' states, so ``fit(..., initial_epoch=model.epoch)``
    continues exactly where the saved run stopped.

    >>> model = sj.load_model("model.safetensors")
    """
    path = os.fspath(path)
    tensors, metadata = read_file(path)
    doc = _document(path, metadata)
    dec = Decoder(tensors, custom_objects)
    try:
        model = dec.module(doc["model"])
        apply_structure(model, doc.get("structure", {}), dec)
    except (KeyError, TypeError) as e:
        raise ModelFileError(f"{path!r}: the saved architecture cannot be rebuilt "
                             f"({type(e).__name__}: {e}).") from e
    _load_state(model, _weights(tensors), path)
    if compile and doc.get("compile") and hasattr(model, "compile"):
        apply_compile(model, doc["compile"], dec)
    if doc.get("training") and hasattr(model, "epoch"):
        apply_training(model, doc["training"], dec)
    return model
