"""Learning-rate schedules, both styles, against torch.optim.lr_scheduler (the same lr sequence
over 30+ steps) and against Keras 3's formulas where torch has no counterpart."""
import json
import math

import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing.optim import lr_scheduler as S
from shenjing.optim import schedules as K

N = 30


def sj_opt(lr=0.1, cls=None, **kw):
    w = sj.Parameter(np.zeros(3, dtype=np.float32))
    return (cls or sj.optim.SGD)([w], lr=lr, **kw)


def torch_opt(lr=0.1, cls=None, **kw):
    return (cls or torch.optim.SGD)([torch.zeros(3, requires_grad=True)], lr=lr, **kw)


def torch_lrs(make, n=N, lr=0.1, **kw):
    """The lr each of n epochs trains with: lr after construction, then after each step()."""
    opt = torch_opt(lr, **kw)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def sj_lrs(make, n=N, lr=0.1, **kw):
    opt = sj_opt(lr, **kw)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    return out


# ---------------------------------------------------------------- torch style vs torch
TORCH_CASES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.87)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),   # past T_max: rises again
    ("CosineAnnealingLR", dict(T_max=30)),
    ("LinearLR", dict(start_factor=0.1, total_iters=8)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=12)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=N)),
    ("OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=10, anneal_strategy="linear",
                        pct_start=0.25, three_phase=True)),
]


@pytest.mark.parametrize("name,kw", TORCH_CASES)
def test_lr_sequence_matches_torch(name, kw):
    ours = sj_lrs(lambda opt: getattr(S, name)(opt, **kw), momentum=0.9)
    theirs = torch_lrs(lambda opt: getattr(torch.optim.lr_scheduler, name)(opt, **kw),
                       momentum=0.9)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


def test_lambda_lr_matches_torch():
    def fn(epoch):
        return 1.0 / (1 + epoch) ** 0.5

    np.testing.assert_allclose(sj_lrs(lambda o: S.LambdaLR(o, fn)),
                               torch_lrs(lambda o: torch.optim.lr_scheduler.LambdaLR(o, fn)),
                               rtol=1e-12)


@pytest.mark.parametrize("second", ["cosine", "exponential", "step"])
def test_sequential_warmup_then_decay_matches_torch(second):
    def make(mod):
        def build(opt):
            warm = mod.LinearLR(opt, start_factor=0.05, total_iters=5)
            then = {"cosine": lambda: mod.CosineAnnealingLR(opt, T_max=25, eta_min=1e-4),
                    "exponential": lambda: mod.ExponentialLR(opt, gamma=0.9),
                    "step": lambda: mod.StepLR(opt, step_size=4, gamma=0.5)}[second]()
            return mod.SequentialLR(opt, [warm, then], milestones=[5])
        return build

    np.testing.assert_allclose(sj_lrs(make(S)), torch_lrs(make(torch.optim.lr_scheduler)),
                               rtol=1e-10)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_one_cycle_cycles_momentum_like_torch(opt_name):
    kw = {"momentum": 0.9} if opt_name == "SGD" else {}
    ours_opt, torch_o = sj_opt(cls=getattr(sj.optim, opt_name), **kw), \
        torch_opt(cls=getattr(torch.optim, opt_name), **kw)
    ours = S.OneCycleLR(ours_opt, max_lr=0.3, total_steps=20)
    theirs = torch.optim.lr_scheduler.OneCycleLR(torch_o, max_lr=0.3, total_steps=20)
    key = "momentum" if opt_name == "SGD" else "betas"
    for _ in range(20):
        a, b = ours_opt.param_groups[0], torch_o.param_groups[0]
        np.testing.assert_allclose(np.ravel(a[key]), np.ravel(b[key]), rtol=1e-12)
        torch_o.step()
        ours.step()
        theirs.step()
    with pytest.raises(ValueError, match="total_steps=20"):
        ours.step()


