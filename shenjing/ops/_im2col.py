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
"""
from __future__ import annotations

from ..backend import array_module

WIDE_MAX_RATIO = 2.0  # wide grid while Wp / OW ≤ this (measured: faster up to LeNet's 12/8)


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


def col2im(cols, geo):
    """Adjoint of ``im2col``: columns (C·kh·kw, N·OH·wg) → (N, C, H, W), overlaps summed.

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
    x = planes[:, :, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w]
    return xp.ascontiguousarray(x.transpose(1, 0, 2, 3))


def to_grid(y, geo):
    """(N, O, h, w) with h ≤ OH, w ≤ OW → (O, N·OH·wg) on the column grid, zeros elsewhere."""
    xp = array_module(y)
    n, o, h, w = y.shape
    if not geo.wide and (h, w) == (geo.oh, geo.ow):
        return xp.ascontiguousarray(y.transpose(1, 0, 2, 3)).reshape(o, geo.m)
    out = xp.zeros((o, n, geo.oh, geo.wg), dtype=y.dtype)
    out[:, :, :h, :w] = y.transpose(1, 0, 2, 3)
    return out.reshape(o, geo.m)


def from_grid(y, geo, h=None, w=None, bias=None):
    """(O, N·OH·wg) grid → contiguous (N, O, h, w) (default OH × OW), plus ``bias`` per channel.

    The crop, the transpose to NCHW and the bias add are one pass over the output.
    """
    xp = array_module(y)
    o = y.shape[0]
    h, w = geo.oh if h is None else h, geo.ow if w is None else w
    view = y.reshape(o, geo.n, geo.oh, geo.wg)[:, :, :h, :w].transpose(1, 0, 2, 3)
    out = xp.empty((geo.n, o, h, w), dtype=y.dtype)
    if bias is None:
        out[...] = view
    else:
        xp.add(view, bias.reshape(o, 1, 1), out=out)
    return out
