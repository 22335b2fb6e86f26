"""im2col / col2im: a convolution as one matrix product (shared by conv2d and its transpose).

Every output pixel of a convolution is the dot product of the weights with one kernel-sized
window of the (padded) input.  ``im2col`` copies each window into a column, so that

    Y (O, N·OH·OW) = W (O, C·kh·kw) @ cols (C·kh·kw, N·OH·OW)

and ``col2im`` is its adjoint: it adds every column back onto the pixels it was read from
(the gradient of im2col, and the forward pass of a transposed convolution).

Layout, chosen by measurement:

* the padded input lives in flat planes ``buf (C, N, Hp·Wp + slack)`` — channel-major, so the
  columns come out as one C-major matrix (groups are a reshape away) and the 9 reads of one
  plane per 3x3 kernel stay in cache;
* for stride 1 the columns run over a *wide* grid of OH × Wp positions instead of OH × OW:
  a window that starts at column x ≥ OW hangs over the row's end into the next row, which
  gives garbage outputs that are cropped away, but it makes every window row of a plane one
  contiguous run of memory, so the im2col copy and the col2im adds stream long rows instead
  of OW-long pieces.  It costs Wp/OW more matrix columns, so it is used only when that ratio
  is small (``WIDE_MAX_RATIO``).

No Python loop touches pixels or channels; ``col2im`` loops over the kh·kw kernel offsets.
The convolutions run a batch in chunks of images (``map_chunks``): one im2col and one
product per chunk, so the column matrix is still in cache when the product reads it, and
the chunks can be shared among threads.
"""
from __future__ import annotations

import contextlib
import copy
import os
from concurrent.futures import ThreadPoolExecutor

from ..backend import array_module, device_of

WIDE_MAX_RATIO = 2.0  # wide grid while Wp / OW ≤ this (measured: faster up to LeNet's 12/8)
CHUNK_BYTES = 2 << 20  # column matrix per chunk (``map_chunks``; 1.5-3 MB measured best)


class Geometry:
    """Sizes of one 2-D convolution: input (N, C, H, W), kernel, stride, dilation, padding.

    ``pads`` is (top, bottom, left, right).  Output size: OH = ⌊(Hp - dh·(kh-1) - 1)/sh⌋ + 1
    with Hp = H + top + bottom (likewise OW).  ``wg`` is the grid width the columns use
    (Wp on the wide grid, else OW) and ``m = N·OH·wg`` the number of columns.
    """

    __slots__ = ("n", "c", "h", "w", "kh", "kw", "sh", "sw", "dh", "dw", "top", "bottom",
                 "left", "right", "hp", "wp", "oh", "ow", "wide", "wg", "plane", "m")

    def __init__(self, shape, kernel, stride, dilation, pads):
        self.n, self.c, self.h, self.w = shape
        (self.kh, self.kw), (self.sh, self.sw), (self.dh, self.dw) = kernel, stride, dilation
        self.top, self.bottom, self.left, self.right = pads
        self.hp = self.h + self.top + self.bottom
        self.wp = self.w + self.left + self.right
        self.oh = (self.hp - self.dh * (self.kh - 1) - 1) // self.sh + 1
        self.ow = (self.wp - self.dw * (self.kw - 1) - 1) // self.sw + 1
        self.wide = (self.sh == 1 and self.sw == 1 and self.oh > 1
                     and self.wp <= WIDE_MAX_RATIO * self.ow)
        self.wg = self.wp if self.wide else self.ow
        # a wide window starting at the last grid column reads dw·(kw-1) past the plane
        self.plane = self.hp * self.wp + (self.dw * (self.kw - 1) if self.wide else 0)
        self.m = self.n * self.oh * self.wg

    @property
    def out_shape(self):
        return self.oh, self.ow

    def batch(self, n):
        """The same convolution on a sub-batch of ``n`` images."""
        sub = copy.copy(self)
        sub.n, sub.m = n, n * self.oh * self.wg
        return sub


