"""Convolutions against torch.nn.functional (values, dtypes, gradients of x, weight, bias),
float64 finite differences, and the errors at the public boundary."""
import contextlib
import os
import signal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_fd, check_op, randn
from hypothesis import given, settings
from hypothesis import strategies as st

import shenjing as sj
from shenjing.ops import _im2col
from shenjing.ops import conv as conv_module
from shenjing.ops._im2col import Geometry
from shenjing.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]

# (x shape, weight shape, keyword arguments)
CONV2D = {
    "plain": ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    "stride2-pad1": ((2, 3, 9, 8), (5, 3, 3, 3), dict(stride=2, padding=1)),
    "same-odd": ((2, 2, 6, 7), (3, 2, 3, 3), dict(padding="same")),
    "same-even-kernel": ((1, 2, 6, 7), (3, 2, 4, 2), dict(padding="same")),
    "same-dilated": ((2, 2, 8, 7), (3, 2, 3, 2), dict(padding="same", dilation=2)),
    "valid": ((2, 2, 6, 5), (3, 2, 2, 3), dict(padding="valid")),
    "mixed-pairs": ((2, 3, 9, 10), (4, 3, 3, 2),
                    dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    "groups2": ((2, 4, 7, 7), (6, 2, 3, 3), dict(groups=2, padding=1)),
    "depthwise": ((2, 4, 7, 6), (8, 1, 3, 3), dict(groups=4, padding=1, stride=2)),
    "batch1-odd": ((1, 3, 7, 5), (2, 3, 5, 3), dict(padding=(2, 1))),
    "1x1-stride2": ((2, 5, 7, 7), (3, 5, 1, 1), dict(stride=2)),
    "kernel-fills-input": ((3, 2, 4, 5), (3, 2, 4, 5), {}),
    "wide-grid": ((2, 3, 6, 14), (4, 3, 3, 3), dict(padding=1)),
    "stride3-dilated": ((2, 2, 11, 10), (3, 2, 2, 3), dict(stride=3, dilation=2, padding=1)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV2D)
def test_conv2d_matches_torch(case, dtype):
    xs, ws, kw = CONV2D[case]
    x, w = randn(*xs, dtype=dtype), randn(*ws, dtype=dtype, seed=1)
    b = randn(ws[0], dtype=dtype, seed=2)
    check_op(lambda x, w, b: conv2d(x, w, b, **kw), lambda x, w, b: F.conv2d(x, w, b, **kw),
             x, w, b)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", ["plain", "groups2", "same-even-kernel"])
def test_conv2d_without_bias(case):
    xs, ws, kw = CONV2D[case]
    check_op(lambda x, w: conv2d(x, w, **kw), lambda x, w: F.conv2d(x, w, **kw),
             randn(*xs), randn(*ws, seed=1))


def test_wide_and_narrow_grids_are_both_exercised():
    # the stride-1 fast path (columns over an OH x Wp grid) and the plain OH x OW grid
    assert Geometry((2, 3, 6, 14), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)).wide
    assert not Geometry((2, 3, 6, 6), (5, 5), (1, 1), (1, 1), (0, 0, 0, 0)).wide
    assert not Geometry((2, 3, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)).wide


@pytest.mark.parametrize("kernel, dilation", [((3, 3), (1, 1)), ((2, 4), (2, 3))])
def test_wide_grid_windows_stay_inside_the_buffer(kernel, dilation):
    geo = Geometry((2, 3, 6, 40), kernel, (1, 1), dilation, (1, 1, 2, 2))
    assert geo.wide
    last = ((geo.c * geo.n - 1) * geo.plane + (geo.kh - 1) * geo.dh * geo.wp
            + (geo.kw - 1) * geo.dw + (geo.oh - 1) * geo.wp + geo.wg - 1)
    assert last < geo.c * geo.n * geo.plane


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), cg=st.integers(1, 3), og=st.integers(1, 3), groups=st.integers(1, 3),
       h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       ph=st.integers(0, 2), pw=st.integers(0, 2))
def test_conv2d_random_geometry(n, cg, og, groups, h, w, kh, kw, sh, sw, dh, dw, ph, pw):
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        return
    kwargs = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
    check_op(lambda x, w_, b: conv2d(x, w_, b, **kwargs),
             lambda x, w_, b: F.conv2d(x, w_, b, **kwargs),
             randn(n, cg * groups, h, w, dtype="float64"),
             randn(og * groups, cg, kh, kw, dtype="float64", seed=1),
             randn(og * groups, dtype="float64", seed=2))


