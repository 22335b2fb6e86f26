"""Shape ops and indexing against PyTorch, plus finite differences."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_fd, check_op, randn

import shenjing as sj

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 4), (-1,), (2, -1, 3), (24,), (4, 3, 2, 1)])
def test_reshape(shape, dtype):
    check_op(lambda t: t.reshape(shape), lambda t: t.reshape(shape), randn(2, 3, 4, dtype=dtype))
    check_op(lambda t: t.reshape(*shape), lambda t: t.view(*shape), randn(2, 3, 4, dtype=dtype))


def test_reshape_errors():
    with pytest.raises(ValueError, match="cannot reshape"):
        sj.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="at most one -1"):
        sj.ones(2, 3).reshape(-1, -1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_permute_swapaxes(dtype):
    x = randn(2, 3, 4, dtype=dtype)
    check_op(lambda t: t.T, lambda t: t.permute(2, 1, 0), x)
    check_op(lambda t: t.transpose(), lambda t: t.permute(2, 1, 0), x)
    check_op(lambda t: t.permute(1, 2, 0), lambda t: t.permute(1, 2, 0), x)
    check_op(lambda t: sj.transpose(t, (0, -1, 1)), lambda t: t.permute(0, 2, 1), x)
    check_op(lambda t: t.swapaxes(0, 2), lambda t: t.transpose(0, 2), x)
    check_op(lambda t: sj.swapaxes(t, -1, -2), lambda t: t.transpose(-1, -2), x)
    check_fd(lambda t: t.permute(1, 2, 0), randn(2, 3, 4))


def test_transpose_bad_axes():
    with pytest.raises(ValueError, match="permutation"):
        sj.ones(2, 3).transpose(0, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_to_expand(dtype):
    check_op(lambda t: sj.broadcast_to(t, (2, 3, 4)), lambda t: t.expand(2, 3, 4),
             randn(3, 1, dtype=dtype))
    check_op(lambda t: t.expand(2, -1, 4), lambda t: t.expand(2, -1, 4), randn(3, 1, dtype=dtype))
    check_op(lambda t: t.broadcast_to((5,)), lambda t: t.expand(5), randn(1, dtype=dtype))
    check_fd(lambda t: sj.broadcast_to(t, (2, 3, 4)), randn(1, 4))
    for shape, target in [((3,), (2, 4)), ((1, 3), (2, 1)), ((2, 3), (3,))]:
        with pytest.raises(ValueError, match=re.escape(f"shape {shape} to {target}")):
            sj.ones(*shape).broadcast_to(target)


@pytest.mark.parametrize("dtype", DTYPES)
def test_squeeze_unsqueeze(dtype):
    x = randn(1, 3, 1, 2, dtype=dtype)
    check_op(lambda t: t.squeeze(), lambda t: t.squeeze(), x)
    check_op(lambda t: t.squeeze(2), lambda t: t.squeeze(2), x)
    check_op(lambda t: sj.squeeze(t, (0, -2)), lambda t: t.squeeze((0, -2)), x)
    for axis in (0, 2, 4, -1, -5):
        check_op(lambda t, a=axis: t.unsqueeze(a), lambda t, a=axis: t.unsqueeze(a), x)
    check_op(lambda t: sj.expand_dims(t, 1), lambda t: t.unsqueeze(1), x)
    with pytest.raises(ValueError, match="cannot squeeze axis 1"):
        sj.squeeze(sj.tensor(x), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten(dtype):
    x = randn(2, 3, 4, 5, dtype=dtype)
    check_op(lambda t: t.flatten(), lambda t: t.flatten(), x)
    check_op(lambda t: t.flatten(1), lambda t: t.flatten(1), x)
    check_op(lambda t: sj.flatten(t, 1, 2), lambda t: t.flatten(1, 2), x)
    check_op(lambda t: sj.flatten(t, -2), lambda t: t.flatten(-2), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_stack(axis, dtype):
    a, b, c = randn(2, 3, dtype=dtype), randn(2, 3, dtype=dtype, seed=1), randn(2, 3, dtype=dtype,
                                                                               seed=2)
    check_op(lambda *ts: sj.concatenate(ts, axis), lambda *ts: torch.cat(ts, axis), a, b, c)
    check_op(lambda *ts: sj.stack(ts, axis), lambda *ts: torch.stack(ts, axis), a, b, c)
    check_op(lambda *ts: sj.cat(list(ts), axis=axis), lambda *ts: torch.cat(ts, axis), a, b)


def test_concatenate_unequal_lengths_and_fd():
    a, b = randn(2, 3), randn(2, 5, seed=1)
    check_op(lambda x, y: sj.concatenate([x, y], 1), lambda x, y: torch.cat([x, y], 1), a, b)
    check_fd(lambda x, y: sj.concatenate([x, y], axis=-1), a, b)
    check_fd(lambda x, y: sj.stack([x, y], axis=1), a, randn(2, 3, seed=2))


def test_concatenate_stack_errors():
    with pytest.raises(ValueError, match="must match except on axis 0"):
        sj.concatenate([sj.ones(2, 3), sj.ones(2, 4)])
    with pytest.raises(ValueError, match="equal shape"):
        sj.stack([sj.ones(2), sj.ones(3)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_numpy_semantics(dtype):
    x = randn(6, 4, dtype=dtype)
    check_op(lambda t: sj.split(t, 3), lambda t: torch.split(t, 2), x)  # 3 equal pieces
    check_op(lambda t: t.split([1, 4]), lambda t: torch.split(t, [1, 3, 2]), x)  # cut positions
    check_op(lambda t: sj.split(t, 2, axis=1), lambda t: torch.split(t, 2, dim=1), x)
    check_op(lambda t: sj.split(t, [3], axis=-1), lambda t: torch.split(t, [3, 1], dim=-1), x)
    check_fd(lambda t: sj.split(t, [1, 4])[1] * 2 + sj.split(t, [1, 4])[2].sum(), x)
    with pytest.raises(ValueError, match="4 equal pieces"):
        sj.split(sj.tensor(x), 4)


def _torch_pad(pad_width):
    # NumPy lists (before, after) from the first axis; F.pad from the last, flattened
    return [v for pair in reversed(pad_width) for v in pair]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad_width", [((1, 2), (0, 3)), ((0, 0), (2, 1)), ((1, 1), (1, 1))])
def test_pad(pad_width, dtype):
    x = randn(2, 3, dtype=dtype)
    check_op(lambda t: sj.pad(t, pad_width), lambda t: F.pad(t, _torch_pad(pad_width)), x)
    check_op(lambda t: sj.pad(t, pad_width, value=1.5),
             lambda t: F.pad(t, _torch_pad(pad_width), value=1.5), x)
    check_fd(lambda t: sj.pad(t, pad_width), randn(2, 3))


def test_pad_shorthands():
    x = randn(2, 3)
    check_op(lambda t: sj.pad(t, 1), lambda t: F.pad(t, [1, 1, 1, 1]), x)
    check_op(lambda t: sj.pad(t, (1, 2)), lambda t: F.pad(t, [1, 2, 1, 2]), x)
    with pytest.raises(ValueError, match="non-negative"):
        sj.pad(sj.tensor(x), -1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_flip(axis, dtype):
    dims = (0, 1, 2) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    check_op(lambda t: t.flip(axis), lambda t: t.flip(dims), randn(2, 3, 4, dtype=dtype))
    check_fd(lambda t: sj.flip(t, axis), randn(2, 3, 2))


# ---------------------------------------------------------------- getitem
IDX = np.array([2, 0, 2, 2])
MASK = np.array([True, False, True, False, True])
INDICES = {
    "int": 1,
    "neg_int": -1,
    "slice": slice(1, 4),
    "slice_step": (slice(None, None, 2), slice(1, None, 2)),
    "neg_step": (slice(None, None, 2), slice(3, 0, -1)),  # torch has no negative steps
    "none": (None, 1, None),
    "ellipsis": (Ellipsis, 1),
    "ellipsis_none": (1, Ellipsis, None),
    "int_array_repeated": IDX,
    "int_array_axis1": (slice(None), IDX),
    "two_int_arrays": (np.array([0, 4, 0]), np.array([1, 1, 1])),
    "bool_mask": MASK,
    "bool_mask_axis1": (slice(None), np.array([True, False, True, True])),
    "bool_mask_2d": None,  # filled below
    "mixed": (IDX, slice(1, 3)),
    "mixed_int": (1, IDX[:2]),
    "list": [0, 0, 3],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INDICES)
def test_getitem(name, dtype):
    x = randn(5, 4, dtype=dtype)
    index = x > 0 if name == "bool_mask_2d" else INDICES[name]
    if name == "neg_step":
        check_op(lambda t: t[index], lambda t: t[::2, 1:4].flip(1), x)
        return
    t_index = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in index) \
        if isinstance(index, tuple) else (torch.tensor(index) if isinstance(index, np.ndarray)
                                          else index)
    check_op(lambda t: t[index], lambda t: t[t_index], x)


def test_getitem_repeated_indices_accumulate():
    x = sj.tensor(randn(4), requires_grad=True)
    x[np.array([1, 1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 1])


def test_getitem_with_tensor_index_and_fd():
    idx = sj.tensor([2, 0, 2])
    check_op(lambda t: t[idx], lambda t: t[torch.tensor([2, 0, 2])], randn(3, 2))
    check_op(lambda t: t[t > 0], lambda t: t[t > 0], randn(3, 2))
    check_op(lambda t: t[:, t[0] > 0], lambda t: t[:, t[0] > 0], randn(3, 4))
    check_fd(lambda t: t[np.array([2, 0, 2]), 1:], randn(3, 3))
    check_fd(lambda t: t[..., ::2], randn(3, 4))


def test_getitem_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"tensor shape \(2, 3\)"):
        sj.ones(2, 3, requires_grad=True)[5]


def test_getitem_without_grad_is_plain():
    y = sj.tensor(randn(3, 4))[1:, ::2]
    assert not y.requires_grad and y.grad_fn is None and y.shape == (2, 2)


@pytest.mark.parametrize("fn", [
    lambda t: t.reshape(3, -1) * sj.arange(4.0), lambda t: t.squeeze(1) ** 2,
    lambda t: t.unsqueeze(0).swapaxes(0, 2) * 2, lambda t: t.flatten() ** 2,
    lambda t: t.expand(3, 4, 4).sum(axis=1) ** 2,
], ids=["reshape", "squeeze", "unsqueeze_swapaxes", "flatten", "expand"])
def test_composed_shape_ops_fd(fn):
    check_fd(fn, randn(3, 1, 4))
