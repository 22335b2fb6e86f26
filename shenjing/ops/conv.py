"""Convolutions in NCHW layout, with torch.nn.functional's signatures and weight layouts.

Both directions are matrix products, batched over the group axis, on column matrices
(``_im2col`` explains the layout), run in chunks of images (``_im2col.map_chunks``: the
columns stay in cache, and several threads can share the chunks):

    conv2d            Y = W ⋆ X:   cols = im2col(X);  Y = W @ cols
                      stride 1:  gcols = im2col(dY) (adjoint grid);  dX = W' @ gcols;
                                 dW' = gcols @ Xᵀ   (W' the flipped kernel, see _grads_adjoint)
                      otherwise: dX = col2im(Wᵀ @ dY);  dW = dY @ colsᵀ
    conv_transpose2d  the adjoint of conv2d in its input, so the same pieces swapped:
                      Y = col2im(Wᵀ @ X);  dX = W @ im2col(dY);  dW = X @ im2col(dY)ᵀ

Backward rebuilds its columns instead of keeping the forward's: they are kh·kw times the
size of the input, which is alive anyway (ResNet-20, batch 128: peak memory 1369 → 423 MB).

With groups G the channels split into G independent convolutions; the weight matrix is
(G, O/G, C/G·kh·kw) and the columns (G, C/G·kh·kw, M), one ``matmul`` for all groups.

Why channel-major columns (C·kh·kw, N·OH·OW): on a ResNet-20 layer (128x16x32x32, 3x3,
pad 1, forward + backward, 2 cores) 57 ms against 84 ms for per-image columns with a
batched matmul and 158 ms for pixel-major ones (N·OH·OW, C·kh·kw): the 9 reads of each
input plane stay in cache while it is copied, and the products are few large matrices.
"""
from __future__ import annotations

import functools
import numbers
import operator

from .. import amp
from ..autograd import Function
from ..backend import array_module
from ._im2col import Geometry, col2im, from_grid, im2col, map_chunks, to_grid
from ._util import lift
from .shape import reshape