@pytest.mark.parametrize("case", ["stride2-pad1", "same-dilated", "depthwise", "mixed-pairs"])
def test_conv2d_finite_differences(case):
    xs, ws, kw = CONV2D[case]
    xs = (1,) + xs[1:]
    check_fd(lambda x, w, b: conv2d(x, w, b, **kw), randn(*xs), randn(*ws, seed=1),
             randn(ws[0], seed=2))


def test_conv2d_gradient_of_one_input_only():
    x, w = randn(2, 3, 6, 6), randn(4, 3, 3, 3, seed=1)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    g = randn(2, 4, 6, 6, seed=3)
    F.conv2d(tx, tw, padding=1).backward(torch.tensor(g))
    for x_grad in (True, False):
        sx, sw_ = sj.tensor(x, requires_grad=x_grad), sj.tensor(w, requires_grad=not x_grad)
        conv2d(sx, sw_, padding=1).backward(g)
        leaf, other, ref = (sx, sw_, tx) if x_grad else (sw_, sx, tw)
        np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)
        assert other.grad is None


def test_conv2d_keeps_float32_and_no_grad_gives_plain_tensor():
    x, w = sj.tensor(randn(1, 2, 5, 5)), sj.tensor(randn(3, 2, 3, 3), requires_grad=True)
    with sj.no_grad():
        y = conv2d(x, w)
    assert y.dtype == np.float32 and not y.requires_grad and y.grad_fn is None


CONV_T = {
    "plain": ((2, 4, 5, 6), (4, 3, 3, 3), {}),
    "stride2-pad1": ((2, 4, 5, 4), (4, 3, 3, 3), dict(stride=2, padding=1)),
    "output-padding": ((1, 4, 5, 5), (4, 2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    "groups": ((2, 4, 4, 5), (4, 3, 3, 2),
               dict(groups=2, stride=3, padding=2, output_padding=2)),
    "dilation-op": ((2, 2, 4, 4), (2, 3, 3, 3), dict(dilation=2, output_padding=1)),
    "mixed": ((2, 3, 5, 4), (3, 2, 4, 3), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2))),
    "depthwise": ((2, 3, 5, 5), (3, 1, 4, 4), dict(groups=3, stride=2, padding=1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_T)
def test_conv_transpose2d_matches_torch(case, dtype):
    xs, ws, kw = CONV_T[case]
    out_c = ws[1] * kw.get("groups", 1)
    check_op(lambda x, w, b: conv_transpose2d(x, w, b, **kw),
             lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
             randn(*xs, dtype=dtype), randn(*ws, dtype=dtype, seed=1),
             randn(out_c, dtype=dtype, seed=2))


@pytest.mark.parametrize("case", ["stride2-pad1", "groups", "dilation-op"])
def test_conv_transpose2d_finite_differences(case):
    xs, ws, kw = CONV_T[case]
    check_fd(lambda x, w: conv_transpose2d(x, w, **kw), randn(1, *xs[1:]), randn(*ws, seed=1))


def test_conv_transpose2d_is_the_input_gradient_of_conv2d():
    x, w, g = randn(2, 3, 9, 9), randn(4, 3, 3, 3, seed=1), randn(2, 4, 4, 4, seed=2)
    sx = sj.tensor(x, requires_grad=True)
    conv2d(sx, sj.tensor(w), stride=2).backward(g)
    y = conv_transpose2d(sj.tensor(g), sj.tensor(w), stride=2)
    np.testing.assert_allclose(y.numpy(), sx.grad.numpy(), rtol=1e-5, atol=1e-6)


CONV1D = {
    "plain": ((2, 3, 11), (4, 3, 3), {}),
    "same-even": ((2, 2, 9), (3, 2, 4), dict(padding="same", dilation=2)),
    "strided": ((1, 4, 12), (6, 2, 3), dict(stride=2, padding=1, groups=2)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV1D)
def test_conv1d_matches_torch(case, dtype):
    xs, ws, kw = CONV1D[case]
    check_op(lambda x, w, b: conv1d(x, w, b, **kw), lambda x, w, b: F.conv1d(x, w, b, **kw),
             randn(*xs, dtype=dtype), randn(*ws, dtype=dtype, seed=1),
             randn(ws[0], dtype=dtype, seed=2))


def test_conv1d_finite_differences():
    check_fd(lambda x, w: conv1d(x, w, stride=2, padding=1), randn(1, 2, 7), randn(3, 2, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose1d_matches_torch(dtype):
    kw = dict(stride=2, padding=1, output_padding=1)
    check_op(lambda x, w, b: conv_transpose1d(x, w, b, **kw),
             lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
             randn(2, 4, 6, dtype=dtype), randn(4, 3, 3, dtype=dtype, seed=1),
             randn(3, dtype=dtype, seed=2))


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(randn(3, 8, 8), randn(4, 3, 3, 3)), r"4-D input \(N, C, H, W\).*\(3, 8, 8\)"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(4, 3, 3)), r"4-D weight.*\(4, 3, 3\)"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(4, 2, 3, 3)),
     r"\(1, 3, 8, 8\) has 3 channels.*\(4, 2, 3, 3\).*expects 2"),
    (lambda: conv2d(randn(1, 4, 8, 8), randn(3, 2, 3, 3), groups=2), r"groups=2 must divide"),
    (lambda: conv2d(randn(1, 3, 4, 4), randn(2, 3, 5, 5)), r"kernel \(5x5.*padded input \(4x4"),
    (lambda: conv2d(randn(1, 3, 4, 4), randn(2, 3, 3, 3), dilation=2),
     r"kernel \(5x5 after dilation"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), stride=0), r"stride.*positive"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), stride=(1, -1)), r"stride.*positive"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), padding=-1), r"padding.*non-negative"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), padding="full"), r"'valid' or 'same'"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), stride=2, padding="same"),
     r"padding='same' needs stride 1"),
    (lambda: conv2d(randn(1, 3, 8, 8), randn(2, 3, 3, 3), randn(3)), r"bias must have shape"),
    (lambda: conv1d(randn(3, 8), randn(2, 3, 3)), r"3-D input \(N, C, L\).*\(3, 8\)"),
    (lambda: conv_transpose2d(randn(1, 3, 4, 4), randn(2, 3, 3, 3)),
     r"3 channels.*expects 2 \(weight.shape\[0\]\)"),
    (lambda: conv_transpose2d(randn(1, 3, 4, 4), randn(3, 3, 3, 3), stride=2, output_padding=2),
     r"output_padding"),
])
def test_conv_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_conv_dtype_errors():
    with pytest.raises(TypeError, match=r"float32 and weight dtype float64"):
        conv2d(randn(1, 2, 4, 4), randn(3, 2, 3, 3, dtype="float64"))
    with pytest.raises(TypeError, match=r"floating-point"):
        conv2d(np.ones((1, 2, 4, 4), np.int64), np.ones((3, 2, 3, 3), np.int64))


