"""Batch, layer, group and instance norm against torch.nn.functional, plus finite differences."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_fd, check_op, host, on_device, randn

import shenjing as sj
from shenjing.ops.norm import batch_norm, group_norm, instance_norm, layer_norm

pytestmark = [pytest.mark.devices, pytest.mark.usefixtures("op_device")]  # cpu + cuda

DTYPES = ["float32", "float64"]
SHAPES = [(6, 3), (4, 3, 5), (3, 3, 4, 5)]


def data(*shape, dtype="float32", seed=0):
    """Inputs with a non-zero mean and non-unit spread, so centring and scaling matter."""
    return randn(*shape, dtype=dtype, seed=seed) * 2 + 1


def stats(c, dtype, seed=7):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(c).astype(dtype),
            (rng.random(c) + 0.5).astype(dtype))


def affine_args(affine, c, dtype):
    """Arrays for (weight, bias) as ``affine`` picks: "both", "weight", "bias" or "none"."""
    w, b = randn(c, dtype=dtype, seed=11) + 1, randn(c, dtype=dtype, seed=12)
    return {"both": [w, b], "weight": [w], "bias": [b], "none": []}[affine]


def wb_kwargs(affine, params):
    names = {"both": ["weight", "bias"], "weight": ["weight"], "bias": ["bias"], "none": []}
    return dict(zip(names[affine], params))


# ---------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", ["both", "none", "weight", "bias"])
def test_batch_norm(shape, dtype, training, affine):
    c = shape[1]
    rm, rv = stats(c, dtype)
    sj_stats, t_stats = (on_device(rm), on_device(rv)), (torch.tensor(rm), torch.tensor(rv))

    def sj_fn(x, *p):
        return batch_norm(x, *sj_stats, **wb_kwargs(affine, p), training=training,
                          momentum=0.3)

    def t_fn(x, *p):
        return F.batch_norm(x, *t_stats, **wb_kwargs(affine, p), training=training,
                            momentum=0.3)

    check_op(sj_fn, t_fn, data(*shape, dtype=dtype), *affine_args(affine, c, dtype))
    for ours, theirs in zip(sj_stats, t_stats):
        assert ours.dtype == np.dtype(dtype)
        assert_close(ours, theirs.numpy(), what="running statistic")
    if not training:  # evaluation leaves the running statistics alone
        np.testing.assert_array_equal(host(sj_stats[0]), rm)


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_running_stats_match_batchnorm2d(momentum):
    c = 4
    module = torch.nn.BatchNorm2d(c, momentum=momentum)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(randn(c, seed=3) + 1))
        module.bias.copy_(torch.tensor(randn(c, seed=4)))
    w, b = sj.tensor(module.weight.detach().numpy()), sj.tensor(module.bias.detach().numpy())
    rm = np.zeros(c, "float32")
    rv = sj.ones(c)  # a non-grad Tensor works as well as an array
    module.train()
    for step in range(5):
        x = data(8, c, 3, 3, seed=step) * (step + 1)
        y = batch_norm(x, rm, rv, w, b, training=True, momentum=momentum)
        assert_close(y.numpy(), module(torch.tensor(x)).detach().numpy(), what=f"step {step}")
    assert_close(rm, module.running_mean.numpy(), what="running_mean")
    assert_close(rv.numpy(), module.running_var.numpy(), what="running_var")
    module.eval()
    x = data(2, c, 3, 3, seed=9)
    assert_close(batch_norm(x, rm, rv, w, b).numpy(),
                 module(torch.tensor(x)).detach().numpy(), what="eval after training")


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 4, 4)])
def test_batch_norm_eval_batch_of_one(shape):
    rm, rv = stats(3, "float32")
    check_op(lambda x, w, b: batch_norm(x, on_device(rm), on_device(rv), w, b),
             lambda x, w, b: F.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b),
             data(*shape), *affine_args("both", 3, "float32"))


def test_batch_norm_partial_gradients():
    """Only γ requires a gradient: x gets none, γ's matches torch."""
    x, (w, b) = data(5, 3, 4), affine_args("both", 3, "float32")
    sw = sj.tensor(w, requires_grad=True)
    y = batch_norm(x, None, None, sw, sj.tensor(b), training=True)
    g = randn(*y.shape, seed=5)
    y.backward(g)
    tw = torch.tensor(w, requires_grad=True)
    F.batch_norm(torch.tensor(x), None, None, tw, torch.tensor(b), training=True).backward(
        torch.tensor(g))
    assert_close(sw.grad.numpy(), tw.grad.numpy(), what="weight grad")


