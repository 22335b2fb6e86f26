"""relu(x, inplace=True): the same values and gradients as PyTorch's in-place ReLU, the
input's array reused, and refused where overwriting x would corrupt a backward pass."""
import numpy as np
import pytest
import torch
from helpers import assert_close, randn

import shenjing as sj
from shenjing import nn

OPS = {  # name: (op of x and w, the shape of w); x has shape (2, 3, 6, 6)
    "matmul": (lambda x, w: x.reshape(6, 36) @ w, (36, 5)),
    "affine": (lambda x, w: sj.ops.linalg.affine(x.reshape(2, 108), w, w[0]), (108, 4)),
    "conv": (lambda x, w: sj.conv2d(x, w, padding=1), (3, 3, 3, 3)),
    "batch_norm": (lambda x, w: sj.batch_norm(x, None, None, w[0], w[1], training=True),
                   (2, 3)),
    "add": (lambda x, w: x + w, (6,)),
    "sub": (lambda x, w: x - w, (6,)),
    "cast": (lambda x, w: (x * w).astype("float64"), (6,)),
}


def _run(make):
    """Fresh leaves x, w and h = OPS[make](x, w)."""
    op, w_shape = OPS[make]
    x = sj.tensor(randn(2, 3, 6, 6), requires_grad=True)
    w = sj.tensor(randn(*w_shape, seed=1), requires_grad=True)
    return x, w, op(x, w)


@pytest.mark.parametrize("make", list(OPS))
def test_inplace_relu_after_ops_that_do_not_keep_their_output(make):
    results = []
    for inplace in (False, True):
        x, w, h = _run(make)
        before = h.data
        y = sj.relu(h, inplace=inplace)
        assert np.shares_memory(y.data, before) == inplace
        (y * sj.tensor(randn(*y.shape, seed=3).astype(y.dtype))).sum().backward()
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)  # bit for bit the out-of-place result


def test_matches_torch_inplace_relu():
    x0 = randn(4, 7)
    x = sj.tensor(x0, requires_grad=True)
    xt = torch.tensor(x0, requires_grad=True)
    y = sj.relu(x + 0.5, inplace=True)
    yt = torch.relu_(xt + 0.5)
    assert_close(y.numpy(), yt.detach().numpy())
    y.sum().backward()
    yt.sum().backward()
    assert_close(x.grad.numpy(), xt.grad.numpy())


def test_refused_where_it_would_corrupt_backward():
    x = sj.tensor(randn(3, 4), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        sj.relu(x, inplace=True)
    with pytest.raises(RuntimeError, match="made by Exp, which keeps its output"):
        sj.relu(sj.exp(x), inplace=True)
    data = randn(3, 4)
    t = sj.tensor(data)  # no gradient: overwritten, as torch.relu_
    sj.relu(t, inplace=True)
    np.testing.assert_array_equal(t.numpy(), np.maximum(data, 0))


def test_relu_layer_inplace_option_round_trips_and_matches():
    layer = nn.ReLU(inplace=True)
    assert layer.get_config()["inplace"] is True and "inplace" not in nn.ReLU().get_config()
    assert nn.ReLU.from_config(layer.get_config()).inplace
    model = nn.Sequential([nn.Dense(5), nn.ReLU(inplace=True)])
    x = sj.tensor(randn(2, 3))
    y = model(x)
    assert (y.numpy() >= 0).all()


def test_resnet_block_uses_it_and_keeps_its_gradients():
    sj.manual_seed(0)
    model = sj.models.resnet20(10)
    x = sj.tensor(randn(2, 3, 32, 32))
    loss = sj.nn.functional.cross_entropy(model(x), sj.tensor(np.array([1, 7])))
    loss.backward()
    inplace_grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    import shenjing.models.resnet as resnet
    real = resnet.relu
    try:
        resnet.relu = lambda t, inplace=False: real(t)
        model.zero_grad()
        loss2 = sj.nn.functional.cross_entropy(model(x), sj.tensor(np.array([1, 7])))
        loss2.backward()
    finally:
        resnet.relu = real
    assert loss.item() == loss2.item()
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), inplace_grads[n], err_msg=n)


@pytest.mark.parametrize("make", list(OPS))
def test_ops_declared_not_to_keep_their_output_really_do_not(make):
    """Function.saves_output = False is a promise relu(inplace=True) relies on: overwrite the
    output with NaN before backward and the gradients must not change."""
    grads = []
    for poison in (False, True):
        x, w, h = _run(make)
        assert h.grad_fn.saves_output is False, h.grad_fn.name
        if poison:
            h.data[...] = np.nan
        h.backward(sj.tensor(randn(*h.shape, seed=4).astype(h.dtype)))
        grads.append([x.grad.numpy(), w.grad.numpy()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