class Conv2d(Function):
    """y[n,o] = b[o] + Σ_{c,i,j} w[o,c,i,j] · x_pad[n, g·C/G + c, sh·y + dh·i, sw·x + dw·j].

    Saves x (for dW) only when the weight needs a gradient, never the columns.
    """

    saves_output = False

    def forward(self, x, w, b=None, *, geo, groups):
        xp = array_module(x)
        wm = w.reshape(groups, w.shape[0] // groups, -1)
        y = xp.empty((geo.n, w.shape[0], geo.oh, geo.ow), dtype=x.dtype)

        def chunk(part, sub):
            cols = im2col(x[part], sub).reshape(groups, -1, sub.m)
            from_grid((wm @ cols).reshape(w.shape[0], sub.m), sub, bias=b, out=y[part])

        map_chunks(chunk, geo, x)
        self.saved = (x if self.needs_grad[1] else None, w, geo, groups)
        return y

    def backward(self, g):
        x, w, geo, groups = self.saved
        need = self.needs_grad + (False,) * (3 - len(self.needs_grad))
        adj = _adjoint_geometry(geo, w.shape[0])
        if adj is None or not _prefer_adjoint(geo, adj, need[0]):
            dx, dw = _grads_col2im(g, x, w, geo, groups, need)
        else:
            dx, dw = _grads_adjoint(g, x, w, adj, groups, need)
        if len(self.needs_grad) == 2:
            return dx, dw
        return dx, dw, (g.sum(axis=(0, 2, 3)) if need[2] else None)


def _adjoint_geometry(geo, o):
    """The convolution that computes dx from dy, or None where there is none this simple.

    With stride 1, dx = dy ⋆ w' (a plain convolution) where w'[c,o,i,j] = w[o,c,kh-1-i,kw-1-j]
    and dy is padded by d·(k-1) - p on each side (needs p ≤ d·(k-1)).
    """
    if (geo.sh, geo.sw) != (1, 1):
        return None
    eh, ew = geo.dh * (geo.kh - 1), geo.dw * (geo.kw - 1)
    pads = (eh - geo.top, eh - geo.bottom, ew - geo.left, ew - geo.right)
    if min(pads) < 0:
        return None
    return Geometry((geo.n, o, geo.oh, geo.ow), (geo.kh, geo.kw), (1, 1), (geo.dh, geo.dw), pads)


def _prefer_adjoint(geo, adj, need_dx):
    """Whether the adjoint backward copies less than the col2im one.

    The adjoint builds one column matrix of O·kh·kw rows over its grid; the col2im path
    copies C·kh·kw rows over the forward grid once for dW and scatters them once more for
    dx, at about twice the cost of a copy (measured).  So the adjoint wins for "same"
    convolutions that keep or shrink the channels and loses for a first layer (no dx, few
    channels) or a "valid" one with a large kernel (its adjoint grid is larger).
    """
    return adj.c * adj.m <= geo.c * geo.m * (3 if need_dx else 1)


def _grads_adjoint(g, x, w, adj, groups, need):
    """Stride-1 gradients from the columns of dy alone: with gcols = im2col(dy) on the
    adjoint geometry and x on its grid,

        dx = w' @ gcols,   dw' = gcols @ xᵀ   (w' the flipped, channel-swapped kernel)

    so backward builds one column matrix and no col2im (the scatter-add is the slow part).
    """
    xp, (o, cg, kh, kw) = array_module(g), w.shape
    og, c = o // groups, cg * groups
    flip = w.reshape(groups, og, cg, kh, kw)[:, :, :, ::-1, ::-1]
    wf = flip.transpose(0, 2, 1, 3, 4).reshape(groups, cg, og * kh * kw)
    dx = xp.empty((adj.n, c, adj.oh, adj.ow), dtype=g.dtype) if need[0] else None

    def chunk(part, sub):
        gcols = im2col(g[part], sub).reshape(groups, -1, sub.m)
        if need[0]:
            from_grid((wf @ gcols).reshape(c, sub.m), sub, out=dx[part])
        if need[1]:
            return _weight_grad(gcols, to_grid(x[part], sub).reshape(groups, cg, sub.m))
        return None

    dwf = _sum(map_chunks(chunk, adj, g))
    if dwf is not None:
        dwf = dwf.reshape(groups, og, kh, kw, cg)[:, :, ::-1, ::-1].transpose(0, 1, 4, 2, 3)
        dwf = dwf.reshape(w.shape)
    return dx, dwf


def _grads_col2im(g, x, w, geo, groups, need):
    """Any stride: dx = col2im(Wᵀ @ dy), dW = dy @ colsᵀ with each chunk's columns rebuilt."""
    xp, o = array_module(g), w.shape[0]
    wt = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    dx = xp.empty((geo.n, geo.c, geo.h, geo.w), dtype=g.dtype) if need[0] else None

    def chunk(part, sub):
        gg = to_grid(g[part], sub).reshape(groups, o // groups, sub.m)
        if need[0]:
            col2im((wt @ gg).reshape(-1, sub.m), sub, out=dx[part])
        if need[1]:
            return _weight_grad(im2col(x[part], sub).reshape(groups, -1, sub.m), gg)
        return None

    dw = _sum(map_chunks(chunk, geo, g))
    return dx, (None if dw is None else dw.transpose(0, 2, 1).reshape(w.shape))


def _sum(parts):
    """Σ of the chunks' partial weight gradients, in chunk order (None if there are none)."""
    return None if parts[0] is None else functools.reduce(operator.iadd, parts)


def _weight_grad(cols, gg):
    """cols @ ggᵀ: (G, K, M) x (G, O/G, M) → (G, K, O/G), i.e. (gg @ colsᵀ)ᵀ.

    This orientation avoids a slow path of OpenBLAS with 2 threads for ``gg @ colsᵀ``
    (ResNet-20's 16-channel layer, whole batch: 25 against 112 ms, median); on one thread
    and at chunk sizes it is as fast or up to 20% faster.
    """
    return cols @ gg.transpose(0, 2, 1)


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: y = col2im(Wᵀ @ x) (+ b), weight (C_in, C_out/G, kh, kw).

    ``geo`` describes the conv2d that maps y's shape back to x's.  Runs chunk by chunk of
    images as Conv2d; saves x (for dW) only when the weight needs a gradient.
    """

    def forward(self, x, w, b=None, *, geo, groups):
        xp, cin = array_module(x), w.shape[0]
        wt = w.reshape(groups, cin // groups, -1).transpose(0, 2, 1)
        y = xp.empty((geo.n, geo.c, geo.h, geo.w), dtype=x.dtype)

        def chunk(part, sub):
            xg = to_grid(x[part], sub).reshape(groups, cin // groups, sub.m)
            col2im((wt @ xg).reshape(-1, sub.m), sub, out=y[part])

        map_chunks(chunk, geo, x)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        self.saved = (x if self.needs_grad[1] else None, w, geo, groups, x.shape[2:])
        return y

    def backward(self, g):
        x, w, geo, groups, (h, wd) = self.saved
        xp, cin = array_module(g), w.shape[0]
        need = self.needs_grad + (False,) * (3 - len(self.needs_grad))
        wm = w.reshape(groups, cin // groups, -1)
        dx = xp.empty((geo.n, cin, h, wd), dtype=g.dtype) if need[0] else None

        def chunk(part, sub):
            gcols = im2col(g[part], sub).reshape(groups, -1, sub.m)
            if need[0]:
                from_grid((wm @ gcols).reshape(cin, sub.m), sub, h, wd, out=dx[part])
            if need[1]:
                xg = to_grid(x[part], sub).reshape(groups, cin // groups, sub.m)
                return _weight_grad(gcols, xg)
            return None

        dw = _sum(map_chunks(chunk, geo, g))
        dw = None if dw is None else dw.transpose(0, 2, 1).reshape(w.shape)
        db = g.sum(axis=(0, 2, 3)) if need[2] else None
        return (dx, dw) if len(self.needs_grad) == 2 else (dx, dw, db)


# ---------------------------------------------------------------- argument checks

def _operands(x, w, b):
    """x, w, b as Tensors; under ``amp.autocast`` cast to float16."""
    return amp.cast_inputs(lift(x), lift(w), None if b is None else lift(b))


def _pair(name, arg, value, minimum):
    """An int or a pair of ints, each ≥ ``minimum``, as a pair."""
    vals = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(vals) != 2 or not all(isinstance(v, numbers.Integral) for v in vals):
        raise ValueError(f"{name}: `{arg}` must be an int or a pair of ints, got {value!r}.")
    if any(v < minimum for v in vals):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: `{arg}` must be {kind}, got {value!r}.")
    return int(vals[0]), int(vals[1])


def _check_inputs(name, x, w, b, groups, layout, transposed=False):
    """Rank, dtype, channel and bias checks shared by the convolutions."""
    nd = len(layout)
    if x.ndim != nd:
        hint = " (add a batch axis with x.unsqueeze(0))" if x.ndim == nd - 1 else ""
        raise ValueError(f"{name} expects a {nd}-D input ({', '.join(layout)}), "
                         f"got shape {x.shape}{hint}.")
    if w.ndim != nd:
        kind = "(C_in, C_out/groups, k…)" if transposed else "(C_out, C_in/groups, k…)"
        raise ValueError(f"{name} expects a {nd}-D weight {kind}, got shape {w.shape}.")
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{name}: `groups` must be a positive int, got {groups!r}.")
    for t, what in ((x, "input"), (w, "weight")) + (((b, "bias"),) if b is not None else ()):
        if t.dtype.kind != "f":
            raise TypeError(f"{name} needs floating-point tensors, got {what} of dtype "
                            f"{t.dtype}; cast it with .float().")
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        extra = f", bias {b.dtype}" if b is not None else ""
        raise TypeError(f"{name}: input dtype {x.dtype} and weight dtype {w.dtype}{extra} "
                        "differ; cast them to one dtype.")
    c = x.shape[1]
    if transposed:
        if w.shape[0] != c:
            raise ValueError(f"{name}: input of shape {x.shape} has {c} channels but the "
                             f"weight of shape {w.shape} expects {w.shape[0]} (weight.shape[0]).")
        out = w.shape[1] * groups
    else:
        if w.shape[1] * groups != c:
            raise ValueError(f"{name}: input of shape {x.shape} has {c} channels but the "
                             f"weight of shape {w.shape} with groups={groups} expects "
                             f"{w.shape[1] * groups} (weight.shape[1] * groups).")
        out = w.shape[0]
    if c % groups or out % groups:
        raise ValueError(f"{name}: groups={groups} must divide both the input channels ({c}) "
                         f"and the output channels ({out}).")
    if b is not None and b.shape != (out,):
        raise ValueError(f"{name}: bias must have shape ({out},) for {out} output channels, "
                         f"got {b.shape}.")


def _conv_pads(name, padding, kernel, stride, dilation):
    """Padding as (top, bottom, left, right): an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"{name}: padding must be an int, a pair, 'valid' or 'same', "
                             f"got {padding!r}.")
        if stride != (1, 1):
            raise ValueError(f"{name}: padding='same' needs stride 1 (as in PyTorch), got "
                             f"stride={stride}; pad explicitly for strided convolutions.")
        pads = []
        for k, d in zip(kernel, dilation):  # an odd total pads one more at the end
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = _pair(name, "padding", padding, 0)
    return ph, ph, pw, pw


def _check_fits(name, geo, x_shape):
    kh, kw = geo.dh * (geo.kh - 1) + 1, geo.dw * (geo.kw - 1) + 1
    if kh > geo.hp or kw > geo.wp:
        raise ValueError(f"{name}: the kernel ({kh}x{kw} after dilation) is larger than the "
                         f"padded input ({geo.hp}x{geo.wp}, input shape {x_shape}).")


# ---------------------------------------------------------------- public functions

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (PyTorch's conv2d), NCHW.

    y[n,o,p,q] = bias[o] + Σ_{c,i,j} weight[o,c,i,j] · x_pad[n, c', s·p + d·i, s·q + d·j]
    with weight (C_out, C_in/groups, kh, kw) and c' the input channel c of o's group.
    ``padding``: int, pair, "valid" (0) or "same" (output size = input size, stride 1; an odd
    total padding puts the extra row/column at the end, as PyTorch and TensorFlow do).

    >>> x = sj.randn(8, 3, 32, 32)
    >>> w = sj.randn(16, 3, 3, 3, requires_grad=True)
    >>> sj.conv2d(x, w, padding=1).shape
    (8, 16, 32, 32)
    """
    x, weight, bias = _operands(x, weight, bias)
    _check_inputs("conv2d", x, weight, bias, groups, ("N", "C", "H", "W"))
    return _conv("conv2d", x, weight, bias, stride, padding, dilation, groups, x.shape)


def _conv(name, x, weight, bias, stride, padding, dilation, groups, shown):
    """conv2d after the rank/channel checks (``shown``: the caller's input shape)."""
    stride = _pair(name, "stride", stride, 1)
    dilation = _pair(name, "dilation", dilation, 1)
    kernel = weight.shape[2:]
    pads = _conv_pads(name, padding, kernel, stride, dilation)
    geo = Geometry(x.shape, kernel, stride, dilation, pads)
    _check_fits(name, geo, shown)
    args = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(*args, geo=geo, groups=int(groups))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-D convolution (PyTorch's conv_transpose2d): the gradient of conv2d in x.

    weight (C_in, C_out/groups, kh, kw); output size per axis
    H_out = (H - 1)·s - 2·p + d·(k - 1) + output_padding + 1.

    >>> x = sj.randn(1, 16, 8, 8)
    >>> sj.conv_transpose2d(x, sj.randn(16, 3, 4, 4), stride=2, padding=1).shape
    (1, 3, 16, 16)
    """
    x, weight, bias = _operands(x, weight, bias)
    _check_inputs("conv_transpose2d", x, weight, bias, groups, ("N", "C", "H", "W"),
                  transposed=True)
    return _conv_transpose("conv_transpose2d", x, weight, bias, stride, padding,
                           output_padding, groups, dilation, x.shape)


def _conv_transpose(name, x, weight, bias, stride, padding, output_padding, groups, dilation,
                    shown):
    stride = _pair(name, "stride", stride, 1)
    dilation = _pair(name, "dilation", dilation, 1)
    ph, pw = _pair(name, "padding", padding, 0)
    oph, opw = _pair(name, "output_padding", output_padding, 0)
    if oph >= max(stride[0], dilation[0]) or opw >= max(stride[1], dilation[1]):
        raise ValueError(f"{name}: output_padding {output_padding!r} must be smaller than "
                         f"the stride or the dilation.")
    kernel = weight.shape[2:]
    size = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in zip(
        x.shape[2:], stride, (ph, pw), dilation, kernel, (oph, opw))]
    if min(size) < 1:
        raise ValueError(f"{name}: input of shape {shown} with kernel {tuple(kernel)}, "
                         f"stride {stride} and padding {(ph, pw)} gives an empty output.")
    out_shape = (x.shape[0], weight.shape[1] * groups, *size)
    geo = Geometry(out_shape, kernel, stride, dilation, (ph, ph, pw, pw))
    args = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d.apply(*args, geo=geo, groups=int(groups))


def _as_2d(t):
    """(A, B, L) → (A, B, 1, L): a 1-D convolution is a 2-D one of unit height."""
    return reshape(t, (t.shape[0], t.shape[1], 1, t.shape[2]))


def _one(name, arg, value):
    """A 1-D argument: an int or a 1-tuple, as an int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name}: `{arg}` must be an int or a 1-tuple, got {value!r}.")
        value = value[0]
    return value


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation (PyTorch's conv1d) on (N, C, L), weight (C_out, C_in/groups, k).

    y[n,o,t] = bias[o] + Σ_{c,i} weight[o,c,i] · x_pad[n, c', s·t + d·i];  padding as conv2d.

    >>> sj.conv1d(sj.randn(4, 2, 50), sj.randn(8, 2, 5), padding="same").shape
    (4, 8, 50)
    """
    name = "conv1d"
    x, weight, bias = _operands(x, weight, bias)
    _check_inputs(name, x, weight, bias, groups, ("N", "C", "L"))
    padding = _one(name, "padding", padding)
    y = _conv(name, _as_2d(x), _as_2d(weight), bias, (1, _one(name, "stride", stride)),
              padding if isinstance(padding, str) else (0, padding),
              (1, _one(name, "dilation", dilation)), groups, x.shape)
    return reshape(y, (y.shape[0], y.shape[1], y.shape[3]))


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 1-D convolution (PyTorch's conv_transpose1d), weight (C_in, C_out/groups, k).

    >>> sj.conv_transpose1d(sj.randn(1, 4, 10), sj.randn(4, 2, 3), stride=2).shape
    (1, 2, 21)
    """
    name = "conv_transpose1d"
    x, weight, bias = _operands(x, weight, bias)
    _check_inputs(name, x, weight, bias, groups, ("N", "C", "L"), transposed=True)
    y = _conv_transpose(name, _as_2d(x), _as_2d(weight), bias,
                        (1, _one(name, "stride", stride)), (0, _one(name, "padding", padding)),
                        (0, _one(name, "output_padding", output_padding)), groups,
                        (1, _one(name, "dilation", dilation)), x.shape)
    return reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
