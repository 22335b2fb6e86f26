"""Composable, seeded image transforms on NumPy samples, and a Dataset wrapper that applies them.

    from shenjing.data import transforms as T
    augment = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                         T.ToFloat(), T.Normalize(mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])])
    train = T.TransformDataset(sj.data.TensorDataset(x_train, y_train), augment)
    loader = sj.data.DataLoader(train, batch_size=128, shuffle=True)

A transform takes one image in CHW layout (a 2-D HW image is treated as one channel, and an
NCHW batch is transformed sample by sample, each with its own random draw; the cheap ones are
vectorised).  Transforms never write into their input, so they may be given rows of a data set.
Random transforms take ``rng``: None draws from ``shenjing.random.generator()`` (so
``sj.manual_seed`` fixes them), an int seeds a generator the transform owns, or pass a
``np.random.Generator``.  Geometry uses inverse mapping in NumPy (no SciPy): each output pixel
reads the input at the transformed position, bilinear or nearest, ``fill`` outside.
"""
from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from ..random import generator
from .dataset import Dataset, _check_dataset

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class Transform:
    """Base class: ``__call__(x)`` on one CHW image; subclasses write ``_apply(x_chw)``."""

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim == 2:
            return self._apply(x[None])[0]
        if x.ndim == 3:
            return self._apply(x)
        if x.ndim == 4:
            return self._apply_batch(x)
        raise ValueError(f"{type(self).__name__} expects an image of shape (C, H, W), (H, W) or "
                         f"a batch (N, C, H, W), got shape {x.shape}.")

    def _apply(self, x):
        raise NotImplementedError

    def _apply_batch(self, x):
        return np.stack([self._apply(s) for s in x]) if len(x) else x.copy()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_") and k != "rng")
        return f"{type(self).__name__}({args})"


class RandomTransform(Transform):
    """A transform that draws random numbers through ``rng`` (see the module docstring)."""

    def __init__(self, rng=None):
        if rng is None or isinstance(rng, np.random.Generator):
            self.rng = rng
        elif isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
            self.rng = np.random.default_rng(int(rng))
        else:
            raise TypeError(f"{type(self).__name__} rng must be None, an int seed or a "
                            f"np.random.Generator, got {type(rng).__name__}.")

    def _gen(self) -> np.random.Generator:
        return self.rng if self.rng is not None else generator()


class Compose(Transform):
    """Apply ``transforms`` in order: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose expects callables, got {type(t).__name__}.")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToFloat(Transform):
    """``x.astype(dtype) * scale``: uint8 pixels 0..255 → float32 in [0, 1] by default."""

    def __init__(self, scale=1 / 255, dtype="float32"):
        self.scale, self.dtype = float(scale), np.dtype(dtype)

    def __call__(self, x):
        return np.asarray(x).astype(self.dtype) * self.dtype.type(self.scale)


class Normalize(Transform):
    """Per channel ``(x - mean[c]) / std[c]``; scalars apply to every channel.  CHW or NCHW."""

    def __init__(self, mean, std):
        self.mean, self.std = _per_channel(mean, "mean"), _per_channel(std, "std")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize std must be positive, got {std!r}.")

    def __call__(self, x):
        x = np.asarray(x)
        mean, std = self.mean, self.std
        if mean.size > 1 or std.size > 1:
            channels = x.shape[-3] if x.ndim >= 3 else 1
            if max(mean.size, std.size) != channels:
                raise ValueError(f"Normalize has {max(mean.size, std.size)} channel values but "
                                 f"the image has {channels} channels (shape {x.shape}, CHW).")
            mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        return (x - mean.astype(x.dtype)) / std.astype(x.dtype)


class RandomHorizontalFlip(RandomTransform):
    """Mirror left-right (the W axis) with probability ``p``."""

    axis = -1

    def __init__(self, p=0.5, rng=None):
        super().__init__(rng)
        self.p = _probability(p, type(self).__name__)

    def _apply(self, x):
        if self._gen().random() < self.p:
            return np.ascontiguousarray(np.flip(x, self.axis))
        return x

    def _apply_batch(self, x):
        flip = self._gen().random(len(x)) < self.p
        out = x.copy()
        out[flip] = np.flip(x[flip], self.axis)
        return out


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom (the H axis) with probability ``p``."""

    axis = -2