def chunks(geo, size):
    """(slice of the batch, its Geometry) for each chunk of ``size`` images."""
    last = None
    for n0 in range(0, geo.n, size):
        n1 = min(geo.n, n0 + size)
        if last is None or last.n != n1 - n0:
            last = geo.batch(n1 - n0)
        yield slice(n0, n1), last


def map_chunks(fn, geo, like):
    """[fn(part, sub) for each chunk (part: slice of the batch, sub: its Geometry)], in order.

    A chunk holds as many images as keep its column matrix within ``CHUNK_BYTES`` (at least
    one), so the matrix is still in cache when the product reads it back: on a ResNet-20
    layer (128x16x32x32, 3x3) this took forward + backward from 92 to 57 ms on one core.

    With n > 1 BLAS threads, n Python threads share the chunks while BLAS runs
    single-threaded: the copies then run in parallel too, and no product waits on a BLAS
    helper thread (small products barely gain from one, and wait whole scheduler ticks for
    it when another process holds the core: a ResNet-20 step took 1.1-1.6 s this way
    against 10 s with chunks in sequence and 2 BLAS threads, with one core busy elsewhere).
    Each thread needs at least two chunks, or the hand-off costs more than it saves
    (LeNet's convolutions): less work than that runs as one chunk on the BLAS threads.
    Every chunk writes its own slice and the results come back in order, so runs repeat
    bit for bit.  Off the CPU the whole batch is one chunk.
    """
    if device_of(like) != "cpu":  # cache-sized chunks and threads are CPU tuning
        return [fn(slice(0, geo.n), geo)]
    per_image = geo.c * geo.kh * geo.kw * geo.oh * geo.wg * like.dtype.itemsize
    size = max(1, min(geo.n, CHUNK_BYTES // per_image))
    workers = _blas_threads()
    if workers > 1 and -(-geo.n // size) < 2 * workers:
        return [fn(slice(0, geo.n), geo)]
    parts = list(chunks(geo, size))
    if workers > 1:
        with _one_blas_thread() as limited:
            if limited:
                return list(_executor(workers).map(lambda p: fn(*p), parts))
    return [fn(*p) for p in parts]


_BLAS = {"controller": None, "executor": None, "workers": 0}
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=lambda: _BLAS.update(executor=None))


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded ([] without threadpoolctl)."""
    if _BLAS["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415
        except ImportError:  # pragma: no cover
            _BLAS["controller"] = False
        else:
            _BLAS["controller"] = ThreadpoolController().select(user_api="blas")
    return _BLAS["controller"].lib_controllers if _BLAS["controller"] else []


def _blas_threads():
    """The number of threads NumPy's BLAS uses now (what ``sj.set_num_threads`` set)."""
    return max((lib.num_threads or 1 for lib in _blas_libraries()), default=1)


@contextlib.contextmanager
def _one_blas_thread():
    """Limit BLAS to one thread meanwhile; yields False where that did not take (threadpoolctl
    lets only one Python thread control OpenBLAS's pool)."""
    with _BLAS["controller"].limit(limits=1):
        yield all(lib.num_threads == 1 for lib in _blas_libraries())


def _executor(workers):
    """The shared pool of ``workers`` threads (made again when the count changes)."""
    if _BLAS["executor"] is None or _BLAS["workers"] != workers:
        if _BLAS["executor"] is not None:
            _BLAS["executor"].shutdown(wait=False)
        _BLAS.update(executor=ThreadPoolExecutor(workers, "shenjing-conv"), workers=workers)
    return _BLAS["executor"]


def _planes(xp, geo, dtype, zero=True):
    """A (C, N, plane) buffer and its (C, N, Hp, Wp) view."""
    buf = (xp.zeros if zero else xp.empty)((geo.c, geo.n, geo.plane), dtype=dtype)
    return buf, buf[:, :, :geo.hp * geo.wp].reshape(geo.c, geo.n, geo.hp, geo.wp)


def _windows(xp, buf, geo):
    """(C, kh, kw, N, OH·wg) strided view of every window of ``buf`` (no copy).

    On the wide grid the OH × Wp positions of one plane are one contiguous run, so they are
    a single axis (NumPy then copies long rows).
    """
    s = buf.itemsize
    head = (geo.c, geo.kh, geo.kw, geo.n)
    strides = (geo.n * geo.plane * s, geo.dh * geo.wp * s, geo.dw * s, geo.plane * s)
    if geo.wide:
        shape, strides = head + (geo.oh * geo.wp,), strides + (s,)
    else:
        shape = head + (geo.oh, geo.ow)
        strides += (geo.sh * geo.wp * s, geo.sw * s)
    return xp.lib.stride_tricks.as_strided(buf, shape, strides)


def im2col(x, geo):
    """(N, C, H, W) → columns (C·kh·kw, N·OH·wg), rows ordered (c, i, j) like a weight row."""
    xp = array_module(x)
    padded = geo.top or geo.bottom or geo.left or geo.right or geo.plane > geo.hp * geo.wp
    buf, planes = _planes(xp, geo, x.dtype, zero=padded)
    planes[:, :, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w] = x.transpose(1, 0, 2, 3)
    cols = xp.ascontiguousarray(_windows(xp, buf, geo))
    return cols.reshape(geo.c * geo.kh * geo.kw, geo.m)


def col2im(cols, geo, out=None):
    """Adjoint of ``im2col``: columns (C·kh·kw, N·OH·wg) → (N, C, H, W), overlaps summed
    (written into ``out`` when given).

    Loops over the kh·kw kernel offsets; each step is one strided add of a (C, N, OH, wg)
    block (on the wide grid a contiguous (C, N, OH·Wp) run of each plane).  Wide-grid
    garbage columns must hold zeros (``to_grid`` makes them so).
    """
    xp = array_module(cols)
    buf, planes = _planes(xp, geo, cols.dtype)
    run = geo.oh * geo.wp
    if geo.wide:
        cols = cols.reshape(geo.c, geo.kh, geo.kw, geo.n, run)
    else:
        cols = cols.reshape(geo.c, geo.kh, geo.kw, geo.n, geo.oh, geo.ow)
    rows, width = geo.sh * (geo.oh - 1) + 1, geo.sw * (geo.ow - 1) + 1

    for i in range(geo.kh):
        for j in range(geo.kw):
            if geo.wide:
                off = i * geo.dh * geo.wp + j * geo.dw
                buf[:, :, off:off + run] += cols[:, i, j]
            else:
                y, x = i * geo.dh, j * geo.dw
                planes[:, :, y:y + rows:geo.sh, x:x + width:geo.sw] += cols[:, i, j]
    x = planes[:, :, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w].transpose(1, 0, 2, 3)
    if out is None:
        return xp.ascontiguousarray(x)
    out[...] = x
    return out


def to_grid(y, geo):
    """(N, O, h, w) with h ≤ OH, w ≤ OW → (O, N·OH·wg) on the column grid, zeros elsewhere."""
    xp = array_module(y)
    n, o, h, w = y.shape
    if not geo.wide and (h, w) == (geo.oh, geo.ow):
        return xp.ascontiguousarray(y.transpose(1, 0, 2, 3)).reshape(o, geo.m)
    out = xp.zeros((o, n, geo.oh, geo.wg), dtype=y.dtype)
    out[:, :, :h, :w] = y.transpose(1, 0, 2, 3)
    return out.reshape(o, geo.m)


def from_grid(y, geo, h=None, w=None, bias=None, out=None):
    """(O, N·OH·wg) grid → (N, O, h, w) (default OH × OW), plus ``bias`` per channel, into
    ``out`` when given (else a new contiguous array).

    The crop, the transpose to NCHW and the bias add are one pass over the output.
    """
    xp = array_module(y)
    o = y.shape[0]
    h, w = geo.oh if h is None else h, geo.ow if w is None else w
    view = y.reshape(o, geo.n, geo.oh, geo.wg)[:, :, :h, :w].transpose(1, 0, 2, 3)
    if out is None:
        out = xp.empty((geo.n, o, h, w), dtype=y.dtype)
    if bias is None:
        out[...] = view
    else:
        xp.add(view, bias.reshape(o, 1, 1), out=out)
    return out
