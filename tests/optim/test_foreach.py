"""The fused (foreach) optimizer step gives bit for bit the per-parameter step's numbers."""
import numpy as np
import pytest

import shenjing as sj
from shenjing import optim
from shenjing.optim import _foreach

SHAPES = [(3, 4), (4,), (2, 3, 2), (), (5, 1)]
CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    (optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.Adam, dict(lr=0.01, clipnorm=0.5)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, global_clipnorm=1.0, clipvalue=0.3)),
]
IDS = [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in CASES]
STEPS = 12


def _data(dtype=np.float32, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    w0 = [np.asarray(rng.standard_normal(s), dtype) for s in shapes]
    noise = [[np.asarray(rng.standard_normal(s), dtype) for s in shapes] for _ in range(STEPS)]
    return w0, noise


def _feed(params, noise, skip=()):
    """Gradient of 0.5|w|² + noise·w; parameters at indices ``skip`` get none."""
    for i, (p, n) in enumerate(zip(params, noise)):
        p.grad = None if i in skip else sj.Tensor(n + p.data)


def _train(foreach, cls, kwargs, w0, noise, steps=range(STEPS), skip_at=None, groups=False):
    params = [sj.Parameter(w) for w in w0]
    spec = ([{"params": params[:2], "lr": 0.03}, {"params": params[2:]}] if groups
            else params)
    opt = cls(spec, foreach=foreach, **kwargs)
    for t in steps:
        _feed(params, noise[t], skip_at(t) if skip_at else ())
        opt.step()
    return params, opt


def _assert_same(a, b):
    for p, q in zip(a, b):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
def test_fused_equals_per_parameter(cls, kwargs, dtype):
    w0, noise = _data(dtype)
    loop, opt_loop = _train(False, cls, kwargs, w0, noise)
    fused, opt_fused = _train(True, cls, kwargs, w0, noise)
    _assert_same(loop, fused)
    assert fused[0].data.base is fused[1].data.base is not None  # really one flat buffer
    assert loop[0].data.base is None
    for p, q in zip(loop, fused):  # the states agree, key by key, and keep the dtype
        s, r = opt_loop.state[p], opt_fused.state[q]
        assert s.keys() == r.keys()
        for k in s:
            np.testing.assert_array_equal(r[k], s[k])
            assert getattr(r[k], "dtype", dtype) == dtype


@pytest.mark.parametrize(("cls", "kwargs"), CASES[:9], ids=IDS[:9])
def test_param_groups_missing_grads_and_frozen_params(cls, kwargs):
    """Groups with their own lr; some steps leave a parameter without gradient (so step
    counts differ and the bucket falls back, then fuses again after a reload)."""
    w0, noise = _data()

    def skip_at(t):
        return {1} if t in (3, 4) else {0, 4} if t == 7 else ()

    loop, _ = _train(False, cls, kwargs, w0, noise, skip_at=skip_at, groups=True)
    fused, _ = _train(True, cls, kwargs, w0, noise, skip_at=skip_at, groups=True)
    auto, _ = _train(None, cls, kwargs, w0, noise, skip_at=skip_at, groups=True)
    _assert_same(loop, fused)
    _assert_same(loop, auto)

    frozen_loop, frozen_fused = [], []
    for foreach, out in ((False, frozen_loop), (True, frozen_fused)):
        params = [sj.Parameter(w) for w in w0]
        params[2].requires_grad = False
        opt = cls(params, foreach=foreach, **kwargs)
        for t in range(STEPS):
            _feed(params, noise[t])
            opt.step()
        assert not opt.state[params[2]]
        np.testing.assert_array_equal(params[2].data, w0[2])
        out.extend(params)
    _assert_same(frozen_loop, frozen_fused)


@pytest.mark.parametrize(("cls", "kwargs"), CASES[:9], ids=IDS[:9])
@pytest.mark.parametrize(("first", "second"), [(True, False), (False, True), (True, True)])
def test_state_dict_round_trip_across_paths(cls, kwargs, first, second):
    """Saved per parameter (a checkpoint of either path loads into the other) and copied."""
    w0, noise = _data()
    straight, _ = _train(False, cls, kwargs, w0, noise)
    params, opt = _train(first, cls, kwargs, w0, noise, steps=range(6))
    saved = opt.state_dict()
    assert sorted(saved["state"]) == list(range(len(SHAPES))) or not saved["state"]
    for s in saved["state"].values():
        for v in s.values():
            assert not hasattr(v, "base") or v.base is None  # owned copies, not views
    opt.step()  # must not change the saved copies
    resumed = [sj.Parameter(p.data.copy()) for p in _train(first, cls, kwargs, w0, noise,
                                                           steps=range(6))[0]]
    opt2 = cls(resumed, foreach=second, **kwargs)
    opt2.load_state_dict(saved)
    for t in range(6, STEPS):
        _feed(resumed, noise[t])
        opt2.step()
    _assert_same(straight, resumed)


def test_replaced_data_and_dtype_change_rebuild_the_buffer():
    """Module.to / gradcheck replace ``p.data``: the next step rebuilds from the new arrays."""
    w0, noise = _data(np.float32)
    params, opt = _train(True, optim.Adam, {}, w0, noise, steps=range(3))
    loop, opt_loop = _train(False, optim.Adam, {}, w0, noise, steps=range(3))
    for p in params + loop:
        p.data = p.data.copy()  # same values, new arrays
    for t in range(3, 6):
        _feed(params, noise[t])
        _feed(loop, noise[t])
        opt.step()
        opt_loop.step()
    _assert_same(loop, params)
    assert params[0].data.base is params[1].data.base is not None
    for p in params + loop:  # to float64, as Module.to(sj.float64) does
        p.data = p.data.astype(np.float64)
    for opt_, ps in ((opt, params), (opt_loop, loop)):
        opt_.load_state_dict(opt_.state_dict())  # state restored in the parameters' dtype
        for t in range(6, STEPS):
            _feed(ps, [n.astype(np.float64) for n in noise[t]])
            opt_.step()
    _assert_same(loop, params)
    assert params[0].dtype == np.float64


def test_grads_are_left_untouched_for_readers_like_a_grad_scaler():
    """``.grad`` keeps its own arrays: in-place unscaling before step() is seen by it."""
    w0, noise = _data()
    ref, _ = _train(False, optim.Adam, {}, w0, noise, steps=range(1))
    params = [sj.Parameter(w) for w in w0]
    opt = optim.Adam(params, foreach=True)
    for p, n in zip(params, noise[0]):
        p.grad = sj.Tensor((n + p.data) * 1024)
    grads = [p.grad.data for p in params]
    for p in params:
        p.grad.data /= 1024  # what a GradScaler does before opt.step()
    opt.step()
    for p, g in zip(params, grads):
        assert p.grad.data is g
    for p, q in zip(params, ref):
        np.testing.assert_array_equal(p.data, q.data)


def test_cpu_auto_keeps_large_parameters_per_parameter(monkeypatch):
    monkeypatch.setattr(_foreach, "CPU_FUSE_MAX_SIZE", 8)
    w0, noise = _data()
    params, opt = _train(None, optim.SGD, dict(lr=0.1, momentum=0.9), w0, noise, steps=range(2))
    assert params[0].data.base is None and params[2].data.base is None  # 12 elements each
    assert params[1].data.base is params[3].data.base is params[4].data.base is not None


def test_foreach_is_validated_and_kept_in_the_config():
    with pytest.raises(ValueError, match="foreach"):
        optim.SGD([sj.Parameter(np.ones(2))], foreach="yes")
    opt = optim.Adam(foreach=False)
    assert opt.get_config()["foreach"] is False
    assert "foreach" not in optim.Adam().get_config()
    assert type(opt)(**opt.get_config()).foreach is False


def test_unelementwise_subclass_is_never_fused():
    """A custom optimizer whose update reads the whole tensor (a norm) keeps its own loop."""

    class NormalizedSGD(optim.Optimizer):
        def update(self, w, g, state, group):
            w -= group["lr"] * g / np.linalg.norm(g)

    w0, noise = _data(np.float64)
    params = [sj.Parameter(w) for w in w0[:2]]
    opt = NormalizedSGD(params, dict(lr=0.1), foreach=True)
    _feed(params, noise[0][:2])
    opt.step()
    for p, w, n in zip(params, w0, noise[0]):
        g = n + w
        np.testing.assert_allclose(p.data, w - 0.1 * g / np.linalg.norm(g))
