"""Pooling, upsampling and 2-D padding in NCHW layout, with torch.nn.functional's signatures.

A pooling window of kh×kw pixels is read as kh·kw strided blocks of the (padded) input, one
per kernel offset, each of output size (N, C, OH, OW): every step is one vectorised pass
over the batch, no Python loop touches a pixel or a channel.  The gradient goes back the
same way (``_scatter``).  Output size per axis (no ceil mode): OH = ⌊(H + 2·p - k) / s⌋ + 1.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function
from ..backend import array_module, device_constant
from ..tensor import Tensor
from ._util import lift
from .linalg import matmul
from .reduce import mean
from .shape import broadcast_to, pad, reshape

LOOP_MAX_OFFSETS = 16  # larger windows (global pooling) take an arg-max along each window


def _offsets(kernel, stride, out):
    """For each kernel offset t = i·kw + j, the slice of the padded input holding the pixel
    at (i, j) of every window: an (N, C, OH, OW) strided view."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, (Ellipsis, slice(i, i + sh * (oh - 1) + 1, sh),
                               slice(j, j + sw * (ow - 1) + 1, sw))


def _scatter(part, shape, kernel, stride, padding, out, like):
    """Adjoint of reading the offset blocks: add ``part(t)`` back onto the pixels of offset t,
    then crop the padding (``shape`` is the padded input's shape)."""
    xp = array_module(like)
    dx = xp.zeros(shape, dtype=like.dtype)
    tiled = stride[0] >= kernel[0] and stride[1] >= kernel[1]  # no pixel in two windows
    for t, index in _offsets(kernel, stride, out):
        if tiled:
            dx[index] = part(t)
        else:
            dx[index] += part(t)
    (ph, pw) = padding
    return dx[:, :, ph:shape[2] - ph, pw:shape[3] - pw]


def _pad_hw(xp, x, padding, value):
    ph, pw = padding
    if not ph and not pw:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


class MaxPool2d(Function):
    """y = max of each window;  dx: dy goes to the window's first arg-max (PyTorch's CPU rule).

    Padding holds -inf, so it never wins; a NaN in a window makes its output NaN.
    """

    def forward(self, x, *, kernel, stride, padding, out):
        xp = array_module(x)
        low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xpad = _pad_hw(xp, x, padding, low)
        if kernel[0] * kernel[1] > LOOP_MAX_OFFSETS:
            s = xpad.strides
            win = xp.lib.stride_tricks.as_strided(
                xpad, x.shape[:2] + out + kernel,
                s[:2] + (s[2] * stride[0], s[3] * stride[1]) + s[2:])
            flat = win.reshape(x.shape[:2] + out + (-1,))  # a copy: one row per window
            idx = flat.argmax(axis=-1)
            y = xp.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        else:
            y = idx = None
            for t, index in _offsets(kernel, stride, out):
                v = xpad[index]
                if y is None:
                    y, idx = v.copy(), xp.zeros(v.shape, dtype=xp.uint8)
                    continue
                better = v > y  # strict: an equal value later in the window does not win
                xp.maximum(y, v, out=y)
                # masks are slow in NumPy, arithmetic is not; t grows, so max keeps the last win
                xp.maximum(idx, better.view(xp.uint8) * xp.uint8(t), out=idx)
        self.saved = (idx, xpad.shape, kernel, stride, padding)
        return y

    def backward(self, g):
        idx, shape, kernel, stride, padding = self.saved
        return _scatter(lambda t: g * (idx == t), shape, kernel, stride, padding,
                        g.shape[2:], g)


class AvgPool2d(Function):
    """y = (Σ window) / count;  dx: each pixel collects dy / count from every window it is in.

    count = kh·kw, or with ``count_include_pad=False`` the number of real pixels covered.
    """

    def forward(self, x, *, kernel, stride, padding, out, include_pad):
        xp = array_module(x)
        xpad = _pad_hw(xp, x, padding, 0)
        y = None
        for _, index in _offsets(kernel, stride, out):
            if y is None:
                y = xpad[index].copy()
            else:
                y += xpad[index]
        div = _divisor(xp, x.shape[2:], kernel, stride, padding, out, include_pad, x.dtype)
        y /= div
        self.saved = (div, xpad.shape, kernel, stride, padding)
        return y

    def backward(self, g):
        div, shape, kernel, stride, padding = self.saved
        gd = g / div
        return _scatter(lambda t: gd, shape, kernel, stride, padding, g.shape[2:], g)


