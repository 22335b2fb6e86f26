"""Turn what ``fit``/``evaluate``/``predict`` receive into batches of raw arrays.

Two sources: in-memory arrays (NumPy arrays, Tensors, nested lists), cut into batches here
(one fancy-index per batch when shuffled, a view otherwise), or an iterable of batches such as
``sj.data.DataLoader`` yielding ``(x, y)`` tuples.  Batches come out as raw arrays so the
training loop can hand the labels to metrics without unwrapping.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import dtypes
from ..backend import to_device
from ..backend import to_numpy as _host
from ..random import generator
from ..tensor import Tensor


def as_array(a, what):
    """A raw array from a Tensor, array or nested list; float64 NumPy data becomes float32
    (the default float dtype) once, up front, so batches never upcast a float32 graph."""
    if isinstance(a, Tensor):
        a = a.data  # a float64 Tensor was made float64 on purpose: kept
    else:
        if not (hasattr(a, "__array_interface__") or hasattr(a, "__cuda_array_interface__")):
            try:
                a = np.asarray(a)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{what} must be an array, a Tensor or a nested list of "
                                f"numbers, got {type(a).__name__}.") from e
            if a.dtype == object:
                raise TypeError(f"{what} could not be turned into a numeric array (ragged or "
                                f"mixed data of type {type(a).__name__}).")
        if a.dtype == np.float64:
            a = a.astype(dtypes.get_default_dtype(), copy=False)
    if a.ndim == 0:
        raise ValueError(f"{what} must have a first (sample) axis, got a scalar.")
    return a


def is_batch_iterable(x) -> bool:
    """True for a DataLoader or another iterable of batches (not an array or a list)."""
    return (hasattr(x, "__iter__") and not isinstance(x, (Tensor, list, tuple, str, dict))
            and not hasattr(x, "__array_interface__")
            and not hasattr(x, "__cuda_array_interface__"))


def _raw(a):
    return a.data if isinstance(a, Tensor) else a


class ArrayBatches:
    """(x_batch, y_batch) raw arrays from whole arrays; a new order per epoch if ``shuffle``.

    The order comes from ``shenjing.random.generator()``, so ``sj.manual_seed`` fixes it.
    """

    def __init__(self, x, y, batch_size, shuffle=False, steps=None):
        self.x, self.y = x, y
        self.n = x.shape[0]
        self.batch_size, self.shuffle = batch_size, shuffle
        full = math.ceil(self.n / batch_size)
        self.steps = full if steps is None else min(steps, full)

    @property
    def samples(self):
        return min(self.n, self.steps * self.batch_size)

    def __len__(self):
        return self.steps

    def first_x(self):
        """The inputs of a first batch, without drawing random numbers (to build layers)."""
        return self.x[:self.batch_size]

    def set_epoch(self, epoch):
        """Orders come from the global generator, which ``fit`` sets per epoch."""

    def __iter__(self):
        x, y, bs = self.x, self.y, self.batch_size
        order = generator().permutation(self.n) if self.shuffle else None
        for i in range(self.steps):
            start = i * bs
            idx = slice(start, start + bs) if order is None else order[start:start + bs]
            yield x[idx], (None if y is None else y[idx])


class IterableBatches:
    """(x_batch, y_batch) raw arrays from a DataLoader or another iterable of batches.

    Each epoch calls ``iter(source)`` again; ``steps`` caps the batches per epoch.
    """

    def __init__(self, source, steps=None, need_y=True):
        self.source, self.need_y = source, need_y
        self.steps = steps
        if steps is None and hasattr(source, "__len__"):
            self.steps = len(source)
        dataset = getattr(source, "dataset", None)
        self.samples = len(dataset) if hasattr(dataset, "__len__") else None
        self.batch_size = getattr(source, "batch_size", None)

    def __len__(self):
        return self.steps or 0

    def first_x(self):
        return None  # would consume a batch of a one-shot iterator

    def set_epoch(self, epoch):
        """Pass the epoch on to a source that takes it (``DataLoader.set_epoch``)."""
        set_epoch = getattr(self.source, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __iter__(self):
        for i, batch in enumerate(self.source):
            if self.steps is not None and i >= self.steps:
                break
            yield self._split(batch)

    def _split(self, batch):
        if isinstance(batch, (tuple, list)):
            if len(batch) == 1:
                x, y = batch[0], None
            elif len(batch) == 2:
                x, y = batch
            else:
                raise ValueError(f"a batch from {type(self.source).__name__} has {len(batch)} "
                                 "fields; fit/evaluate expect (x, y) pairs.")
        else:
            x, y = batch, None
        if y is None and self.need_y:
            raise ValueError(f"the batches from {type(self.source).__name__} hold inputs only; "
                             "training and evaluation need (x, y) pairs, e.g. "
                             "DataLoader(TensorDataset(x, y), ...).")
        return _raw(as_array(x, "x batch")), (None if y is None else _raw(as_array(y, "y")))


def check_batch_size(batch_size, who):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size <= 0:
        raise ValueError(f"{who} expects a positive int for `batch_size`, got {batch_size!r}.")
    return int(batch_size)


def make_batches(x, y, batch_size, who, shuffle=False, steps=None, need_y=True):
    """ArrayBatches or IterableBatches for ``x``/``y`` as passed to ``who`` (fit, evaluate...)."""
    if x is None:
        raise ValueError(f"{who}() needs input data `x` (an array, a Tensor or a DataLoader).")
    if is_batch_iterable(x):
        if y is not None:
            raise ValueError(f"{who}() got a {type(x).__name__} as `x` and also `y`; a loader "
                             "yields (x, y) batches itself, so leave `y` out.")
        if batch_size is not None:
            raise ValueError(f"{who}() got `batch_size` with a {type(x).__name__}; the loader "
                             "decides the batch size, so leave `batch_size` out.")
        return IterableBatches(x, steps, need_y)
    batch_size = check_batch_size(batch_size, who)
    x = as_array(x, "x")
    if y is None and need_y:
        raise ValueError(f"{who}() needs targets `y` along with the inputs `x`.")
    if y is not None:
        y = as_array(y, "y")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{who}(): x and y must have the same number of samples, got "
                             f"{x.shape[0]} in x (shape {tuple(x.shape)}) and {y.shape[0]} in "
                             f"y (shape {tuple(y.shape)}).")
    if x.shape[0] == 0:
        raise ValueError(f"{who}() got no samples (x has shape {tuple(x.shape)}).")
    return ArrayBatches(x, y, batch_size, shuffle, steps)


def split_validation(x, y, validation_split):
    """Keras's rule: the LAST ``validation_split`` fraction, taken before any shuffling."""
    if not (isinstance(validation_split, numbers.Real) and 0 <= validation_split < 1):
        raise ValueError(f"validation_split must be a number in [0, 1), got "
                         f"{validation_split!r}.")
    if is_batch_iterable(x):
        raise ValueError("validation_split needs arrays; with a DataLoader pass "
                         "validation_data=another_loader (sj.data.random_split helps).")
    x, y = as_array(x, "x"), as_array(y, "y") if y is not None else None
    n = x.shape[0]
    if y is not None and y.shape[0] != n:
        raise ValueError(f"fit(): x and y must have the same number of samples, got {n} in x "
                         f"(shape {tuple(x.shape)}) and {y.shape[0]} in y "
                         f"(shape {tuple(y.shape)}).")
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves "
                         f"{split_at} for training and {n - split_at} for validation; both "
                         "need at least one.")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def validation_batches(validation_data, batch_size):
    """Batches for ``fit(validation_data=...)``: a loader or an ``(x_val, y_val)`` pair."""
    if is_batch_iterable(validation_data):
        return IterableBatches(validation_data)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a pair (x_val, y_val) or a DataLoader, got "
                         f"{type(validation_data).__name__}"
                         + (f" of length {len(validation_data)}"
                            if isinstance(validation_data, (tuple, list)) else "") + ".")
    xv, yv = validation_data
    return make_batches(xv, yv, batch_size, "fit (validation_data)")


