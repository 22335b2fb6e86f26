"""Matrix products."""
from __future__ import annotations

from .. import amp
from ..autograd import Function
from ._util import lift_pair, unbroadcast


class MatMul(Function):
    """Z = A @ B (batched, broadcast);  dA = dZ @ Bᵀ,  dB = Aᵀ @ dZ.

    1-D operands follow NumPy: a vector on the left is a row, on the right a column.
    """

    saves_output = False

    def forward(self, a, b):
        self.saved = (a, b)
        return a @ b

    def backward(self, g):
        a, b = self.saved
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:  # b first: for vector·vector g is 0-d and becomes (1, 1)
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        da = db = None
        if self.needs_grad[0]:
            da = g @ b2.swapaxes(-1, -2)
            da = unbroadcast(da, a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            db = a2.swapaxes(-1, -2) @ g
            db = unbroadcast(db, b2.shape).reshape(b.shape)
        return da, db


class Affine(Function):
    """Y = X @ W + b for X of shape (…, in), W (in, out), b (out,) — a dense layer in one node.

    dX = dY @ Wᵀ,  dW = Xᵀ @ dY (batch axes folded),  db = Σ dY over the batch axes.
    """

    saves_output = False

    def forward(self, x, w, b=None):
        self.saved = (x, w)
        y = x @ w
        if b is not None:
            y += b
        return y

    def backward(self, g):
        x, w = self.saved
        dx = g @ w.T if self.needs_grad[0] else None
        g2 = g.reshape(-1, g.shape[-1])
        dw = x.reshape(-1, x.shape[-1]).T @ g2 if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return dx, dw
        return dx, dw, (g2.sum(axis=0) if self.needs_grad[2] else None)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules (batched, broadcast batch axes).
    Under ``amp.autocast`` the operands are cast to float16."""
    a, b = amp.cast_inputs(*lift_pair(a, b))
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul needs operands with at least one dimension, "
                         f"got shapes {a.shape} and {b.shape}; use mul for scalars.")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({ka} != {kb}).")
    return MatMul.apply(a, b)


def affine(x, w, b=None):
    """x @ w + b with w of shape (in, out): the dense layer's product as one graph node.
    Under ``amp.autocast`` x, w and b are cast to float16."""
    x, w, b = amp.cast_inputs(x, w, b)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"affine: inputs with {x.shape[-1]} features do not match a "
                         f"weight of shape {w.shape}.")
    return Affine.apply(x, w) if b is None else Affine.apply(x, w, b)