def _divisor(xp, size, kernel, stride, padding, out, include_pad, dtype):
    """kh·kw, or per output pixel the count of real (unpadded) pixels in its window."""
    if include_pad or not any(padding):
        return dtype.type(kernel[0] * kernel[1])

    def counts():
        rows = []
        for n, k, s, p, o in zip(size, kernel, stride, padding, out):
            start = np.arange(o) * s - p
            rows.append(np.minimum(start + k, n) - np.maximum(start, 0))
        return np.outer(*rows).astype(dtype)

    key = ("avg_pool_divisor", size, kernel, stride, padding, out, dtype.str)
    return device_constant(xp, key, counts)


# ---------------------------------------------------------------- argument checks

def _tuple(name, arg, value, nd, minimum):
    vals = (value,) * nd if isinstance(value, numbers.Integral) else tuple(value)
    if len(vals) != nd or not all(isinstance(v, numbers.Integral) for v in vals):
        raise ValueError(f"{name}: `{arg}` must be an int or {nd} ints, got {value!r}.")
    if any(v < minimum for v in vals):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: `{arg}` must be {kind}, got {value!r}.")
    return tuple(int(v) for v in vals)


def _pool_args(name, x, kernel_size, stride, padding, nd):
    """Validate a pooling call; returns 2-D kernel, stride, padding and output size."""
    layout = ("N", "C", "L") if nd == 1 else ("N", "C", "H", "W")
    if x.ndim != nd + 2:
        hint = " (add a batch axis with x.unsqueeze(0))" if x.ndim == nd + 1 else ""
        raise ValueError(f"{name} expects a {nd + 2}-D input ({', '.join(layout)}), "
                         f"got shape {x.shape}{hint}.")
    kernel = _tuple(name, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None else _tuple(name, "stride", stride, nd, 1)
    padding = _tuple(name, "padding", padding, nd, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel size "
                         f"{kernel}.")
    size = x.shape[2:]
    if any(k > n + 2 * p for k, n, p in zip(kernel, size, padding)):
        raise ValueError(f"{name}: kernel {kernel} is larger than the padded input "
                         f"(input shape {x.shape}, padding {padding}).")
    if nd == 1:
        kernel, stride, padding = (1,) + kernel, (1,) + stride, (0,) + padding
        size = (1,) + size
    out = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding))
    return kernel, stride, padding, out


def _float(name, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point input, got dtype {x.dtype}; "
                        "cast it with .float().")


def _pool(fn, name, x, kernel_size, stride, padding, nd, **options):
    x = lift(x)
    kernel, stride, padding, out = _pool_args(name, x, kernel_size, stride, padding, nd)
    if nd == 1:
        y = fn.apply(reshape(x, x.shape[:2] + (1, x.shape[2])), kernel=kernel, stride=stride,
                     padding=padding, out=out, **options)
        return reshape(y, y.shape[:2] + (y.shape[3],))
    return fn.apply(x, kernel=kernel, stride=stride, padding=padding, out=out, **options)


# ---------------------------------------------------------------- public functions

def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over kh×kw windows of (N, C, H, W); ``stride`` defaults to ``kernel_size``.

    y[n,c,p,q] = max_{i,j} x_pad[n, c, s·p + i, s·q + j], padding with -inf.  The gradient
    goes to the first maximum of each window.

    >>> sj.max_pool2d(sj.randn(1, 3, 28, 28), 2).shape
    (1, 3, 14, 14)
    """
    return _pool(MaxPool2d, "max_pool2d", x, kernel_size, stride, padding, 2)


def max_pool1d(x, kernel_size, stride=None, padding=0):
    """Max over windows of length k of (N, C, L); ``stride`` defaults to ``kernel_size``.

    >>> sj.max_pool1d(sj.randn(2, 4, 10), 3).shape
    (2, 4, 3)
    """
    return _pool(MaxPool2d, "max_pool1d", x, kernel_size, stride, padding, 1)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Mean over kh×kw windows of (N, C, H, W): y = Σ window / count.

    Padding adds zeros; count = kh·kw, or with ``count_include_pad=False`` the number of
    input pixels the window covers.

    >>> sj.avg_pool2d(sj.randn(1, 3, 8, 8), 3, stride=1, padding=1).shape
    (1, 3, 8, 8)
    """
    x = lift(x)
    _float("avg_pool2d", x)
    return _pool(AvgPool2d, "avg_pool2d", x, kernel_size, stride, padding, 2,
                 include_pad=bool(count_include_pad))