def test_non_contiguous_input():
    w, b = affine_args("both", 3, "float32")
    check_op(lambda x, w, b: batch_norm(sj.swapaxes(x, 0, 2), None, None, w, b, training=True),
             lambda x, w, b: F.batch_norm(x.transpose(0, 2), None, None, w, b, training=True),
             data(5, 3, 4), w, b)
    check_op(lambda x: layer_norm(sj.swapaxes(x, 0, 1), 4),
             lambda x: F.layer_norm(x.transpose(0, 1), (4,)), data(3, 2, 4))


def test_batch_norm_keeps_float32_with_float64_stats():
    rm, rv = stats(3, "float64")
    x = sj.tensor(data(4, 3, 2), requires_grad=True)
    y = batch_norm(x, rm, rv)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    y = batch_norm(x, rm, rv, training=True)
    assert y.dtype == np.float32 and rm.dtype == np.float64


@pytest.mark.parametrize("op", ["batch", "layer", "group"])
def test_saves_only_its_input_and_backward_leaves_it_intact(op):
    """No full-size array but x itself is kept for backward (x̂ is rebuilt from x), and a
    second backward through the same graph gives the same gradient."""
    c = 4
    fn = {"batch": lambda x: batch_norm(x, None, None, sw, sb, training=True),
          "layer": lambda x: layer_norm(x, (5, 6)),
          "group": lambda x: group_norm(x, 2, sw, sb)}[op]
    w, b = affine_args("both", c, "float32")
    sw, sb = sj.tensor(w, requires_grad=True), sj.tensor(b, requires_grad=True)
    x = sj.tensor(data(3, c, 5, 6), requires_grad=True)
    before = x.numpy().copy()
    y = fn(x)
    arrays = [a for a in y.grad_fn.saved if isinstance(a, np.ndarray)]
    assert all(np.shares_memory(a, x.data) or a.size < x.size for a in arrays)
    g = randn(*y.shape, seed=5)
    y.backward(g, retain_graph=True)
    first = x.grad.numpy().copy()
    x.zero_grad()
    y.backward(g)
    np.testing.assert_array_equal(x.numpy(), before)
    np.testing.assert_allclose(x.grad.numpy(), first, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------- layer norm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, normalized", [((4, 6), (6,)), ((2, 3, 4), 4),
                                               ((2, 3, 4), (3, 4)), ((2, 3, 4, 5), (4, 5))])
@pytest.mark.parametrize("affine", ["both", "none", "weight", "bias"])
def test_layer_norm(shape, normalized, dtype, affine):
    ns = (normalized,) if isinstance(normalized, int) else normalized
    rng = np.random.default_rng(2)
    params = [p.reshape(ns) for p in affine_args(affine, int(np.prod(ns)), dtype)]
    params = [p + rng.standard_normal(p.shape).astype(dtype) * 0.1 for p in params]
    check_op(lambda x, *p: layer_norm(x, normalized, **wb_kwargs(affine, p)),
             lambda x, *p: F.layer_norm(x, ns, **wb_kwargs(affine, p)),
             data(*shape, dtype=dtype), *params)


# ---------------------------------------------------------------------- group norm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, groups", [((3, 6), 2), ((2, 6, 5), 1), ((2, 6, 5), 3),
                                           ((2, 6, 5), 6), ((2, 4, 3, 3), 2)])