# ---------------------------------------------------------------- chunks and backward paths

def _images_per_chunk(monkeypatch, k, x_shape, w_shape, padding):
    """Make the forward geometry hold ``k`` images per chunk (the backward's own geometry
    then gets its own count, also small)."""
    geo = Geometry(x_shape, w_shape[2:], (1, 1), (1, 1), (padding,) * 4)
    per_image = w_shape[1] * w_shape[2] * w_shape[3] * geo.oh * geo.wg * 8
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", k * per_image)
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 1)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])  # 1, chunk - 1, chunk, chunk + 1, odd
@pytest.mark.parametrize("path", ["adjoint", "col2im"])
def test_conv2d_in_chunks_of_three_images(monkeypatch, n, path):
    monkeypatch.setattr(conv_module, "_prefer_adjoint", lambda *a: path == "adjoint")
    _images_per_chunk(monkeypatch, 3, (n, 4, 6, 7), (5, 4, 3, 3), 1)
    check_op(lambda x, w, b: conv2d(x, w, b, padding=1),
             lambda x, w, b: F.conv2d(x, w, b, padding=1),
             randn(n, 4, 6, 7, dtype="float64"), randn(5, 4, 3, 3, dtype="float64", seed=1),
             randn(5, dtype="float64", seed=2))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("path", ["adjoint", "col2im"])
@pytest.mark.parametrize("case", ["same-odd", "same-even-kernel", "same-dilated", "groups2",
                                  "plain", "wide-grid"])
def test_conv2d_both_backward_paths_one_image_per_chunk(monkeypatch, case, path):
    monkeypatch.setattr(conv_module, "_prefer_adjoint", lambda *a: path == "adjoint")
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 1)
    xs, ws, kw = CONV2D[case]
    check_op(lambda x, w, b: conv2d(x, w, b, **kw), lambda x, w, b: F.conv2d(x, w, b, **kw),
             randn(3, *xs[1:], dtype="float64"), randn(*ws, dtype="float64", seed=1),
             randn(ws[0], dtype="float64", seed=2))


@pytest.mark.parametrize("case", ["plain", "stride2-pad1", "groups"])
def test_conv_transpose2d_one_image_per_chunk(monkeypatch, case):
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 1)
    xs, ws, kw = CONV_T[case]
    out_c = ws[1] * kw.get("groups", 1)
    check_op(lambda x, w, b: conv_transpose2d(x, w, b, **kw),
             lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
             randn(3, *xs[1:], dtype="float64"), randn(*ws, dtype="float64", seed=1),
             randn(out_c, dtype="float64", seed=2))