def avg_pool1d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Mean over windows of length k of (N, C, L), as ``avg_pool2d``.

    >>> sj.avg_pool1d(sj.randn(2, 4, 10), 2).shape
    (2, 4, 5)
    """
    x = lift(x)
    _float("avg_pool1d", x)
    return _pool(AvgPool2d, "avg_pool1d", x, kernel_size, stride, padding, 1,
                 include_pad=bool(count_include_pad))


def _adaptive_matrix(xp, n, o, dtype):
    """(o, n) averaging matrix: row i averages x[⌊i·n/o⌋ : ⌈(i+1)·n/o⌉] (PyTorch's windows)."""
    def make():
        i = np.arange(o)
        start, end = (i * n) // o, -((-(i + 1) * n) // o)
        cols = np.arange(n)
        m = (cols >= start[:, None]) & (cols < end[:, None])
        return (m / (end - start)[:, None]).astype(dtype)

    return Tensor._wrap(device_constant(xp, ("adaptive_pool", n, o, np.dtype(dtype).str), make))


def adaptive_avg_pool2d(x, output_size):
    """Average-pool (N, C, H, W) to ``output_size`` (an int or (OH, OW); None keeps that axis).

    Window i of an axis covers [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉).  When the sizes divide evenly this
    is ``avg_pool2d`` with kernel = stride = H/OH; otherwise y = A_h · x · A_wᵀ with the
    averaging matrices A.

    >>> sj.adaptive_avg_pool2d(sj.randn(2, 8, 7, 7), (3, 2)).shape
    (2, 8, 3, 2)
    """
    x = lift(x)
    _float("adaptive_avg_pool2d", x)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d expects a 4-D input (N, C, H, W), got shape "
                         f"{x.shape}.")
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) \
        else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, "
                         f"got {output_size!r}.")
    h, w = x.shape[2:]
    oh, ow = (n if o is None else o for o, n in zip(sizes, (h, w)))
    if not all(isinstance(o, numbers.Integral) and o > 0 for o in (oh, ow)):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, "
                         f"got {output_size!r}.")
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(x, (h // oh, w // ow))
    xp = array_module(x.data)
    ah = _adaptive_matrix(xp, h, oh, x.dtype)
    aw = _adaptive_matrix(xp, w, ow, x.dtype)
    return matmul(matmul(ah, x), aw.T)


def global_avg_pool2d(x, keepdims=False):
    """Mean over H and W: (N, C, H, W) → (N, C) (or (N, C, 1, 1) with ``keepdims``).

    >>> sj.global_avg_pool2d(sj.randn(2, 8, 4, 4)).shape
    (2, 8)
    """
    x = lift(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d expects a 4-D input (N, C, H, W), got shape "
                         f"{x.shape}.")
    return mean(x, axis=(2, 3), keepdims=keepdims)


def global_max_pool2d(x, keepdims=False):
    """Max over H and W: (N, C, H, W) → (N, C) (or (N, C, 1, 1)); gradient to the first max.

    >>> sj.global_max_pool2d(sj.randn(2, 8, 4, 4)).shape
    (2, 8)
    """
    x = lift(x)
    if x.ndim != 4:
        raise ValueError(f"global_max_pool2d expects a 4-D input (N, C, H, W), got shape "
                         f"{x.shape}.")
    y = max_pool2d(x, x.shape[2:])
    return y if keepdims else reshape(y, x.shape[:2])


def upsample_nearest2d(x, scale_factor):
    """Nearest-neighbour upsampling of (N, C, H, W) by integer factors: each pixel becomes an
    sh×sw block, y[n, c, p, q] = x[n, c, ⌊p/sh⌋, ⌊q/sw⌋].

    >>> sj.upsample_nearest2d(sj.randn(1, 1, 2, 2), 2).shape
    (1, 1, 4, 4)
    """
    x = lift(x)
    if x.ndim != 4:
        raise ValueError(f"upsample_nearest2d expects a 4-D input (N, C, H, W), got shape "
                         f"{x.shape}.")
    sh, sw = _tuple("upsample_nearest2d", "scale_factor", scale_factor, 2, 1)
    n, c, h, w = x.shape
    y = broadcast_to(reshape(x, (n, c, h, 1, w, 1)), (n, c, h, sh, w, sw))
    return reshape(y, (n, c, h * sh, w * sw))


def upsample(x, scale_factor, mode="nearest"):
    """Upsample (N, C, H, W) by integer ``scale_factor``; only ``mode="nearest"`` for now."""
    if mode != "nearest":
        raise ValueError(f"upsample: mode {mode!r} is not supported; use mode='nearest'.")
    return upsample_nearest2d(x, scale_factor)


class EdgePad(Function):
    """Reflect / replicate padding of the last two axes;  dx folds the border's dy back onto
    the pixels it copies (reflect: x[1..p] mirrored, replicate: the edge row or column)."""

    def forward(self, x, *, widths, mode):
        xp = array_module(x)
        pw = ((0, 0),) * (x.ndim - 2) + widths
        self.saved = (widths, mode, x.shape[-2:])
        return xp.pad(x, pw, mode="reflect" if mode == "reflect" else "edge")

    def backward(self, g):
        widths, mode, size = self.saved
        for axis, (lo, hi), n in zip((-2, -1), widths, size):
            g = _fold_edges(g, axis, lo, hi, n, mode)
        return g


def _fold_edges(g, axis, lo, hi, n, mode):
    """Gradient of padding one axis by (lo, hi): the core slice plus the folded borders."""
    xp = array_module(g)
    g = xp.moveaxis(g, axis, -1)
    dx = g[..., lo:lo + n].copy()
    left, right = g[..., :lo], g[..., lo + n:]
    if mode == "reflect":  # padded position lo-1-m holds x[m+1]; lo+n+m holds x[n-2-m]
        dx[..., 1:lo + 1] += left[..., ::-1]
        dx[..., n - 1 - hi:n - 1] += right[..., ::-1]
    else:
        dx[..., 0] += left.sum(axis=-1)
        dx[..., n - 1] += right.sum(axis=-1)
    return xp.moveaxis(dx, -1, axis)


def pad2d(x, padding, mode="zeros", value=0.0):
    """Pad the last two axes; ``padding`` is an int or (left, right, top, bottom) as F.pad.

    mode "zeros" (alias "constant", filled with ``value``), "reflect" (mirror without
    repeating the edge: [a b c] → [c b | a b c | b a], needs each pad < that axis' size)
    or "replicate" (repeat the edge).

    >>> sj.pad2d(sj.randn(1, 1, 4, 4), (1, 1, 2, 0), mode="reflect").shape
    (1, 1, 6, 6)
    """
    x = lift(x)
    if x.ndim < 2:
        raise ValueError(f"pad2d needs at least 2 axes (…, H, W), got shape {x.shape}.")
    left, right, top, bottom = _tuple("pad2d", "padding", padding, 4, 0)
    widths = ((top, bottom), (left, right))
    if mode in ("zeros", "constant"):
        return pad(x, ((0, 0),) * (x.ndim - 2) + widths, value=value)
    if mode not in ("reflect", "replicate"):
        raise ValueError(f"pad2d: mode must be 'zeros', 'reflect' or 'replicate', "
                         f"got {mode!r}.")
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"pad2d: reflect padding {(left, right, top, bottom)} must be "
                         f"smaller than the padded axes (H={h}, W={w}).")
    return EdgePad.apply(x, widths=widths, mode=mode)
