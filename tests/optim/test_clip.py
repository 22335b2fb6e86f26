"""clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing.optim import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), ()]


def _pair(scale=1.0, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    grads = [np.asarray(rng.standard_normal(s) * scale, dtype) for s in SHAPES]
    params = [sj.Parameter(np.zeros(s, dtype)) for s in SHAPES]
    tparams = [torch.nn.Parameter(torch.zeros(s, dtype=torch.from_numpy(g).dtype))
               for s, g in zip(SHAPES, grads)]
    for p, tp, g in zip(params, tparams, grads):
        p.grad, tp.grad = sj.Tensor(g), torch.tensor(g)
    return params, tparams, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    params, tparams, grads = _pair(dtype=dtype)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert isinstance(total, sj.Tensor) and total.dtype == dtype
    np.testing.assert_allclose(total.item(), expected.item(), rtol=rtol)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=rtol, atol=1e-12)
    clipped = max_norm < expected.item()
    assert clipped == (not np.array_equal(params[0].grad.data, grads[0]))


def test_clip_grad_norm_rebinds_instead_of_writing_into_the_array():
    params, _, grads = _pair(scale=10.0)
    old = params[0].grad
    before = old.data.copy()
    clip_grad_norm_(params, 1.0)
    assert params[0].grad is not old
    np.testing.assert_array_equal(old.data, before)
    total = math.sqrt(sum(float((p.grad.data ** 2).sum()) for p in params))
    assert total == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_skips_missing_grads_and_accepts_one_tensor():
    p, q = sj.Parameter(np.zeros(2)), sj.Parameter(np.zeros(2))
    p.grad = sj.Tensor(np.array([3.0, 4.0]))
    assert clip_grad_norm_([p, q], 1.0).item() == pytest.approx(5.0)
    assert q.grad is None
    np.testing.assert_allclose(p.grad.data, [0.6, 0.8], rtol=1e-5)
    assert clip_grad_norm_(p, 10.0).item() == pytest.approx(1.0, rel=1e-5)
    assert clip_grad_norm_([q], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    p = sj.Parameter(np.zeros(2))
    p.grad = sj.Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="norm of order 2.0 of the gradients is inf"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    p.grad = sj.Tensor(np.array([np.nan, 1.0]))
    tp = torch.nn.Parameter(torch.zeros(2))
    tp.grad = torch.tensor([np.nan, 1.0])
    assert math.isnan(clip_grad_norm_([p], 1.0).item())
    torch.nn.utils.clip_grad_norm_([tp], 1.0)
    np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())  # NaN everywhere, as torch
    with pytest.raises(ValueError, match="`norm_type` must be > 0 or inf, got -1"):
        clip_grad_norm_([p], 1.0, norm_type=-1)


@pytest.mark.parametrize("clip_value", [0.1, 0.7, 5.0])
def test_clip_grad_value_matches_torch(clip_value):
    params, tparams, grads = _pair()
    olds = [p.grad for p in params]
    clip_grad_value_(params, clip_value)
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    for p, tp, g, old in zip(params, tparams, grads, olds):
        np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
        np.testing.assert_array_equal(old.data, g)  # the old array is untouched
    assert clip_value == 5.0 or not np.array_equal(params[0].grad.data, grads[0])