def test_reduce_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.9, 0.95, 0.91, 0.9, 0.89999, 0.95, 0.7, 0.71, 0.72, 0.73, 0.74,
               0.75, 0.76, 0.77, 0.6, 0.61, 0.62, 0.63]
    for kw in (dict(patience=1, factor=0.5), dict(patience=2, cooldown=2, min_lr=0.002),
               dict(mode="max", patience=0, threshold_mode="abs", threshold=0.01)):
        o, t = sj_opt(), torch_opt()
        ours, theirs = S.ReduceLROnPlateau(o, **kw), \
            torch.optim.lr_scheduler.ReduceLROnPlateau(t, **kw)
        for m in metrics:
            ours.step(m)
            theirs.step(m)
            assert o.param_groups[0]["lr"] == pytest.approx(t.param_groups[0]["lr"], rel=1e-12)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
    fresh = S.ReduceLROnPlateau(sj_opt(), patience=0)
    state = json.loads(json.dumps(fresh.state_dict(), allow_nan=False))
    fresh.load_state_dict(state)
    fresh.step(2.0)
    assert fresh.best == 2.0


def test_scheduler_state_dict_resumes_and_is_json():
    opt = sj_opt()
    sched = S.SequentialLR(opt, [S.LinearLR(opt, 0.1, total_iters=3),
                                 S.CosineAnnealingLR(opt, T_max=10)], milestones=[3])
    for _ in range(6):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    expected = [sched.step() or sched.get_last_lr()[0] for _ in range(5)]
    opt2 = sj_opt(lr=0.1)
    again = S.SequentialLR(opt2, [S.LinearLR(opt2, 0.1, total_iters=3),
                                  S.CosineAnnealingLR(opt2, T_max=10)], milestones=[3])
    again.load_state_dict(state)
    assert [again.step() or again.get_last_lr()[0] for _ in range(5)] == expected


def test_scheduler_on_an_unbound_optimizer_sets_the_default_lr():
    opt = sj.optim.SGD(lr=0.1)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    assert opt.lr == 0.05
    w = sj.Parameter(np.zeros(2, dtype=np.float32))
    opt.bind([w])
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.025


def test_scheduler_errors():
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(sj_opt(), step_size=0)
    with pytest.raises(ValueError, match="load_state_dict"):
        S.StepLR(sj_opt(), step_size=2, last_epoch=3)
    with pytest.raises(ValueError, match="one milestone fewer"):
        S.SequentialLR(o := sj_opt(), [S.StepLR(o, 2)], milestones=[3])
    with pytest.raises(ValueError, match="momentum or betas"):
        S.OneCycleLR(sj_opt(cls=sj.optim.Adagrad), max_lr=0.1, total_steps=5)
    with pytest.raises(TypeError, match="sj.optim optimizer"):
        S.StepLR(object(), 2)


# ---------------------------------------------------------------- Keras style
def keras_values(schedule, n=N):
    return [schedule(step) for step in range(n)]


def test_exponential_decay_is_torch_exponential_and_step():
    np.testing.assert_allclose(
        keras_values(K.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.87)),
        torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.87)), rtol=1e-12)
    np.testing.assert_allclose(
        keras_values(K.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5, staircase=True)),
        torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5)), rtol=1e-12)
    smooth = K.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert smooth(5) == pytest.approx(0.1 * 0.5 ** 0.5)


def test_piecewise_constant_is_multistep_one_step_later():
    # Keras keeps values[i] while step <= boundary; torch changes at the milestone itself
    values = [0.1, 0.1 * 0.3, 0.1 * 0.09]
    np.testing.assert_allclose(
        keras_values(K.PiecewiseConstantDecay([4, 19], values)),
        torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [5, 20], 0.3)), rtol=1e-12)
    with pytest.raises(ValueError, match="one more value"):
        K.PiecewiseConstantDecay([1, 2], [1.0])


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_cosine_decay_is_cosine_annealing_until_decay_steps(alpha):
    keras = keras_values(K.CosineDecay(0.1, decay_steps=20, alpha=alpha), n=N)
    torch_v = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=20, eta_min=alpha * 0.1))
    np.testing.assert_allclose(keras[:21], torch_v[:21], rtol=1e-10, atol=1e-15)
    assert keras[21:] == [pytest.approx(alpha * 0.1)] * (N - 21)   # Keras holds the floor


def test_cosine_decay_with_warmup_is_linear_then_cosine():
    keras = keras_values(K.CosineDecay(0.001, decay_steps=25, warmup_target=0.1,
                                       warmup_steps=5))

    def build(o):
        L = torch.optim.lr_scheduler
        return L.SequentialLR(o, [L.LinearLR(o, start_factor=0.01, total_iters=5),
                                  L.CosineAnnealingLR(o, T_max=25)], milestones=[5])

    np.testing.assert_allclose(keras, torch_lrs(build), rtol=1e-10, atol=1e-15)
    assert K.CosineDecay(0.0, 90, warmup_target=0.1, warmup_steps=10)(5) == pytest.approx(0.05)