class RandomCrop(RandomTransform):
    """Pad by ``padding`` then cut a random ``size`` window (int or (h, w)).

    ``padding``: int or (pad_h, pad_w), added on both sides; ``pad_mode``: ``"constant"``
    (``fill``), ``"reflect"`` or ``"edge"``.  The classic CIFAR augmentation is
    ``RandomCrop(32, padding=4)``.
    """

    def __init__(self, size, padding=0, pad_mode="constant", fill=0, rng=None):
        super().__init__(rng)
        self.size, self.padding = _pair(size, "size", 1), _pair(padding, "padding", 0)
        if pad_mode not in ("constant", "reflect", "edge"):
            raise ValueError(f"RandomCrop pad_mode must be 'constant', 'reflect' or 'edge', "
                             f"got {pad_mode!r}.")
        self.pad_mode, self.fill = pad_mode, fill

    def _apply(self, x):
        (h, w), (ph, pw) = self.size, self.padding
        if (ph or pw) and self.pad_mode == "constant":  # np.pad is slow for small images
            C, H, W = x.shape
            padded = np.full((C, H + 2 * ph, W + 2 * pw), self.fill, dtype=x.dtype)
            padded[:, ph:ph + H, pw:pw + W] = x
            x = padded
        elif ph or pw:
            x = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), mode=self.pad_mode)
        H, W = x.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop size {(h, w)} is larger than the padded image "
                             f"{(H, W)}; crop smaller or pad more.")
        rng = self._gen()
        i, j = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        return x[:, i:i + h, j:j + w].copy()


class RandomTranslation(RandomTransform):
    """Shift by whole pixels, dx ∈ [-max_dx, max_dx] (right), dy ∈ [-max_dy, max_dy] (down).

    Uncovered pixels get ``fill``; the shape is kept.
    """

    def __init__(self, max_dx, max_dy, fill=0, rng=None):
        super().__init__(rng)
        self.max_dx, self.max_dy = _pair(max_dx, "max_dx", 0)[0], _pair(max_dy, "max_dy", 0)[0]
        self.fill = fill

    def _apply(self, x):
        rng = self._gen()
        dx = int(rng.integers(-self.max_dx, self.max_dx + 1))
        dy = int(rng.integers(-self.max_dy, self.max_dy + 1))
        H, W = x.shape[-2:]
        out = np.full_like(x, self.fill)
        if abs(dy) < H and abs(dx) < W:
            out[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
                x[:, max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
        return out


class RandomRotation(RandomTransform):
    """Rotate about the centre by an angle drawn from ``degrees`` (d → [-d, d], or (lo, hi)).

    Positive angles turn the image counter-clockwise, as ``np.rot90`` does.  ``interpolation``:
    ``"bilinear"`` or ``"nearest"``; pixels from outside the image get ``fill``.
    """

    def __init__(self, degrees, interpolation="bilinear", fill=0, rng=None):
        super().__init__(rng)
        self.degrees = _range(degrees, "degrees")
        self.interpolation, self.fill = _interpolation(interpolation), fill

    def _apply(self, x):
        theta = math.radians(self._gen().uniform(*self.degrees))
        c, s = math.cos(theta), math.sin(theta)
        return _warp(x, np.array([[c, s], [-s, c]]), self.interpolation, self.fill)


class RandomZoom(RandomTransform):
    """Scale about the centre by a factor drawn from ``scale`` (> 1 zooms in); shape kept."""

    def __init__(self, scale=(0.9, 1.1), interpolation="bilinear", fill=0, rng=None):
        super().__init__(rng)
        self.scale = _range(scale, "scale")
        if self.scale[0] <= 0:
            raise ValueError(f"RandomZoom scale factors must be positive, got {scale!r}.")
        self.interpolation, self.fill = _interpolation(interpolation), fill

    def _apply(self, x):
        factor = self._gen().uniform(*self.scale)
        return _warp(x, np.eye(2) / factor, self.interpolation, self.fill)


class ColorJitter(RandomTransform):
    """Random brightness then contrast: ``x * b``, then ``(x - m) * c + m`` (m: grey mean).

    ``b`` is drawn from [max(0, 1 - brightness), 1 + brightness], ``c`` likewise from
    ``contrast``.  Integer images are rounded and clipped to their dtype's range; float images
    are not clipped (their range is yours to know).
    """

    def __init__(self, brightness=0.0, contrast=0.0, rng=None):
        super().__init__(rng)
        for name, v in (("brightness", brightness), ("contrast", contrast)):
            if not isinstance(v, numbers.Real) or v < 0:
                raise ValueError(f"ColorJitter {name} must be a non-negative number, got {v!r}.")
        self.brightness, self.contrast = float(brightness), float(contrast)

    def _apply(self, x):
        rng = self._gen()
        b = rng.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)
        c = rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)
        out = x.astype(np.float32) * np.float32(b)
        if out.shape[0] == 3:  # ITU-R 601 luma, as PIL's convert("L")
            m = np.float32((_LUMA @ out.reshape(3, -1)).mean())
        else:
            m = np.float32(out.mean())
        return _like((out - m) * np.float32(c) + m, x)


