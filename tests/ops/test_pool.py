"""Pooling, upsampling and 2-D padding against torch.nn.functional, plus finite differences
and the errors at the public boundary."""
import numpy as np
import pytest
import torch.nn.functional as F
from helpers import check_fd, check_op, randn

import shenjing as sj
from shenjing.ops.pool import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    global_avg_pool2d,
    global_max_pool2d,
    max_pool1d,
    max_pool2d,
    pad2d,
    upsample,
    upsample_nearest2d,
)

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]

POOL2D = {  # (x shape, kernel_size, stride, padding)
    "k2": ((2, 3, 8, 8), 2, None, 0),
    "k2-odd-size": ((1, 2, 9, 7), 2, None, 0),  # floor: the last row / column is dropped
    "k3-s2-p1": ((2, 3, 9, 8), 3, 2, 1),
    "overlap-s1": ((2, 2, 6, 7), 3, 1, 0),
    "non-square": ((2, 2, 7, 9), (3, 2), (1, 2), (1, 0)),
    "stride-gt-kernel": ((1, 2, 9, 9), 2, 3, 1),
    "whole-input": ((2, 3, 4, 5), (4, 5), None, 0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL2D)
def test_max_pool2d_matches_torch(case, dtype):
    xs, k, s, p = POOL2D[case]
    check_op(lambda x: max_pool2d(x, k, s, p), lambda x: F.max_pool2d(x, k, s, p),
             randn(*xs, dtype=dtype))


@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL2D)
def test_avg_pool2d_matches_torch(case, dtype, include_pad):
    xs, k, s, p = POOL2D[case]
    check_op(lambda x: avg_pool2d(x, k, s, p, count_include_pad=include_pad),
             lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=include_pad),
             randn(*xs, dtype=dtype))


@pytest.mark.parametrize("case", ["k2", "k3-s2-p1", "overlap-s1"])
def test_max_pool2d_ties_go_to_the_first_max_like_torch(case):
    xs, k, s, p = POOL2D[case]
    x = np.round(randn(*xs, seed=4)).astype("float32")  # many equal values in each window
    check_op(lambda x: max_pool2d(x, k, s, p), lambda x: F.max_pool2d(x, k, s, p), x)


def test_max_pool2d_tie_gradient_position():
    x = sj.tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]], np.float32), requires_grad=True)
    max_pool2d(x, 2).backward(np.ones((1, 1, 1, 1), np.float32))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 1], [0, 0]])


def test_max_pool2d_padding_never_wins():
    x = -np.abs(randn(1, 1, 4, 4)) - 5  # all negative: a zero pad would win
    y = max_pool2d(sj.tensor(x), 3, 2, 1).numpy()
    assert (y < -4).all()


@pytest.mark.parametrize("case", ["k3-s2-p1", "overlap-s1", "non-square"])
def test_pool2d_finite_differences(case):
    xs, k, s, p = POOL2D[case]
    x = randn(1, *xs[1:], seed=5)
    check_fd(lambda x: max_pool2d(x, k, s, p), x)  # distinct values: no ties
    check_fd(lambda x: avg_pool2d(x, k, s, p, count_include_pad=False), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 2, 1), (4, 1, 2)])
def test_pool1d_matches_torch(k, s, p, dtype):
    x = randn(2, 3, 11, dtype=dtype)
    check_op(lambda x: max_pool1d(x, k, s, p), lambda x: F.max_pool1d(x, k, s, p), x)
    check_op(lambda x: avg_pool1d(x, k, s, p), lambda x: F.avg_pool1d(x, k, s, p), x)
    check_op(lambda x: avg_pool1d(x, k, s, p, count_include_pad=False),
             lambda x: F.avg_pool1d(x, k, s, p, count_include_pad=False), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, size", [
    ((2, 3, 8, 6), (4, 3)),      # divides evenly: the avg_pool2d fast path
    ((2, 3, 7, 9), (3, 4)),      # uneven windows that overlap
    ((1, 2, 5, 5), 3),
    ((2, 2, 7, 6), (5, None)),   # None keeps the axis
    ((1, 2, 3, 4), (5, 7)),      # output larger than the input
    ((2, 3, 6, 5), 1),
])
def test_adaptive_avg_pool2d_matches_torch(shape, size, dtype):
    check_op(lambda x: adaptive_avg_pool2d(x, size), lambda x: F.adaptive_avg_pool2d(x, size),
             randn(*shape, dtype=dtype))


