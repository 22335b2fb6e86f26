"""Shape ops: the data moves, the numbers do not, so each backward moves the gradient back."""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function
from ..backend import array_module, device_of, scatter_add, to_device
from ..tensor import Tensor
from ._util import lift, normalize_axis, unbroadcast


class Reshape(Function):
    """z = reshape(x);  dx = reshape(dz, x.shape)."""

    def forward(self, x, shape):
        self.saved = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.saved)


class Transpose(Function):
    """z = permute(x, axes);  dx = permute(dz, inverse(axes))."""

    def forward(self, x, axes):
        self.saved = axes
        return x.transpose(axes)

    def backward(self, g):
        return g.transpose(np.argsort(self.saved))


class BroadcastTo(Function):
    """z = broadcast(x, shape);  dx = dz summed over the stretched axes."""

    def forward(self, x, shape):
        self.saved = x.shape
        return array_module(x).broadcast_to(x, shape)

    def backward(self, g):
        return unbroadcast(g, self.saved)


class Concatenate(Function):
    """z = [x₁, x₂, …] along ``axis``;  each dxᵢ is its slice of dz."""

    def forward(self, *xs, axis):
        self.saved = (axis, np.cumsum([x.shape[axis] for x in xs])[:-1])
        return array_module(*xs).concatenate(xs, axis=axis)

    def backward(self, g):
        axis, cuts = self.saved
        return tuple(array_module(g).split(g, cuts.tolist(), axis=axis))


class Pad(Function):
    """Constant padding;  dx is the interior slice of dz."""

    def forward(self, x, pad_width, value):
        self.saved = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
        return array_module(x).pad(x, pad_width, mode="constant", constant_values=value)

    def backward(self, g):
        return g[self.saved]


class Flip(Function):
    """Reverse the order along axes;  dx = flip(dz)."""

    def forward(self, x, axes):
        self.saved = axes
        return array_module(x).flip(x, axis=axes)

    def backward(self, g):
        return array_module(g).flip(g, axis=self.saved)


class GetItem(Function):
    """z = x[index];  dx scatters dz back, summing where an index repeats."""

    def forward(self, x, index, basic):
        self.saved = (x.shape, x.dtype, index, basic)
        return x[index]

    def backward(self, g):
        shape, dtype, index, basic = self.saved
        xp = array_module(g)
        dx = xp.zeros(shape, dtype=g.dtype)
        if basic:
            dx[index] = g
        else:  # advanced indexing may repeat positions: accumulate
            scatter_add(dx, index, g)
        return dx


def reshape(x, shape):
    """Same data, new shape (one axis may be -1)."""
    x = lift(x)
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    target = _resolve_shape(tuple(int(d) for d in shape), x.shape)
    if target == x.shape:
        return x
    return Reshape.apply(x, shape=target)