@pytest.mark.parametrize("t_mul", [1.0, 2.0])
def test_cosine_decay_restarts_is_warm_restarts(t_mul):
    keras = keras_values(K.CosineDecayRestarts(0.1, first_decay_steps=4, t_mul=t_mul,
                                               alpha=0.05), n=60)
    torch_v = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=4, T_mult=int(t_mul), eta_min=0.005), n=60)
    np.testing.assert_allclose(keras, torch_v, rtol=1e-10, atol=1e-15)
    damped = K.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert (damped(0), damped(10), damped(30)) == pytest.approx((1.0, 0.5, 0.25))


def test_polynomial_decay_is_polynomial_lr_and_cycles():
    np.testing.assert_allclose(
        keras_values(K.PolynomialDecay(0.1, decay_steps=20, end_learning_rate=0.0, power=2.0)),
        torch_lrs(lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=20,
                                                                  power=2.0)), rtol=1e-10,
        atol=1e-15)
    cyc = K.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, cycle=True)
    assert (cyc(0), cyc(5), cyc(10), cyc(15)) == pytest.approx((1.0, 0.5, 0.0, 0.25))


def test_inverse_time_decay_formula():
    s = K.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5)
    assert [s(t) for t in (0, 4, 6)] == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 1.75])
    stair = K.InverseTimeDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    assert stair(7) == pytest.approx(0.1 / 1.5)


# ---------------------------------------------------------------- Keras style in optimizers
def test_optimizer_follows_a_schedule_like_torch_with_a_scheduler():
    """SGD(lr=ExponentialDecay) over 12 updates == torch SGD + ExponentialLR stepped per
    update: same weights, same lr."""
    rng = np.random.default_rng(0)
    w0, grads = rng.standard_normal(5), rng.standard_normal((12, 5))
    w = sj.Parameter(w0.copy())
    opt = sj.optim.SGD([w], learning_rate=K.ExponentialDecay(0.1, 1, 0.8), momentum=0.9)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.ExponentialLR(topt, 0.8)
    for g in grads:
        w.grad = sj.tensor(g)
        opt.step()
        tw.grad = torch.tensor(g)
        topt.step()
        tsched.step()
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"] / 0.8)   # lr just used
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12)
    assert opt.iterations == 12


def test_schedule_step_counter_saved_and_config_round_trips():
    w = sj.Parameter(np.zeros(2))
    opt = sj.optim.Adam([w], lr=K.PiecewiseConstantDecay([2], [0.1, 0.01]))
    for _ in range(3):
        w.grad = sj.tensor(np.ones(2))
        opt.step()
    state = opt.state_dict()
    assert state["iterations"] == 3 and opt.lr == 0.1      # steps 0, 1, 2 <= boundary 2
    w2 = sj.Parameter(np.zeros(2))
    config = json.loads(json.dumps(opt.get_config()))
    assert config["lr"]["class_name"] == "PiecewiseConstantDecay"
    again = sj.optim.Adam([w2], **config)
    assert isinstance(again.lr_schedule, K.PiecewiseConstantDecay) and again.lr == 0.1
    again.load_state_dict(state)
    w2.grad = sj.tensor(np.ones(2))
    again.step()
    assert again.iterations == 4 and again.lr == 0.01
    with pytest.raises(TypeError, match="schedule"):
        again.lr = 0.5


def test_custom_schedule_subclass_and_plain_callable():
    class Halving(K.LearningRateSchedule):
        def __init__(self, initial_learning_rate, every):
            self.initial_learning_rate, self.every = initial_learning_rate, every

        def __call__(self, step):
            return self.initial_learning_rate * 0.5 ** (step // self.every)

    h = Halving(1.0, 2)
    assert K.deserialize(K.serialize(h))(4) == 0.25
    assert "Halving(initial_learning_rate=1.0, every=2)" == repr(h)
    opt = sj_opt(lr=lambda step: 0.1 / (1 + step))
    assert opt.lr == 0.1
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        K.deserialize({"class_name": "Nope"})
    assert math.isclose(K.ExponentialDecay(0.1, 10, 0.5, staircase=True)(25), 0.025)
