"""Losses: the PyTorch-named functions against torch.nn.functional (values and gradients),
the Keras classes against their formulas in NumPy, finite differences, stability, errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, check_op

import shenjing as sj
from shenjing import losses as L

REDUCTIONS = ["mean", "sum", "none"]
DTYPES = ["float32", "float64"]


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(*shape, dtype="float64", seed=0, scale=1.0):
    return (rng(seed).standard_normal(shape) * scale).astype(dtype)


def uniform(*shape, lo=0.0, hi=1.0, dtype="float64", seed=0):
    return rng(seed).uniform(lo, hi, shape).astype(dtype)


def labels(n, c, seed=0, shape=None):
    return rng(seed).integers(0, c, shape or (n,))


def t(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def fd_check(fn, x, eps=1e-6, tol=1e-6):
    """Central differences of the scalar ``fn(Tensor)`` in float64 against backward()."""
    x = np.asarray(x, np.float64)
    xt = sj.tensor(x, requires_grad=True)
    fn(xt).backward()
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        num[i] = (fn(sj.tensor(hi)).item() - fn(sj.tensor(lo)).item()) / (2 * eps)
    np.testing.assert_allclose(xt.grad.numpy(), num, rtol=tol, atol=tol)


# ---------------------------------------------------------------- regression, vs torch
REGRESSION = {
    "mse": (L.mse_loss, F.mse_loss, {}),
    "l1": (L.l1_loss, F.l1_loss, {}),
    "huber": (L.huber_loss, F.huber_loss, {}),
    "huber_delta": (L.huber_loss, F.huber_loss, {"delta": 0.4}),
    "smooth_l1": (L.smooth_l1_loss, F.smooth_l1_loss, {}),
    "smooth_l1_beta": (L.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.3}),
    "smooth_l1_beta0": (L.smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.0}),
}


@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_matches_torch(name, dtype, reduction):
    ours, theirs, kw = REGRESSION[name]
    x, y = randn(4, 5, dtype=dtype, seed=1), randn(4, 5, dtype=dtype, seed=2)
    check_op(lambda a, b: ours(a, b, reduction=reduction, **kw),
             lambda a, b: theirs(a, b, reduction=reduction, **kw), x, y)


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_weight_matches_torch(name, reduction):
    ours, theirs, kw = REGRESSION[name]
    x, y = randn(3, 4, seed=1), randn(3, 4, seed=2)
    w = uniform(3, 4, lo=0.1, hi=2.0, seed=3)  # weight is differentiable in both
    check_op(lambda a, b, c: ours(a, b, reduction=reduction, weight=c, **kw),
             lambda a, b, c: theirs(a, b, reduction=reduction, weight=c, **kw), x, y, w)


# ---------------------------------------------------------------- binary, vs torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(dtype, reduction, weighted):
    x = uniform(4, 3, lo=0.05, hi=0.95, dtype=dtype, seed=1)
    y = uniform(4, 3, dtype=dtype, seed=2)
    w = uniform(3, lo=0.5, hi=2.0, dtype=dtype, seed=3) if weighted else None
    tw = None if w is None else t(w)
    check_op(lambda a, b: L.binary_cross_entropy(a, b, w, reduction=reduction),
             lambda a, b: F.binary_cross_entropy(a, b, tw, reduction=reduction), x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("variant", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits_matches_torch(dtype, reduction, variant):
    x, y = randn(5, 3, dtype=dtype, seed=1, scale=3), uniform(5, 3, dtype=dtype, seed=2)
    w = uniform(5, 1, lo=0.5, hi=2, dtype=dtype, seed=3) if variant in ("weight", "both") else None
    p = uniform(3, lo=0.5, hi=3, dtype=dtype, seed=4) if variant in ("pos_weight", "both") else None
    tw, tp = (None if a is None else t(a) for a in (w, p))
    check_op(lambda a, b: L.binary_cross_entropy_with_logits(a, b, w, reduction=reduction,
                                                             pos_weight=p),
             lambda a, b: F.binary_cross_entropy_with_logits(a, b, tw, reduction=reduction,
                                                             pos_weight=tp), x, y)


# ---------------------------------------------------------------- cross-entropy, vs torch
CE_VARIANTS = {
    "plain": {},
    "weight": {"weight": [0.5, 2.0, 1.0, 3.0]},
    "ignore": {"ignore_index": -100},
    "ignore_1": {"ignore_index": 1},
    "smoothing": {"label_smoothing": 0.2},
    "all": {"weight": [0.5, 2.0, 1.0, 3.0], "ignore_index": 2, "label_smoothing": 0.1},
}


def _kwargs(kw, dtype, torch_side):
    kw = dict(kw)
    if "weight" in kw:
        w = np.asarray(kw["weight"], dtype)
        kw["weight"] = t(w) if torch_side else w
    return kw


def _with_ignored(y, kw):
    y = y.copy()
    if "ignore_index" in kw:
        y.reshape(-1)[::3] = kw["ignore_index"]
    return y


@pytest.mark.parametrize("variant", list(CE_VARIANTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)], ids=["NC", "NCd"])
def test_cross_entropy_and_nll_match_torch(variant, dtype, reduction, shape):
    kw = CE_VARIANTS[variant]
    x = randn(*shape, dtype=dtype, seed=1, scale=2)
    y = _with_ignored(labels(0, 4, seed=2, shape=(shape[0],) + shape[2:]), kw)
    ours, theirs = _kwargs(kw, dtype, False), _kwargs(kw, dtype, True)
    check_op(lambda a: L.cross_entropy(a, y, reduction=reduction, **ours),
             lambda a: F.cross_entropy(a, t(y), reduction=reduction, **theirs), x)
    ours.pop("label_smoothing", None)
    theirs.pop("label_smoothing", None)
    logp = torch.log_softmax(t(x), 1).numpy()
    check_op(lambda a: L.nll_loss(a, y, reduction=reduction, **ours),
             lambda a: F.nll_loss(a, t(y), reduction=reduction, **theirs), logp)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.15},
                                {"weight": [1.0, 0.5, 2.0]}], ids=["plain", "smooth", "weight"])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4)], ids=["NC", "NCd"])
def test_cross_entropy_probability_targets_match_torch(dtype, reduction, kw, shape):
    x = randn(*shape, dtype=dtype, seed=1, scale=2)
    q = torch.softmax(t(randn(*shape, dtype=dtype, seed=2)), 1).numpy()
    check_op(lambda a, b: L.cross_entropy(a, b, reduction=reduction, **_kwargs(kw, dtype, False)),
             lambda a, b: F.cross_entropy(a, b, reduction=reduction, **_kwargs(kw, dtype, True)),
             x, q)  # gradients for the logits and for the target probabilities


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_unbatched_matches_torch(reduction):
    check_op(lambda a: L.cross_entropy(a, np.int64(3), reduction=reduction),
             lambda a: F.cross_entropy(a, torch.tensor(3), reduction=reduction), randn(5))


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, y = randn(3, 4), np.full(3, -100)
    with np.errstate(invalid="ignore", divide="ignore"):
        ours = L.cross_entropy(sj.tensor(x), y).item()
    assert np.isnan(ours) and np.isnan(F.cross_entropy(t(x), t(y)).item())
    assert L.cross_entropy(sj.tensor(x), y, reduction="sum").item() == 0


# ---------------------------------------------------------------- finite differences
def test_finite_differences():
    x, y = randn(3, 4, seed=1, scale=2), randn(3, 4, seed=2)
    fd_check(lambda a: L.huber_loss(a, y, delta=0.7), x)
    fd_check(lambda a: L.smooth_l1_loss(a, y, beta=0.5, reduction="sum"), x)
    fd_check(lambda a: L.binary_cross_entropy_with_logits(
        a, uniform(3, 4, seed=3), pos_weight=np.array([1.0, 2.0, 0.5, 3.0])), x)
    fd_check(lambda a: L.binary_cross_entropy(a, uniform(3, 4, seed=3)),
             uniform(3, 4, lo=0.1, hi=0.9, seed=4))
    yc = labels(0, 4, seed=5, shape=(2, 3))
    yc[0, 0] = 1
    fd_check(lambda a: L.cross_entropy(a, yc, weight=np.array([1.0, 2.0, 0.5, 1.5]),
                                       ignore_index=1, label_smoothing=0.1),
             randn(2, 4, 3, seed=6))
    fd_check(lambda a: L.nll_loss(a, labels(5, 4, seed=7)), randn(5, 4, seed=8))
    fd_check(lambda a: L.CategoricalCrossentropy(label_smoothing=0.1)(
        np.eye(4)[labels(3, 4, seed=9)], a), uniform(3, 4, lo=0.1, hi=1.0, seed=10))
    fd_check(lambda a: L.SparseCategoricalCrossentropy()(labels(3, 4, seed=9), a),
             uniform(3, 4, lo=0.1, hi=1.0, seed=11))


# ---------------------------------------------------------------- Keras classes vs NumPy
def np_reduce(per, reduction):
    return {"sum_over_batch_size": per.mean(), "mean": per.mean(), "sum": per.sum(),
            "none": per}[reduction]


def np_bce(y, p, logits, s):
    y = y * (1 - s) + 0.5 * s
    if logits:
        p = 1 / (1 + np.exp(-p))
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def np_cce(y, p, logits, s, axis=-1):
    y = y * (1 - s) + s / p.shape[axis]
    if logits:
        p = np.exp(p - p.max(axis, keepdims=True))
    p = np.clip(p / p.sum(axis, keepdims=True), 1e-7, 1 - 1e-7)
    return -(y * np.log(p)).sum(axis)


def np_huber(y, p, delta):
    a = np.abs(p - y)
    return np.where(a <= delta, 0.5 * a * a, delta * a - 0.5 * delta * delta).mean(-1)


KERAS_REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "none"]


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
def test_keras_regression_classes_match_formula(reduction):
    y, p = randn(6, 3, seed=1), randn(6, 3, seed=2)
    cases = [(L.MeanSquaredError, {}, ((p - y) ** 2).mean(-1)),
             (L.MeanAbsoluteError, {}, np.abs(p - y).mean(-1)),
             (L.Huber, {}, np_huber(y, p, 1.0)),
             (L.Huber, {"delta": 0.3}, np_huber(y, p, 0.3))]
    for cls, kw, per in cases:
        out = cls(reduction=reduction, **kw)(y, sj.tensor(p))
        assert_close(out.numpy(), np_reduce(per, reduction), "float64", what=cls.__name__)


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_keras_crossentropy_classes_match_formula(reduction, from_logits, smoothing):
    n, c = 6, 4
    pred = randn(n, c, seed=1, scale=2) if from_logits else uniform(n, c, lo=0.01, seed=1)
    onehot, ids = np.eye(c)[labels(n, c, seed=2)], labels(n, c, seed=2)
    kw = dict(from_logits=from_logits, reduction=reduction)
    bce = L.BinaryCrossentropy(label_smoothing=smoothing, **kw)(onehot, sj.tensor(pred))
    assert_close(bce.numpy(), np_reduce(np_bce(onehot, pred, from_logits, smoothing), reduction))
    cce = L.CategoricalCrossentropy(label_smoothing=smoothing, **kw)(onehot, sj.tensor(pred))
    assert_close(cce.numpy(), np_reduce(np_cce(onehot, pred, from_logits, smoothing), reduction))
    expected = np_reduce(np_cce(onehot, pred, from_logits, 0.0), reduction)
    for y in (ids, ids[:, None], ids.astype("float32"), ids[:, None].astype("float64")):
        scce = L.SparseCategoricalCrossentropy(**kw)(y, sj.tensor(pred))
        assert_close(scce.numpy(), expected, what=f"sparse labels {y.shape} {y.dtype}")


def test_categorical_axis_and_sequence_labels():
    pred = randn(2, 4, 3, seed=1)  # classes on axis 1
    y = np.eye(4)[labels(0, 4, seed=2, shape=(2, 3))].transpose(0, 2, 1)
    out = L.CategoricalCrossentropy(from_logits=True, axis=1, reduction="none")(y, pred)
    assert_close(out.numpy(), np_cce(y, pred, True, 0.0, axis=1))
    seq = randn(2, 3, 5, seed=3)
    ids = labels(0, 5, seed=4, shape=(2, 3))
    out = L.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(ids, seq)
    assert_close(out.numpy(), np_cce(np.eye(5)[ids], seq, True, 0.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_keras_from_logits_equals_torch(dtype):
    x, ids = randn(7, 5, dtype=dtype, seed=1, scale=3), labels(7, 5, seed=2)
    check_op(lambda a: L.SparseCategoricalCrossentropy(from_logits=True)(ids, a),
             lambda a: F.cross_entropy(a, t(ids)), x)
    q = np.eye(5, dtype=dtype)[ids]
    check_op(lambda a: L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(q, a),
             lambda a: F.cross_entropy(a, t(q), label_smoothing=0.1), x)
    yb = uniform(7, 5, dtype=dtype, seed=3)
    check_op(lambda a: L.BinaryCrossentropy(from_logits=True)(yb, a),
             lambda a: F.binary_cross_entropy_with_logits(a, t(yb)), x)
    check_op(lambda a: L.MeanSquaredError()(yb, a), lambda a: F.mse_loss(a, t(yb)), x)
    check_op(lambda a: L.Huber(delta=0.5)(yb, a), lambda a: F.huber_loss(a, t(yb), delta=0.5), x)


def test_sparse_ignore_class():
    x, ids = randn(6, 4, seed=1), labels(6, 4, seed=2)
    ids[[1, 4]] = -1
    for from_logits in (True, False):
        pred = x if from_logits else torch.softmax(t(x), 1).numpy()
        per = L.SparseCategoricalCrossentropy(from_logits, ignore_class=-1, reduction="none")(
            ids, pred).numpy()
        keep = ids != -1
        full = np_cce(np.eye(4)[np.where(keep, ids, 0)], pred, from_logits, 0.0)
        assert_close(per, np.where(keep, full, 0.0))
        mean = L.SparseCategoricalCrossentropy(from_logits, ignore_class=-1)(ids, pred)
        assert_close(mean.numpy(), full[keep].mean())
    a = sj.tensor(x, requires_grad=True)
    L.SparseCategoricalCrossentropy(True, ignore_class=-1)(ids, a).backward()
    tx = t(x, grad=True)
    F.cross_entropy(tx, t(ids), ignore_index=-1).backward()
    assert_close(a.grad.numpy(), tx.grad.numpy())


def test_keras_rank_matching_and_sample_weight():
    y, p = randn(5, seed=1), randn(5, 1, seed=2)
    per = L.MeanSquaredError(reduction="none")(y, sj.tensor(p))  # y (N,) vs y_pred (N, 1)
    assert per.shape == (5,)
    assert_close(per.numpy(), (p[:, 0] - y) ** 2)
    flat = L.mean_squared_error(y, randn(5, seed=2))  # Keras: mean over the last axis
    assert flat.shape == () and np.isclose(flat.item(), ((randn(5, seed=2) - y) ** 2).mean())
    sw = uniform(5, seed=3)
    for reduction, expect in [("sum_over_batch_size", (per.numpy() * sw).mean()),
                              ("sum", (per.numpy() * sw).sum()),
                              ("mean_with_sample_weight", (per.numpy() * sw).sum() / sw.sum())]:
        out = L.MeanSquaredError(reduction=reduction)(y, sj.tensor(p), sample_weight=sw)
        assert_close(out.numpy(), expect, what=reduction)


def test_float64_target_keeps_float32_graph():
    p = sj.tensor(randn(4, 3, dtype="float32", seed=1), requires_grad=True)
    y64 = uniform(4, 3, seed=2)
    for loss in (L.MeanSquaredError()(y64, p), L.BinaryCrossentropy(from_logits=True)(y64, p),
                 L.CategoricalCrossentropy(from_logits=True)(y64, p),
                 L.SparseCategoricalCrossentropy(True)(np.array([0.0, 2.0, 1.0, 1.0]), p),
                 L.mse_loss(p, y64), L.cross_entropy(p, y64)):
        assert loss.dtype == np.float32
        p.grad = None
        loss.backward()
        assert p.grad.dtype == np.float32
    y = sj.tensor(y64, requires_grad=True)
    loss = L.MeanSquaredError()(y, p)
    assert loss.dtype == np.float32
    loss.backward()
    assert y.grad is None  # y_true is a constant in Keras style
    assert L.mse_loss(p, sj.tensor(y64)).dtype == np.float32


# ---------------------------------------------------------------- stability
def _finite(loss, x):
    loss.backward()
    return np.isfinite(loss.numpy()).all() and np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_are_finite(dtype):
    raw = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype)
    ids = np.array([1, 0])
    cases = [lambda a: L.cross_entropy(a, ids, label_smoothing=0.1),
             lambda a: L.cross_entropy(a, np.eye(3, dtype=dtype)[ids]),
             lambda a: L.nll_loss(sj.log_softmax(a, 1), ids),
             lambda a: L.binary_cross_entropy_with_logits(a, np.eye(3, dtype=dtype)[ids],
                                                          pos_weight=np.ones(3, dtype)),
             lambda a: L.SparseCategoricalCrossentropy(from_logits=True)(ids, a),
             lambda a: L.CategoricalCrossentropy(True, 0.1)(np.eye(3)[ids], a),
             lambda a: L.BinaryCrossentropy(from_logits=True)(np.eye(3)[ids], a)]
    for i, fn in enumerate(cases):
        a = sj.tensor(raw, requires_grad=True)
        assert _finite(fn(a), a), f"case {i}"
    a, ta = sj.tensor(raw, requires_grad=True), t(raw, grad=True)
    L.cross_entropy(a, ids).backward()
    F.cross_entropy(ta, t(ids)).backward()
    assert_close(a.grad.numpy(), ta.grad.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_probabilities_zero_and_one_are_finite(dtype):
    p = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.0]], dtype)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.3]], dtype)
    a = sj.tensor(p, requires_grad=True)
    loss = L.binary_cross_entropy(a, y, reduction="none")
    assert_close(loss.numpy(), F.binary_cross_entropy(t(p), t(y), reduction="none").numpy())
    assert _finite(loss.sum(), a)
    tiny = np.array([1e-30, 0.5, 1.0 - 1e-7], dtype)  # ln 1e-30 ≈ -69: above the -100 floor
    assert_close(L.binary_cross_entropy(tiny, np.ones(3, dtype), reduction="none").numpy(),
                 F.binary_cross_entropy(t(tiny), t(np.ones(3, dtype)), reduction="none"))
    onehot = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    onehot = onehot.astype(dtype)  # the reference in the same precision: 1-ε rounds in float32
    cases = [(lambda b: L.BinaryCrossentropy()(y, b), np_bce(y, p, False, 0.0).mean()),
             (lambda b: L.CategoricalCrossentropy()(onehot, b),
              np_cce(onehot, p, False, 0.0).mean()),
             (lambda b: L.SparseCategoricalCrossentropy()(np.array([0, 1]), b),
              np_cce(onehot, p, False, 0.0).mean())]
    for fn, expected in cases:
        b = sj.tensor(p, requires_grad=True)
        out = fn(b)  # probabilities clipped to [ε, 1-ε], ε = 1e-7, as Keras
        assert_close(out.numpy(), expected, dtype, rtol=1e-5)
        assert _finite(out, b)


# ---------------------------------------------------------------- errors
def test_label_out_of_range_names_label_and_range():
    x = sj.tensor(randn(4, 3))
    bad = np.array([0, 1, 5, 2])
    for call in (lambda: L.cross_entropy(x, bad), lambda: L.nll_loss(x, bad),
                 lambda: L.SparseCategoricalCrossentropy()(bad, x),
                 lambda: L.SparseCategoricalCrossentropy(from_logits=True)(bad, x),
                 lambda: L.cross_entropy(x, np.array([0, -3, 1, 1]))):
        with pytest.raises(ValueError, match=r"label (5|-3) .*\[0, 2\]"):
            call()
    with pytest.raises(ValueError, match="whole numbers"):
        L.SparseCategoricalCrossentropy()(np.array([0.5, 1, 2, 0]), x)


def test_shape_mismatch_names_both_shapes():
    cases = [(lambda: L.mse_loss(randn(4, 3), randn(3, 4)), "(4, 3)", "(3, 4)"),
             (lambda: L.binary_cross_entropy_with_logits(randn(4, 2), randn(4)), "(4, 2)", "(4,)"),
             (lambda: L.MeanSquaredError()(randn(4, 2), randn(4, 3)), "(4, 2)", "(4, 3)"),
             (lambda: L.BinaryCrossentropy()(randn(4, 2), uniform(2, 4)), "(4, 2)", "(2, 4)"),
             (lambda: L.CategoricalCrossentropy()(labels(4, 3), uniform(4, 3)), "(4,)", "(4, 3)"),
             (lambda: L.SparseCategoricalCrossentropy()(labels(5, 3), uniform(4, 3)),
              "(5,)", "(4, 3)"),
             (lambda: L.cross_entropy(randn(4, 3), labels(5, 3)), "(5,)", "(4, 3)"),
             (lambda: L.nll_loss(randn(2, 3, 4), labels(2, 3)), "(2,)", "(2, 3, 4)"),
             (lambda: L.cross_entropy(randn(4, 3), uniform(4, 2)), "(4, 2)", "(4, 3)")]
    for i, (call, first, second) in enumerate(cases):
        with pytest.raises(ValueError) as err:
            call()
        assert first in str(err.value) and second in str(err.value), (i, str(err.value))


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        L.mse_loss(randn(2), randn(2), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        L.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="probabilities in"):
        L.binary_cross_entropy(randn(3, scale=5), uniform(3))
    with pytest.raises(ValueError, match="one entry per class"):
        L.cross_entropy(randn(3, 4), labels(3, 4), weight=np.ones(3))
    with pytest.raises(ValueError, match="beta"):
        L.smooth_l1_loss(randn(2), randn(2), beta=-1.0)


# ---------------------------------------------------------------- lookup and config
def test_get_names_instances_and_callables():
    expect = {"mse": L.MeanSquaredError, "mean_squared_error": L.MeanSquaredError,
              "mae": L.MeanAbsoluteError, "mean_absolute_error": L.MeanAbsoluteError,
              "huber": L.Huber, "binary_crossentropy": L.BinaryCrossentropy,
              "categorical_crossentropy": L.CategoricalCrossentropy,
              "sparse_categorical_crossentropy": L.SparseCategoricalCrossentropy}
    for name, cls in expect.items():
        a, b = L.get(name), L.get(name)
        assert type(a) is cls and a is not b
    inst = L.SparseCategoricalCrossentropy(from_logits=True)
    assert L.get(inst) is inst
    wrapped = L.get(L.mean_squared_error)  # per-sample callable → reduced to a scalar
    y, p = randn(4, 3, seed=1), randn(4, 3, seed=2)
    assert_close(wrapped(y, p).numpy(), ((p - y) ** 2).mean())
    with pytest.raises(ValueError) as err:
        L.get("cross_entropy_typo")
    assert "cross_entropy_typo" in str(err.value)
    assert all(n in str(err.value) for n in expect)


def test_config_round_trip_and_names():
    losses = [L.MeanSquaredError(), L.MeanAbsoluteError(reduction="sum"), L.Huber(delta=2.0),
              L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
              L.CategoricalCrossentropy(label_smoothing=0.2, axis=1),
              L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)]
    names = ["mean_squared_error", "mean_absolute_error", "huber_loss", "binary_crossentropy",
             "categorical_crossentropy", "sparse_categorical_crossentropy"]
    for loss, name in zip(losses, names):
        assert loss.name == name
        clone = type(loss).from_config(loss.get_config())
        assert clone.get_config() == loss.get_config()
        assert L.deserialize(L.serialize(loss)).get_config() == loss.get_config()
    assert L.Huber(delta=2.0).get_config()["delta"] == 2.0
    assert L.SparseCategoricalCrossentropy(ignore_class=0).get_config()["ignore_class"] == 0