def _resolve_shape(shape, old):
    """Fill in one -1 and check the element count."""
    size = 1
    for d in old:
        size *= d
    known = 1
    for d in shape:
        if d != -1:
            known *= d
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ValueError(f"invalid shape {shape}: at most one -1, no other negatives.")
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape a tensor of shape {old} ({size} elements) "
                             f"into shape {shape}.")
        shape = tuple(size // known if d == -1 else d for d in shape)
    elif known != size:
        raise ValueError(f"cannot reshape a tensor of shape {old} ({size} elements) "
                         f"into shape {shape}.")
    return shape


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one."""
    x = lift(x)
    nd = x.ndim
    if nd == 0:
        return reshape(x, (1,))
    s, e = start_axis % nd, end_axis % nd
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1:])


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    x = lift(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose axes {axes} are not a permutation of {x.ndim} axes.")
    return Transpose.apply(x, axes=axes)


permute = transpose


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    x = lift(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def broadcast_to(x, shape):
    """Broadcast to ``shape`` (NumPy rules); -1 keeps that axis as it is (PyTorch's expand)."""
    x = lift(x)
    shape = tuple(shape)
    offset = len(shape) - x.ndim
    shape = tuple(x.shape[i - offset] if s == -1 and i >= offset else s
                  for i, s in enumerate(shape))
    try:  # the target must be the broadcast result itself, not just compatible with x
        ok = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"cannot broadcast a tensor of shape {x.shape} to {shape}.")
    return BroadcastTo.apply(x, shape=shape)


expand = broadcast_to


def squeeze(x, axis=None):
    """Remove axes of length 1 (all of them when ``axis`` is None)."""
    x = lift(x)
    axes = normalize_axis(axis, x.ndim) if axis is not None else tuple(
        i for i, n in enumerate(x.shape) if n == 1)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of length {x.shape[a]} "
                             f"(tensor shape {x.shape}).")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert an axis of length 1 at position ``axis``."""
    x = lift(x)
    nd = x.ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"unsqueeze axis {axis} is out of range for {nd} dimensions.")
    axis %= nd
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


expand_dims = unsqueeze


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    ts = [lift(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate needs at least one tensor.")
    nd = ts[0].ndim
    axis = int(axis) % max(nd, 1)
    for t in ts[1:]:
        if t.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape))
                               if i != axis):
            raise ValueError("concatenate: all shapes must match except on axis "
                             f"{axis}, got {[t.shape for t in ts]}.")
    return Concatenate.apply(*ts, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    """Join tensors of equal shape along a new axis."""
    ts = [lift(t) for t in tensors]
    if not ts:
        raise ValueError("stack needs at least one tensor.")
    if any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack needs tensors of equal shape, got {[t.shape for t in ts]}.")
    return concatenate([unsqueeze(t, axis) for t in ts], axis=axis)


def split(x, indices_or_sections, axis=0):
    """Split into pieces along ``axis`` (NumPy semantics).

    An int ``n`` gives n equal pieces; a list gives the cut positions.  (PyTorch's
    ``torch.split`` takes piece *sizes* instead; ``sj.split(x, np.cumsum(sizes)[:-1])``.)
    """
    x = lift(x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, numbers.Integral):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of length {n} does not divide into {k} "
                             "equal pieces.")
        cuts = list(range(n // k, n, n // k))
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = [0, *cuts, n]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index = [slice(None)] * x.ndim
        index[axis] = slice(lo, hi)
        pieces.append(getitem(x, tuple(index)))
    return pieces


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy style: ``pad_width`` = ((before, after), …) per axis,
    or an int / a single pair applied to every axis."""
    x = lift(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=int), (x.ndim, 2)).tolist()
    if any(v < 0 for p in pw for v in p):
        raise ValueError(f"pad widths must be non-negative, got {pad_width}.")
    return Pad.apply(x, pad_width=tuple(map(tuple, pw)), value=value)


def flip(x, axis=None):
    """Reverse the element order along ``axis`` (all axes when None)."""
    x = lift(x)
    return Flip.apply(x, axes=normalize_axis(axis, x.ndim))


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))
               for i in items)


def _raw_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    return index


def _index_on(index, device):
    if isinstance(index, tuple):
        return tuple(_index_on(i, device) for i in index)
    is_array = hasattr(index, "shape") and not isinstance(index, np.generic)
    return to_device(index, device) if is_array else index


def getitem(x, index):
    """``x[index]`` with ints, slices, None, Ellipsis, integer and boolean arrays."""
    x = lift(x)
    index = _raw_index(index)
    basic = _is_basic(index)
    if not basic:  # integer / boolean index arrays live where x does (CuPy needs that)
        index = _index_on(index, device_of(x.data))
    if basic and not x.requires_grad:
        return Tensor._wrap(x.data[index])
    try:
        return GetItem.apply(x, index=index, basic=basic)
    except IndexError as e:
        raise IndexError(f"{e} (tensor shape {x.shape})") from None