def test_chunks_cover_the_batch_once(monkeypatch):
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 1)
    geo = Geometry((10, 16, 32, 32), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    per_image = 16 * 9 * geo.oh * geo.wg * 4
    like = np.zeros(1, np.float32)
    for budget, size in [(1, 1), (per_image * 3, 3), (per_image * 3 + 1, 3), (1 << 40, 10)]:
        monkeypatch.setattr(_im2col, "CHUNK_BYTES", budget)
        parts = _im2col.map_chunks(lambda p, sub: (p.start, p.stop, sub.n, sub.m), geo, like)
        assert [p[0] for p in parts] == list(range(0, 10, size))
        assert parts[-1][1] == 10
        assert all(n == stop - start and m == n * geo.oh * geo.wg
                   for start, stop, n, m in parts)


def test_too_few_chunks_to_share_run_as_one(monkeypatch):
    # with 2 BLAS threads each Python thread needs two chunks; 3 chunks run as one product
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 2)
    geo = Geometry((6, 16, 32, 32), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", 2 * 16 * 9 * geo.oh * geo.wg * 4)
    parts = _im2col.map_chunks(lambda p, sub: (p, sub.n), geo, np.zeros(1, np.float32))
    assert parts == [(slice(0, 6), 6)]


def test_backward_path_choice():
    def choice(x_shape, o, kernel, stride, pads, need_dx=True):
        geo = Geometry(x_shape, kernel, stride, (1, 1), pads)
        adj = conv_module._adjoint_geometry(geo, o)
        return adj is not None and conv_module._prefer_adjoint(geo, adj, need_dx)

    assert choice((8, 16, 32, 32), 16, (3, 3), (1, 1), (1, 1, 1, 1))  # ResNet "same" layer
    assert not choice((8, 3, 32, 32), 16, (3, 3), (1, 1), (1, 1, 1, 1), need_dx=False)
    assert not choice((8, 16, 32, 32), 32, (3, 3), (2, 2), (1, 1, 1, 1))  # strided
    assert not choice((8, 6, 14, 14), 16, (5, 5), (1, 1), (0, 0, 0, 0))  # LeNet "valid"
    assert not choice((8, 4, 9, 9), 4, (3, 3), (1, 1), (3, 3, 3, 3))  # pad > kernel reach


def test_conv2d_saves_its_input_not_the_columns():
    x, w = sj.tensor(randn(4, 3, 8, 8)), sj.tensor(randn(5, 3, 3, 3), requires_grad=True)
    saved = conv2d(x, w, padding=1).grad_fn.saved
    arrays = [a for a in saved if isinstance(a, np.ndarray)]
    assert any(a is x.data for a in arrays)
    assert all(a is x.data or a.size < x.size for a in arrays)


@pytest.mark.parametrize("op", ["adjoint", "col2im", "transpose"])
def test_threaded_chunks_repeat_the_sequential_result_bit_for_bit(monkeypatch, op):
    # map_chunks shares the chunks among Python threads when BLAS has several; force both
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_im2col, "_one_blas_thread", lambda: contextlib.nullcontext(True))
    monkeypatch.setattr(conv_module, "_prefer_adjoint", lambda *a: op == "adjoint")
    x, w = randn(7, 4, 6, 7), randn(4, 4, 3, 3, seed=1)
    results = []
    for workers in (1, 3):
        monkeypatch.setattr(_im2col, "_blas_threads", lambda n=workers: n)
        sx, sw_ = sj.tensor(x, requires_grad=True), sj.tensor(w, requires_grad=True)
        fn = conv_transpose2d if op == "transpose" else conv2d
        y = fn(sx, sw_, padding=1)
        y.backward(randn(*y.shape, seed=2))
        results.append((y.numpy(), sx.grad.numpy(), sw_.grad.numpy()))
    for seq, par in zip(*results):
        np.testing.assert_array_equal(seq, par)


def test_one_blas_thread_meanwhile_then_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _im2col._blas_threads()
        with _im2col._one_blas_thread() as limited:
            assert limited and _im2col._blas_threads() == 1
        assert _im2col._blas_threads() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threaded_chunks_work_in_a_forked_child(monkeypatch):
    # the pool's threads do not survive fork; the child must make its own, not wait forever
    monkeypatch.setattr(_im2col, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_im2col, "_blas_threads", lambda: 2)
    monkeypatch.setattr(_im2col, "_one_blas_thread", lambda: contextlib.nullcontext(True))
    x, w = randn(4, 2, 5, 5), randn(3, 2, 3, 3, seed=1)
    expected = conv2d(x, w, padding=1).numpy()
    pid = os.fork()
    if pid == 0:
        signal.alarm(30)  # a hang kills the child, and the test fails instead of hanging
        ok = np.array_equal(conv2d(x, w, padding=1).numpy(), expected)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
