"""Initialisers: statistics against their formulas (2·10⁵ samples) and against torch.nn.init."""
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing.nn import init

SHAPE = (400, 500)  # dense kernel (in, out): fan_in 400, fan_out 500, 2e5 samples
FAN_IN, FAN_OUT = 400, 500
TRUNC = 0.87962566103423978


def draw(name_or_init, shape=SHAPE, dtype="float64"):
    sj.manual_seed(0)
    return init.get(name_or_init)(shape, dtype)


def assert_std(w, std, rel=0.01):
    assert abs(w.std() - std) < rel * std, (w.std(), std)
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)


@pytest.mark.parametrize("name,var,dist", [
    ("glorot_uniform", 2 / (FAN_IN + FAN_OUT), "uniform"),
    ("glorot_normal", 2 / (FAN_IN + FAN_OUT), "truncated"),
    ("he_uniform", 2 / FAN_IN, "uniform"),
    ("he_normal", 2 / FAN_IN, "truncated"),
    ("lecun_uniform", 1 / FAN_IN, "uniform"),
    ("lecun_normal", 1 / FAN_IN, "truncated"),
])
def test_variance_scaling_family(name, var, dist):
    w = draw(name)
    assert w.shape == SHAPE and w.dtype == np.float64
    assert_std(w, math.sqrt(var))
    if dist == "uniform":  # U[-l, l] with l = √(3 var): fills the whole interval
        limit = math.sqrt(3 * var)
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit
    else:  # drawn with stddev √var/0.8796 and cut at 2 of those stddevs
        cut = 2 * math.sqrt(var) / TRUNC
        assert np.abs(w).max() <= cut
        assert np.abs(w).max() > 0.99 * cut
        # the shape is a normal cut at ±2σ: P(|z| > 1σ) = (P(|Z|>1) - P(|Z|>2)) / P(|Z|<2)
        tail = (math.erfc(1 / math.sqrt(2)) - math.erfc(2 / math.sqrt(2))) / math.erf(
            2 / math.sqrt(2))
        assert np.mean(np.abs(w) > math.sqrt(var) / TRUNC) == pytest.approx(tail, abs=0.005)


def test_simple_initialisers():
    assert np.all(draw("zeros") == 0) and np.all(draw("ones") == 1)
    assert np.all(init.constant(0.25)((3, 4), "float32") == np.float32(0.25))
    w = draw(init.RandomNormal(mean=1.0, stddev=0.5))
    assert abs(w.mean() - 1.0) < 0.005 and abs(w.std() - 0.5) < 0.005
    w = draw(init.random_uniform(minval=-0.2, maxval=0.6))
    assert w.min() >= -0.2 and w.max() < 0.6
    assert abs(w.mean() - 0.2) < 0.002 and abs(w.std() - 0.8 / math.sqrt(12)) < 0.002
    w = draw(init.TruncatedNormal(mean=0.0, stddev=0.1))
    assert np.abs(w).max() <= 0.2 and abs(w.std() - 0.1 * TRUNC) < 0.001
    assert draw("random_normal").std() == pytest.approx(0.05, rel=0.01)  # Keras default


def test_dtype_and_determinism():
    for dt in ("float32", "float64"):
        assert draw("glorot_uniform", dtype=dt).dtype == np.dtype(dt)
    np.testing.assert_array_equal(draw("he_normal"), draw("he_normal"))
    a = init.get("he_normal")((5, 5))
    assert a.dtype == sj.get_default_dtype()
    with pytest.raises(TypeError, match="floating"):
        init.get("zeros")((2,), "int64")


def test_conv_fans_pytorch_layout():
    assert init.compute_fans((16, 8, 3, 3)) == (8 * 9, 16 * 9)  # (out, in, kh, kw)
    assert init.compute_fans((400, 500)) == (400, 500)          # dense (in, out)
    assert init.compute_fans((7,)) == (7, 7)
    w = draw("he_normal", shape=(64, 32, 5, 5))
    assert_std(w, math.sqrt(2 / (32 * 25)), rel=0.02)
    w = draw("glorot_uniform", shape=(64, 32, 5, 5))
    assert np.abs(w).max() <= math.sqrt(6 / ((32 + 64) * 25))


@pytest.mark.parametrize("shape", [(100, 100), (150, 60), (60, 150), (32, 8, 3, 3)])
def test_orthogonal(shape):
    w = draw(init.Orthogonal(gain=2.0), shape=shape).reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-10)