class DeviceBatches:
    """The (x, y) batches of ``source`` copied to ``device``: one host->device copy per
    array (nothing when they are there already); every other attribute is the source's."""

    def __init__(self, source, device):
        self.source, self.device = source, device

    def __getattr__(self, name):
        return getattr(self.source, name)

    def __len__(self):
        return len(self.source)

    def first_x(self):
        x = self.source.first_x()
        return None if x is None else _to(x, self.device)

    def __iter__(self):
        device = self.device
        for x, y in self.source:
            yield _to(x, device), (None if y is None else _to(y, device))


def _to(a, device):
    if isinstance(a, (tuple, list)):
        return type(a)(_to(v, device) for v in a)
    return to_device(a, device)


def on_device(batches, device):
    """``batches`` as they are on the CPU, else wrapped to arrive on ``device``."""
    return batches if device is None or device.type == "cpu" else DeviceBatches(batches, device)


def to_numpy(out):
    """Model outputs (a Tensor or a tuple of them) as NumPy arrays."""
    if isinstance(out, (tuple, list)):
        return tuple(to_numpy(o) for o in out)
    return _host(out.data if isinstance(out, Tensor) else out)


def check_epochs(epochs, initial_epoch):
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"fit() expects a non-negative int for `{name}`, got {value!r}.")
    if initial_epoch > epochs:
        raise ValueError(f"fit(): initial_epoch={initial_epoch} is past epochs={epochs}; "
                         "`epochs` is the index of the last epoch, not a count from "
                         "initial_epoch.")
