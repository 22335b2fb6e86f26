"""scaled_dot_product_attention and the multi-head entry point against torch's
F.scaled_dot_product_attention (values and gradients), float64 finite differences,
fully masked rows, dropout, and the errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_fd, check_op, on_device, randn

import shenjing as sj
from shenjing.ops.attention import Attention, multi_head_attention, scaled_dot_product_attention
from shenjing.ops.nn import dropout_mask

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]


def qkv(batch, length, source, e, ev, dtype="float32"):
    return (randn(*batch, length, e, dtype=dtype, seed=1),
            randn(*batch, source, e, dtype=dtype, seed=2),
            randn(*batch, source, ev, dtype=dtype, seed=3))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,length,source,e,ev", [
    ((), 5, 5, 4, 4), ((3,), 4, 6, 8, 5), ((2, 3), 5, 7, 4, 6), ((2, 1), 3, 3, 4, 4)])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_torch(batch, length, source, e, ev, causal, dtype):
    check_op(lambda q, k, v: scaled_dot_product_attention(q, k, v, causal=causal),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
             *qkv(batch, length, source, e, ev, dtype))


def test_batch_axes_broadcast():
    q, k, v = randn(2, 3, 4, 5), randn(3, 6, 5, seed=1), randn(1, 6, 2, seed=2)
    check_op(scaled_dot_product_attention, F.scaled_dot_product_attention, q, k, v)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 5, 7), (2, 3, 1, 7)])
def test_masks_match_torch(kind, mask_shape):
    rng = np.random.default_rng(4)
    if kind == "bool":  # True = attend; keep one key per row so no row is fully masked
        mask = rng.random(mask_shape) < 0.6
        mask[..., 0] = True
    else:
        mask = rng.standard_normal(mask_shape).astype("float32")
        mask[..., 2] = -np.inf
    check_op(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask),
             lambda q, k, v: F.scaled_dot_product_attention(q, k, v,
                                                            attn_mask=torch.tensor(mask)),
             *qkv((2, 3), 5, 7, 4, 6))


def test_mask_and_causal_combine_and_custom_scale():
    mask = np.random.default_rng(0).standard_normal((5, 5)).astype("float32")
    causal = np.triu(np.full((5, 5), -np.inf, "float32"), 1)
    check_op(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask, causal=True,
                                                          scale=0.3),
             lambda q, k, v: F.scaled_dot_product_attention(
                 q, k, v, attn_mask=torch.tensor(mask + causal), scale=0.3),
             *qkv((2,), 5, 5, 4, 4))


def test_functional_face_takes_torch_arguments():
    q, k, v = qkv((2, 2), 4, 6, 8, 8)
    mask = np.random.default_rng(1).random((4, 6)) < 0.7
    mask[:, 0] = True
    out = sj.nn.functional.scaled_dot_product_attention(sj.tensor(q), sj.tensor(k),
                                                         sj.tensor(v), attn_mask=mask)
    ref = F.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)),
                                         attn_mask=torch.tensor(mask))
    assert_close(out.numpy(), ref.numpy())


def test_one_graph_node():
    q, k, v = (sj.tensor(a, requires_grad=True) for a in qkv((2,), 4, 4, 8, 8))
    out = scaled_dot_product_attention(q, k, v, causal=True)
    assert isinstance(out.grad_fn, Attention)
    assert all(p is t for p, t in zip(out.grad_fn.parents, (q, k, v)))


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = (sj.tensor(a, requires_grad=True) for a in qkv((2,), 4, 5, 3, 3))
    mask = np.ones((2, 4, 5), bool)
    mask[0, 1] = False  # query 1 of batch 0 may attend to nothing
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_array_equal(out.numpy()[0, 1], 0)
    np.testing.assert_array_equal(w.numpy()[0, 1], 0)
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    np.testing.assert_array_equal(q.grad.numpy()[0, 1], 0)
    # every other row is untouched by the convention
    ref = F.scaled_dot_product_attention(*(torch.tensor(t.numpy()) for t in (q, k, v)),
                                         attn_mask=torch.tensor(mask))
    assert_close(out.numpy()[1], ref.numpy()[1])
    assert_close(out.numpy()[0, [0, 2, 3]], ref.numpy()[0, [0, 2, 3]])


def test_returned_weights():
    q, k, v = qkv((2, 3), 4, 6, 5, 5)
    mask = np.random.default_rng(2).standard_normal((4, 6)).astype("float32")
    _, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    ref = torch.softmax(torch.tensor(q) @ torch.tensor(k).transpose(-1, -2) / np.sqrt(5)
                        + torch.tensor(mask), -1)
    assert w.shape == (2, 3, 4, 6) and not w.requires_grad
    assert_close(w.numpy(), ref.numpy())


@pytest.mark.parametrize("options", [dict(), dict(causal=True), dict(mask="bool"),
                                     dict(mask="float", causal=True)])
def test_gradcheck_float64(options):
    options = dict(options)
    length, source = (4, 4) if options.get("causal") else (4, 5)
    if options.get("mask") == "bool":
        options["mask"] = np.random.default_rng(3).random((2, length, source)) < 0.7
        options["mask"][..., 0] = True
    elif options.get("mask") == "float":
        options["mask"] = np.random.default_rng(3).standard_normal((length, source))
    check_fd(lambda q, k, v: scaled_dot_product_attention(q, k, v, **options),
             *qkv((2,), length, source, 3, 2))


def test_dropout_gradcheck_with_a_fixed_mask():
    def fn(q, k, v):
        sj.manual_seed(7)  # the same dropout mask at every evaluation
        return scaled_dot_product_attention(q, k, v, dropout=0.4, causal=True)

    check_fd(fn, *qkv((2,), 4, 4, 3, 3))


def test_dropout_drops_weights_and_training_false_disables_it():
    q, k, v = (sj.tensor(a) for a in qkv((2, 2), 6, 6, 4, 4))
    plain, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    sj.manual_seed(0)
    dropped = scaled_dot_product_attention(q, k, v, dropout=0.5)
    sj.manual_seed(0)
    mask = dropout_mask(w.shape, 0.5, np.float32, np)  # the same draws as the op's
    assert set(np.unique(mask)) == {0.0, 2.0}
    assert_close(dropped.numpy(), (w.numpy() * mask) @ v.numpy())
    assert not np.allclose(dropped.numpy(), plain.numpy())
    same = scaled_dot_product_attention(q, k, v, dropout=0.5, training=False)
    np.testing.assert_array_equal(same.numpy(), plain.numpy())


def _torch_heads(h, *tensors):
    """torch reference for multi_head_attention: split heads, sdpa, merge heads."""
    def split(t, n):
        b, length, f = t.shape
        t = t.reshape(b, length, n, h, f // (n * h))
        return [t[:, :, i].transpose(1, 2) for i in range(n)]

    parts = {1: (3,), 2: (1, 2), 3: (1, 1, 1)}[len(tensors)]
    q, k, v = [p for t, n in zip(tensors, parts) for p in split(t, n)]
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(MASK))
    return o.transpose(1, 2).reshape(o.shape[0], o.shape[2], -1)


MASK = np.random.default_rng(5).random((2, 1, 5, 5)) < 0.7
MASK[..., 0] = True


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["packed", "q_kv", "q_k_v"])
def test_multi_head_layouts_match_torch(layout, dtype):
    h, d, dv = 2, 3, 4
    shapes = {"packed": [(2, 5, 3 * h * d)], "q_kv": [(2, 5, h * d), (2, 5, 2 * h * d)],
              "q_k_v": [(2, 5, h * d), (2, 5, h * d), (2, 5, h * dv)]}[layout]
    arrays = [randn(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    bias = on_device(np.where(MASK, 0, -np.inf).astype(dtype))
    check_op(lambda *ts: multi_head_attention(ts, h, bias=bias),
             lambda *ts: _torch_heads(h, *ts), *arrays)


def test_multi_head_weights_and_gradcheck():
    x = randn(2, 4, 3 * 2 * 3, dtype="float64")
    out, w = multi_head_attention([sj.tensor(x)], 2, causal=True, return_weights=True)
    assert out.shape == (2, 4, 6) and w.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(w.numpy().sum(-1), 1)
    assert (np.triu(w.numpy(), 1) == 0).all()
    check_fd(lambda t: multi_head_attention([t], 2, causal=True), x)
    check_fd(lambda a, b: multi_head_attention([a, b], 2), randn(2, 3, 6), randn(2, 5, 12))


def test_errors():
    q, k, v = (sj.tensor(a) for a in qkv((2,), 4, 5, 3, 3))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\).*\(2, 4, 5\)"):
        scaled_dot_product_attention(q, k, v, mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match=r"share E.*\(2, 4, 3\), \(2, 5, 2\)"):
        scaled_dot_product_attention(q, sj.ones(2, 5, 2), v)
    with pytest.raises(TypeError, match="boolean.*or float.*int64"):
        scaled_dot_product_attention(q, k, v, mask=np.ones((4, 5), "int64"))
    with pytest.raises(TypeError, match="float64"):
        scaled_dot_product_attention(q, k, sj.ones(2, 5, 3, dtype="float64"))
    with pytest.raises(ValueError, match="dropout"):
        scaled_dot_product_attention(q, k, v, dropout=1.0)
    with pytest.raises(ValueError, match=r"\(2, 2, 4, 5\)"):
        multi_head_attention([sj.ones(2, 4, 4), sj.ones(2, 5, 8)], 2,
                             bias=np.zeros((3, 1, 4, 5), "float32"))
    with pytest.raises(ValueError, match="do not split"):
        multi_head_attention([sj.ones(2, 4, 10)], 2)