class RandomErasing(RandomTransform):
    """With probability ``p`` set a random rectangle to ``value`` (Zhong et al. 2017).

    The rectangle's area is a fraction drawn from ``scale`` of the image, its aspect h/w
    log-uniform in ``ratio``; up to 10 draws are tried to fit it inside (else nothing is erased).
    ``value``: a number, one per channel, or ``"random"`` (standard normal noise).
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, rng=None):
        super().__init__(rng)
        self.p = _probability(p, "RandomErasing")
        self.scale, self.ratio = _range(scale, "scale"), _range(ratio, "ratio")
        if not 0 <= self.scale[0] <= self.scale[1] <= 1 or self.ratio[0] <= 0:
            raise ValueError(f"RandomErasing needs 0 <= scale <= 1 and ratio > 0, got "
                             f"scale={scale!r}, ratio={ratio!r}.")
        self.value = value

    def _apply(self, x):
        rng = self._gen()
        if rng.random() >= self.p:
            return x
        C, H, W = x.shape
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            area = H * W * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < h < H and 0 < w < W:
                i, j = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
                out = x.copy()
                if isinstance(self.value, str) and self.value == "random":
                    patch = rng.standard_normal((C, h, w))
                else:
                    patch = np.asarray(self.value, dtype=np.float64).reshape(-1, 1, 1)
                out[:, i:i + h, j:j + w] = patch
                return out
        return x


class TransformDataset(Dataset):
    """``dataset`` with ``transform`` applied to each sample's first field, at read time.

    ``ds[i]`` returns ``(transform(x), target_transform(y), *rest)`` for a sample ``(x, y, ...)``
    (a sample that is not a tuple is passed whole to ``transform``).  Nothing is copied up
    front and every read draws fresh random parameters, so each epoch sees new augmentations.
    The DataLoader reads a TransformDataset sample by sample; an untransformed TensorDataset
    keeps its vectorised fast path.

    >>> train = TransformDataset(sj.data.TensorDataset(x, y), T.RandomHorizontalFlip())
    >>> xb, yb = next(iter(sj.data.DataLoader(train, batch_size=64, shuffle=True)))
    """

    def __init__(self, dataset, transform=None, target_transform=None):
        _check_dataset(dataset, "TransformDataset")
        for name, t in (("transform", transform), ("target_transform", target_transform)):
            if t is not None and not callable(t):
                raise TypeError(f"TransformDataset `{name}` must be callable or None, "
                                f"got {type(t).__name__}.")
        self.dataset, self.transform, self.target_transform = dataset, transform, target_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        if not isinstance(index, (numbers.Integral, np.integer)):
            raise TypeError(f"TransformDataset takes one int index at a time (transforms are "
                            f"per sample), got {type(index).__name__}.")
        sample = self.dataset[int(index)]
        if not isinstance(sample, tuple):
            return self.transform(sample) if self.transform else sample
        x, *rest = sample
        if self.transform is not None:
            x = self.transform(x)
        if rest and self.target_transform is not None:
            rest[0] = self.target_transform(rest[0])
        return (x, *rest)

    def __repr__(self) -> str:
        return f"TransformDataset({self.dataset!r}, transform={self.transform!r})"


def _warp(x, a, interpolation, fill):
    """Inverse mapping about the centre: out[:, p] = x[:, a @ (p - centre) + centre].

    The image gets a one-pixel border of ``fill`` and source positions are clipped onto it, so
    every read is in range and anything from outside blends into ``fill``.
    """
    C, H, W = x.shape
    ii, jj = _grid(H, W)
    ci, cj = (H - 1) / 2, (W - 1) / 2
    pi = np.clip(a[0, 0] * ii + a[0, 1] * jj + (ci + 1), 0, H + 1)  # +1: the border
    pj = np.clip(a[1, 0] * ii + a[1, 1] * jj + (cj + 1), 0, W + 1)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    src = np.full((C, H + 2, W + 2), fill, dtype=dtype)
    src[:, 1:-1, 1:-1] = x
    flat = src.reshape(C, -1)
    if interpolation == "nearest":
        idx = np.rint(pi).astype(np.intp) * (W + 2) + np.rint(pj).astype(np.intp)
        return _like(np.take(flat, idx, axis=1), x)
    i0 = np.minimum(np.floor(pi), H).astype(np.intp)
    j0 = np.minimum(np.floor(pj), W).astype(np.intp)
    fi, fj = (pi - i0).astype(dtype), (pj - j0).astype(dtype)
    top, bottom = i0 * (W + 2) + j0, (i0 + 1) * (W + 2) + j0
    take = functools.partial(np.take, flat, axis=1)  # np.take: faster than fancy indexing
    out = (take(top) * (1 - fj) + take(top + 1) * fj) * (1 - fi) \
        + (take(bottom) * (1 - fj) + take(bottom + 1) * fj) * fi
    return _like(out, x)


@functools.lru_cache(maxsize=16)
def _grid(H, W):
    """Row and column offsets of every pixel from the image centre, shape (H, W) each."""
    ii, jj = np.meshgrid(np.arange(H) - (H - 1) / 2, np.arange(W) - (W - 1) / 2, indexing="ij")
    ii.flags.writeable = jj.flags.writeable = False
    return ii, jj


def _like(out, x):
    """Cast a float result back to ``x``'s dtype (integers rounded and clipped to range)."""
    if x.dtype.kind in "ui":
        info = np.iinfo(x.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(x.dtype, copy=False)


def _per_channel(v, name):
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"Normalize {name} needs at least one value, got {v!r}.")
    return a


def _probability(p, who):
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{who} expects a probability p in [0, 1], got {p!r}.")
    return float(p)


def _pair(v, name, minimum):
    pair = (v, v) if isinstance(v, (numbers.Integral, np.integer)) else tuple(v)
    if len(pair) != 2 or not all(isinstance(k, (numbers.Integral, np.integer)) and k >= minimum
                                 for k in pair):
        raise ValueError(f"`{name}` must be an int >= {minimum} or a pair of them, got {v!r}.")
    return int(pair[0]), int(pair[1])


def _range(v, name):
    if isinstance(v, numbers.Real):
        pair = (-abs(v), abs(v)) if name == "degrees" else (v, v)
    else:
        pair = tuple(v)
    if len(pair) != 2 or not all(isinstance(k, numbers.Real) for k in pair) or pair[0] > pair[1]:
        raise ValueError(f"`{name}` must be a (low, high) range with low <= high, got {v!r}.")
    return float(pair[0]), float(pair[1])


def _interpolation(mode):
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {mode!r}.")
    return mode