def test_get_forms():
    assert isinstance(init.get("glorot_uniform"), init.GlorotUniform)
    assert isinstance(init.get("GlorotUniform"), init.GlorotUniform)
    assert init.glorot_uniform is init.GlorotUniform
    assert isinstance(init.get(init.HeNormal), init.HeNormal)
    inst = init.Constant(3.0)
    assert init.get(inst) is inst
    f = lambda shape, dtype=None: np.full(shape, 7.0)  # noqa: E731
    assert init.get(f) is f
    cfg = init.serialize(init.RandomNormal(0.0, 2.0))
    assert cfg == {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 2.0}}
    assert init.get(cfg).stddev == 2.0
    assert init.serialize(init.get("he_uniform")) == "he_uniform"
    with pytest.raises(ValueError) as e:
        init.get("xavier")
    assert "'xavier'" in str(e.value) and "glorot_uniform" in str(e.value)
    with pytest.raises(TypeError):
        init.get(3)


def test_validation():
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="stddev"):
        init.RandomNormal(stddev=-1)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.orthogonal()((5,))


# ------------------------------------------------------------------ torch-named, in place
TORCH_SHAPE = (300, 400)  # torch layout (out, in): fan_in 400, fan_out 300; 1.2e5 samples


def both(fn, tfn, shape=TORCH_SHAPE):
    sj.manual_seed(0)
    p = sj.nn.Parameter(sj.zeros(*shape, dtype="float64"))
    out = fn(p)
    assert out is p and p.requires_grad
    torch.manual_seed(0)
    t = torch.zeros(shape, dtype=torch.float64)
    tfn(t)
    return p.numpy(), t.numpy()


@pytest.mark.parametrize("fn,tfn,bounded", [
    (init.xavier_uniform_, torch.nn.init.xavier_uniform_, True),
    (lambda p: init.xavier_normal_(p, gain=2.0),
     lambda t: torch.nn.init.xavier_normal_(t, gain=2.0), False),
    (lambda p: init.kaiming_uniform_(p, a=math.sqrt(5)),
     lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5)), True),
    (lambda p: init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu"),
     lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), False),
    (lambda p: init.kaiming_uniform_(p, nonlinearity="tanh"),
     lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="tanh"), True),
    (lambda p: init.uniform_(p, -0.3, 0.1), lambda t: torch.nn.init.uniform_(t, -0.3, 0.1), True),
    (lambda p: init.normal_(p, 0.5, 0.2), lambda t: torch.nn.init.normal_(t, 0.5, 0.2), False),
    (lambda p: init.trunc_normal_(p, 0.0, 1.0, -1.0, 1.5),
     lambda t: torch.nn.init.trunc_normal_(t, 0.0, 1.0, -1.0, 1.5), True),
])
def test_torch_named_match_torch_statistics(fn, tfn, bounded):
    ours, theirs = both(fn, tfn)
    scale = theirs.std()
    assert abs(ours.std() - scale) < 0.01 * scale
    assert abs(ours.mean() - theirs.mean()) < 0.02 * scale + 1e-3
    if bounded:  # same support: extremes within 0.5% of torch's
        assert ours.min() >= theirs.min() - 0.005 * scale
        assert ours.max() <= theirs.max() + 0.005 * scale
        assert ours.min() <= theirs.min() + 0.005 * scale
        assert ours.max() >= theirs.max() - 0.005 * scale


def test_torch_named_constants_and_orthogonal():
    ours, theirs = both(lambda p: init.constant_(p, 0.3),
                        lambda t: torch.nn.init.constant_(t, 0.3))
    np.testing.assert_array_equal(ours, theirs)
    assert np.all(both(init.ones_, torch.nn.init.ones_)[0] == 1)
    assert np.all(both(init.zeros_, torch.nn.init.zeros_)[0] == 0)
    p = init.orthogonal_(sj.nn.Parameter(sj.zeros(40, 90, dtype="float64")), gain=0.5)
    np.testing.assert_allclose(p.numpy() @ p.numpy().T, 0.25 * np.eye(40), atol=1e-10)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(sj.nn.Parameter(sj.zeros(5)))


def test_in_place_keeps_dtype_and_object():
    p = sj.nn.Parameter(sj.zeros(30, 40))
    data = p.data
    init.kaiming_normal_(p)
    assert p.data is data and p.dtype == np.float32 and p.numpy().std() > 0


@pytest.mark.parametrize("nl,param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                      ("selu", None), ("conv2d", None)])
def test_calculate_gain(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(
        torch.nn.init.calculate_gain(nl, param))
