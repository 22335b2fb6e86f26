"""Convolutions in NCHW layout, with torch.nn.functional's signatures and weight layouts.

Both directions are one batched matrix product over the group axis (``_im2col`` explains the
column layout):

    conv2d            Y = W ⋆ X:   cols = im2col(X);  Y = W @ cols
                      dW = dY @ colsᵀ;  dX = col2im(Wᵀ @ dY)
    conv_transpose2d  the adjoint of conv2d in its input, so the same pieces swapped:
                      Y = col2im(Wᵀ @ X);  dX = W @ im2col(dY);  dW = X @ im2col(dY)ᵀ

With groups G the channels split into G independent convolutions; the weight matrix is
(G, O/G, C/G·kh·kw) and the columns (G, C/G·kh·kw, M), one ``matmul`` for all groups.

Why channel-major columns (C·kh·kw, N·OH·OW): on a ResNet-20 layer (128x16x32x32, 3x3,
pad 1, forward + backward, 2 cores) they measured 57 ms against 84 ms for per-image
columns (N, C·kh·kw, OH·OW) with a batched matmul and 158 ms for pixel-major columns
(N·OH·OW, C·kh·kw): the 9 reads of each input plane stay in cache while it is copied, and
the products are few large matrices.  ``_im2col``'s wide grid then cuts the copies further.
"""
from __future__ import annotations

import numbers

from ..autograd import Function
from ._im2col import Geometry, col2im, from_grid, im2col, to_grid
from ._util import lift
from .shape import reshape


class Conv2d(Function):
    """y[n,o] = b[o] + Σ_{c,i,j} w[o,c,i,j] · x_pad[n, g·C/G + c, sh·y + dh·i, sw·x + dw·j].

    Forward saves the columns (for dW) only when the weight needs a gradient.
    """

    def forward(self, x, w, b=None, *, geo, groups):
        cols = im2col(x, geo)
        o = w.shape[0]
        y = w.reshape(groups, o // groups, -1) @ cols.reshape(groups, -1, geo.m)
        self.saved = (cols if self.needs_grad[1] else None, w, geo, groups)
        return from_grid(y.reshape(o, geo.m), geo, bias=b)

    def backward(self, g):
        cols, w, geo, groups = self.saved
        o = w.shape[0]
        gg = to_grid(g, geo).reshape(groups, o // groups, geo.m)
        dx = dw = db = None
        if self.needs_grad[0]:
            wm = w.reshape(groups, o // groups, -1)
            dx = col2im((wm.transpose(0, 2, 1) @ gg).reshape(-1, geo.m), geo)
        if self.needs_grad[1]:
            cols = cols.reshape(groups, -1, geo.m)
            dw = (gg @ cols.transpose(0, 2, 1)).reshape(w.shape)
        if len(self.needs_grad) == 2:
            return dx, dw
        if self.needs_grad[2]:
            db = g.sum(axis=(0, 2, 3))
        return dx, dw, db


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: y = col2im(Wᵀ @ x) (+ b), weight (C_in, C_out/G, kh, kw).

    ``geo`` describes the conv2d that maps y's shape back to x's.  Saves x on the column grid
    (for dW) only when the weight needs a gradient.
    """

    def forward(self, x, w, b=None, *, geo, groups):
        cin = w.shape[0]
        xg = to_grid(x, geo).reshape(groups, cin // groups, geo.m)
        cols = w.reshape(groups, cin // groups, -1).transpose(0, 2, 1) @ xg
        y = col2im(cols.reshape(-1, geo.m), geo)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        self.saved = (xg if self.needs_grad[1] else None, w, geo, groups, x.shape[2:])
        return y

    def backward(self, g):
        xg, w, geo, groups, (h, wd) = self.saved
        cin = w.shape[0]
        gcols = im2col(g, geo).reshape(groups, -1, geo.m)
        dx = dw = db = None
        if self.needs_grad[0]:
            y = w.reshape(groups, cin // groups, -1) @ gcols
            dx = from_grid(y.reshape(cin, geo.m), geo, h, wd)
        if self.needs_grad[1]:
            dw = (xg @ gcols.transpose(0, 2, 1)).reshape(w.shape)
        if len(self.needs_grad) == 2:
            return dx, dw
        if self.needs_grad[2]:
            db = g.sum(axis=(0, 2, 3))
        return dx, dw, db


# ---------------------------------------------------------------- argument checks

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
    x, weight = lift(x), lift(weight)
    bias = None if bias is None else lift(bias)
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
    x, weight = lift(x), lift(weight)
    bias = None if bias is None else lift(bias)
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
    x, weight = lift(x), lift(weight)
    bias = None if bias is None else lift(bias)
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
    x, weight = lift(x), lift(weight)
    bias = None if bias is None else lift(bias)
    _check_inputs(name, x, weight, bias, groups, ("N", "C", "L"), transposed=True)
    y = _conv_transpose(name, _as_2d(x), _as_2d(weight), bias,
                        (1, _one(name, "stride", stride)), (0, _one(name, "padding", padding)),
                        (0, _one(name, "output_padding", output_padding)), groups,
                        (1, _one(name, "dilation", dilation)), x.shape)
    return reshape(y, (y.shape[0], y.shape[1], y.shape[3]))