def test_adaptive_avg_pool2d_finite_differences():
    check_fd(lambda x: adaptive_avg_pool2d(x, (3, 2)), randn(1, 2, 7, 5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_pools_match_torch(dtype):
    x = randn(2, 3, 5, 4, dtype=dtype)
    check_op(global_avg_pool2d, lambda x: x.mean(dim=(2, 3)), x)
    check_op(lambda x: global_avg_pool2d(x, keepdims=True),
             lambda x: F.adaptive_avg_pool2d(x, 1), x)
    check_op(global_max_pool2d, lambda x: F.adaptive_max_pool2d(x, 1).flatten(1), x)
    ties = np.round(x)
    check_op(lambda x: global_max_pool2d(x, keepdims=True),
             lambda x: F.adaptive_max_pool2d(x, 1), ties)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor", [2, (1, 3), (3, 2)])
def test_upsample_nearest_matches_torch(factor, dtype):
    check_op(lambda x: upsample_nearest2d(x, factor),
             lambda x: F.interpolate(x, scale_factor=factor, mode="nearest"),
             randn(2, 3, 3, 4, dtype=dtype))
    check_op(lambda x: upsample(x, factor), lambda x: F.interpolate(x, scale_factor=factor),
             randn(1, 2, 2, 3, dtype=dtype))


PADS = [(1, 2, 3, 0), (0, 0, 2, 2), (3, 3, 1, 1), 2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["reflect", "replicate", "zeros"])
@pytest.mark.parametrize("padding", PADS)
def test_pad2d_matches_torch(padding, mode, dtype):
    tp = (padding,) * 4 if isinstance(padding, int) else padding
    t_mode = "constant" if mode == "zeros" else mode
    check_op(lambda x: pad2d(x, padding, mode), lambda x: F.pad(x, tp, mode=t_mode),
             randn(2, 3, 4, 5, dtype=dtype))


def test_pad2d_value_and_3d_input():
    check_op(lambda x: pad2d(x, (1, 0, 2, 1), value=1.5),
             lambda x: F.pad(x, (1, 0, 2, 1), value=1.5), randn(3, 4, 5))
    check_op(lambda x: pad2d(x, (2, 1, 1, 3), mode="reflect"),
             lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect"), randn(3, 4, 5))


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad2d_finite_differences(mode):
    check_fd(lambda x: pad2d(x, (2, 1, 3, 2), mode), randn(1, 2, 4, 4))


@pytest.mark.parametrize("call, message", [
    (lambda: max_pool2d(randn(3, 8, 8), 2), r"4-D input \(N, C, H, W\).*\(3, 8, 8\)"),
    (lambda: avg_pool1d(randn(3, 8), 2), r"3-D input \(N, C, L\).*\(3, 8\)"),
    (lambda: max_pool2d(randn(1, 1, 8, 8), 2, padding=2), r"at most half the kernel"),
    (lambda: max_pool2d(randn(1, 1, 3, 3), 4), r"kernel \(4, 4\) is larger than the padded"),
    (lambda: avg_pool2d(randn(1, 1, 8, 8), 2, stride=0), r"stride.*positive"),
    (lambda: max_pool2d(randn(1, 1, 8, 8), (2, 2, 2)), r"kernel_size.*2 ints"),
    (lambda: adaptive_avg_pool2d(randn(1, 1, 8, 8), 0), r"output_size must be positive"),
    (lambda: upsample_nearest2d(randn(1, 1, 2, 2), 0), r"scale_factor.*positive"),
    (lambda: upsample(randn(1, 1, 2, 2), 2, mode="bilinear"), r"mode 'bilinear'"),
    (lambda: pad2d(randn(1, 1, 3, 3), 3, mode="reflect"), r"smaller than the padded axes"),
    (lambda: pad2d(randn(1, 1, 3, 3), 1, mode="circular"), r"'zeros', 'reflect'"),
    (lambda: pad2d(randn(1, 1, 3, 3), (1, 2)), r"padding.*4 ints"),
])
def test_pool_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_avg_pool_needs_floats():
    with pytest.raises(TypeError, match="floating-point"):
        avg_pool2d(np.ones((1, 1, 4, 4), np.int64), 2)