@pytest.mark.parametrize("affine", ["both", "none", "bias"])
def test_group_norm(shape, groups, dtype, affine):
    params = affine_args(affine, shape[1], dtype)
    # torch's group_norm backward fails with a bias but no weight: give it weight = 1
    ones = {"weight": torch.ones(shape[1], dtype=getattr(torch, dtype))} if affine == "bias" else {}
    check_op(lambda x, *p: group_norm(x, groups, **wb_kwargs(affine, p)),
             lambda x, *p: F.group_norm(x, groups, **wb_kwargs(affine, p), **ones),
             data(*shape, dtype=dtype), *params)


# ---------------------------------------------------------------------- instance norm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["plain", "track", "running"])
def test_instance_norm(dtype, mode):
    c = 3
    rm, rv = stats(c, dtype)
    ours = (on_device(rm), on_device(rv)) if mode != "plain" else (None, None)
    theirs = (torch.tensor(rm), torch.tensor(rv)) if mode != "plain" else (None, None)
    use = mode != "running"
    check_op(lambda x, w, b: instance_norm(x, *ours, w, b, use_input_stats=use, momentum=0.2),
             lambda x, w, b: F.instance_norm(x, *theirs, w, b, use_input_stats=use,
                                             momentum=0.2),
             data(4, c, 3, 5, dtype=dtype), *affine_args("both", c, dtype))
    if mode == "track":
        assert_close(ours[0], theirs[0].numpy(), what="running_mean")
        assert_close(ours[1], theirs[1].numpy(), what="running_var")


# ---------------------------------------------------------------------- finite differences


def test_fd_batch_norm_train():
    check_fd(lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
             data(3, 2, 3, seed=1), randn(2, seed=2) + 1, randn(2, seed=3))


def test_fd_batch_norm_eval():
    rm, rv = stats(2, "float64")
    check_fd(lambda x, w, b: batch_norm(x, rm, rv, w, b), data(3, 2, 3, seed=1),
             randn(2, seed=2) + 1, randn(2, seed=3))


def test_fd_layer_norm():
    check_fd(lambda x, w, b: layer_norm(x, (2, 3), w, b), data(2, 2, 3, seed=1),
             randn(2, 3, seed=2) + 1, randn(2, 3, seed=3))


def test_fd_group_norm():
    check_fd(lambda x, w, b: group_norm(x, 2, w, b), data(2, 4, 3, seed=1),
             randn(4, seed=2) + 1, randn(4, seed=3))


def test_fd_instance_norm():
    check_fd(lambda x, w: instance_norm(x, weight=w), data(2, 2, 4, seed=1),
             randn(2, seed=2) + 1)


# ---------------------------------------------------------------------- errors


def test_errors_name_the_mismatch():
    x = data(4, 3, 5)
    with pytest.raises(ValueError, match=r"running_mean has 4 elements.*3 channels"):
        batch_norm(x, np.zeros(4, "float32"), np.ones(4, "float32"), training=True)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\).*needs \(3,\)"):
        batch_norm(x, None, None, np.ones(2, "float32"), training=True)
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        batch_norm(data(5), None, None, training=True)
    with pytest.raises(ValueError, match="more than one value per channel"):
        batch_norm(data(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match="momentum=None"):
        batch_norm(x, np.zeros(3, "float32"), np.ones(3, "float32"), training=True,
                   momentum=None)
    with pytest.raises(TypeError, match="weight has dtype float64.*float32"):
        batch_norm(x, None, None, np.ones(3), training=True)
    with pytest.raises(TypeError, match="floating-point input, got dtype int64"):
        batch_norm(np.ones((2, 3), "int64"), None, None, training=True)
    with pytest.raises(ValueError, match=r"num_groups=4 .*divides the 6 channels"):
        group_norm(data(2, 6, 3), 4)
    with pytest.raises(ValueError, match=r"last 1 dimensions are \(4,\), got shape \(2, 5\)"):
        layer_norm(data(2, 5), 4)
    with pytest.raises(ValueError, match=r"bias has shape \(5,\).*needs \(4,\)"):
        layer_norm(data(2, 4), 4, bias=np.zeros(5, "float32"))
