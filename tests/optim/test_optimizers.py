"""Optimizers against torch.optim: same start, same gradients, 30 steps, same parameters."""
import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import optim

SHAPES = [(3, 4), (4,), (2, 3, 2), ()]
STEPS = 30
TOL = {np.float64: dict(rtol=1e-7, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-5)}

CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, maximize=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05,
                                      maximize=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict()),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9,
                                              weight_decay=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict()),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.05)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, weight_decay=0.1, eps=1e-6)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.5)),
    (optim.Adam, torch.optim.Adam, dict()),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, torch.optim.AdamW, dict()),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]
IDS = [f"{c[0].__name__}-{'-'.join(f'{k}={v}' for k, v in c[2].items()) or 'defaults'}"
       for c in CASES]
ALL = [optim.SGD, optim.RMSprop, optim.Adagrad, optim.Adam, optim.AdamW]


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    w0 = [np.asarray(rng.standard_normal(s), dtype) for s in SHAPES]
    noise = [[np.asarray(rng.standard_normal(s), dtype) for s in SHAPES] for _ in range(STEPS)]
    return w0, noise


def _feed(params, noise):
    """Gradient of 0.5|w|² + noise·w at the current w: depends on the path taken so far."""
    for p, n in zip(params, noise):
        p.grad = sj.Tensor(n + p.data)


def _run_torch(torch_cls, kwargs, w0, noise, steps=STEPS):
    tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    opt = torch_cls(tps, **kwargs)
    for t in range(steps):
        for tp, n in zip(tps, noise[t]):
            tp.grad = torch.tensor(n) + tp.detach()
        opt.step()
    return [tp.detach().numpy() for tp in tps]


def _run(opt, params, noise, steps):
    for t in steps:
        _feed(params, noise[t])
        opt.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("cls", "torch_cls", "kwargs"), CASES, ids=IDS)
def test_matches_torch(cls, torch_cls, kwargs, dtype):
    w0, noise = _data(dtype)
    params = [sj.Parameter(w) for w in w0]
    opt = cls(params, **kwargs)
    _run(opt, params, noise, range(STEPS))
    expected = _run_torch(torch_cls, kwargs, w0, noise)
    for s in opt.state.values():  # no float64 sneaking into a float32 run
        assert all(v.dtype == dtype for v in s.values() if hasattr(v, "dtype"))
    for p, e, w in zip(params, expected, w0):
        assert p.dtype == dtype and p.shape == e.shape
        assert not np.allclose(e, w)  # it moved
        np.testing.assert_allclose(p.data, e, **TOL[dtype])


def test_adam_end_to_end_mlp_with_each_autograd():
    """A 2-layer MLP; each framework computes its own gradients; 30 Adam steps agree."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 1))
    w0 = [rng.standard_normal((5, 8)) * 0.5, np.zeros(8), rng.standard_normal((8, 1)) * 0.5]
    ps = [sj.Parameter(w) for w in w0]
    tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    opt, topt = optim.Adam(ps, lr=0.01), torch.optim.Adam(tps, lr=0.01)
    xs, ys, xt, yt = sj.tensor(x), sj.tensor(y), torch.tensor(x), torch.tensor(y)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = (((xs @ ps[0] + ps[1]).tanh() @ ps[2] - ys) ** 2).mean()
        loss.backward()
        opt.step()
        topt.zero_grad()
        (((xt @ tps[0] + tps[1]).tanh() @ tps[2] - yt) ** 2).mean().backward()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("cls", [optim.RMSprop, optim.Adagrad, optim.Adam, optim.AdamW])
def test_defaults_are_torch_defaults(cls):
    w0, noise = _data(np.float64)
    params = [sj.Parameter(w) for w in w0]
    _run(cls(params), params, noise, range(STEPS))
    expected = _run_torch(getattr(torch.optim, cls.__name__), {}, w0, noise)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-7, atol=1e-10)


def test_param_groups_with_their_own_hyperparameters():
    w0, noise = _data(np.float64)
    params = [sj.Parameter(w) for w in w0]
    opt = optim.SGD([{"params": params[:2], "lr": 0.3, "nesterov": True},
                     {"params": params[2:]}], lr=0.05, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.3, 0.05]
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["nesterov"] is False
    _run(opt, params, noise, range(STEPS))
    tps = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    topt = torch.optim.SGD([{"params": tps[:2], "lr": 0.3, "nesterov": True},
                            {"params": tps[2:]}], lr=0.05, momentum=0.9)
    for t in range(STEPS):
        for tp, n in zip(tps, noise[t]):
            tp.grad = torch.tensor(n) + tp.detach()
        topt.step()
    for p, tp in zip(params, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-7, atol=1e-10)


def test_lr_set_on_a_group_takes_effect_like_a_scheduler():
    p = sj.Parameter(np.zeros(3))
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.5
    p.grad = sj.Tensor(np.ones(3))
    opt.step()
    np.testing.assert_array_equal(p.data, -0.5 * np.ones(3))
    opt.lr = 0.25
    assert opt.learning_rate == 0.25 and opt.param_groups[0]["lr"] == 0.25
    with pytest.raises(ValueError, match="got -1"):
        opt.lr = -1


@pytest.mark.parametrize("cls", ALL)
def test_params_without_grad_or_frozen_are_skipped_and_keep_their_state(cls):
    w0, noise = _data(np.float64)
    params = [sj.Parameter(w) for w in w0]
    frozen = sj.Parameter(np.ones(3), requires_grad=False)
    opt = cls(params + [frozen], lr=0.1)
    _run(opt, params, noise, range(3))
    before = {k: np.copy(v) for k, v in opt.state[params[1]].items()}
    w1 = params[1].data.copy()
    for t in range(3, 6):
        _feed(params, noise[t])
        params[1].grad = None
        frozen.grad = sj.Tensor(np.ones(3))
        opt.step()
    np.testing.assert_array_equal(params[1].data, w1)
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert frozen not in opt.state or not opt.state[frozen]
    after = opt.state[params[1]]
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])
    assert not np.array_equal(params[0].data, w0[0])


@pytest.mark.parametrize(("cls", "torch_cls", "kwargs"), CASES, ids=IDS)
def test_step_never_writes_into_gradient_arrays(cls, torch_cls, kwargs):
    a, b = sj.Parameter(np.ones((2, 3))), sj.Parameter(np.full((2, 3), 2.0))
    shared = np.arange(6.0).reshape(2, 3) - 2.5
    opt = cls([a, b], **kwargs)
    for _ in range(3):
        a.grad = sj.Tensor._wrap(shared)
        b.grad = sj.Tensor._wrap(shared)  # one array, two tensors
        opt.step()
    np.testing.assert_array_equal(shared, np.arange(6.0).reshape(2, 3) - 2.5)


@pytest.mark.parametrize(("cls", "torch_cls", "kwargs"), CASES, ids=IDS)
def test_state_dict_round_trip_continues_exactly(cls, torch_cls, kwargs):
    w0, noise = _data(np.float64)
    straight = [sj.Parameter(w) for w in w0]
    _run(cls(straight, **kwargs), straight, noise, range(20))

    params = [sj.Parameter(w) for w in w0]
    first = cls(params, **kwargs)
    _run(first, params, noise, range(10))
    saved = first.state_dict()
    _run(first, params, noise, range(10, 13))  # saved arrays are copies, not views
    params = [sj.Parameter(w) for w in w0]
    _run(cls(params, **kwargs), params, noise, range(10))
    second = cls(params, lr=123.0 if "lr" in kwargs else 7.0)  # hyperparameters come back
    second.load_state_dict(saved)
    assert second.param_groups[0]["lr"] == first.param_groups[0]["lr"]
    _run(second, params, noise, range(10, 20))
    for p, q in zip(params, straight):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_layout_is_torch_like():
    params = [sj.Parameter(np.ones(2)), sj.Parameter(np.ones(3)), sj.Parameter(np.ones(1))]
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.1}])
    params[1].grad = sj.Tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    assert list(sd["state"]) == [1]
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][1]["step"] == 1
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_refuses_other_models():
    def trained(shapes, cls=optim.Adam):
        ps = [sj.Parameter(np.ones(s)) for s in shapes]
        opt = cls(ps)
        for p in ps:
            p.grad = sj.Tensor(np.ones(p.shape))
        opt.step()
        return opt

    sd = trained([(2, 3), (3,)]).state_dict()
    with pytest.raises(ValueError, match="1 parameters in the state_dict and 2 here|2 param"):
        trained([(2, 3)]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"shape \(3,\) but the parameter has shape \(4,\)"):
        trained([(2, 3), (4,)]).load_state_dict(sd)
    with pytest.raises(ValueError, match="another kind of optimizer"):
        trained([(2, 3), (3,)], optim.RMSprop).load_state_dict(sd)
    two_groups = optim.Adam([{"params": [sj.Parameter(np.ones((2, 3)))]},
                             {"params": [sj.Parameter(np.ones(3))]}])
    with pytest.raises(ValueError, match="1 parameter groups, this optimizer has 2"):
        two_groups.load_state_dict(sd)
    with pytest.raises(RuntimeError, match="bind it first"):
        optim.Adam().load_state_dict(sd)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: optim.SGD(lr=-0.1), ValueError, r"`lr` must be a number >= 0, got -0.1"),
    (lambda: optim.Adam(lr="fast"), ValueError, r"`lr` must be a number >= 0, got 'fast'"),
    (lambda: optim.Adam(betas=(0.9, 1.0)), ValueError,
     r"`betas` must be a pair \(beta_1, beta_2\) of numbers in \[0, 1\), got \(0.9, 1.0\)"),
    (lambda: optim.Adam(beta_1=-0.1), ValueError, r"`betas` must be .*got \(-0.1, 0.999\)"),
    (lambda: optim.Adam(eps=-1e-8), ValueError, r"`eps` must be a number >= 0, got -1e-08"),
    (lambda: optim.SGD(momentum=-0.5), ValueError, r"`momentum` must be a number >= 0"),
    (lambda: optim.SGD(weight_decay=-1), ValueError, r"`weight_decay` must be a number >= 0"),
    (lambda: optim.SGD(nesterov=True), ValueError,
     r"nesterov=True requires momentum > 0 and dampening = 0, got momentum=0.0"),
    (lambda: optim.SGD(momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     r"dampening=0.1"),
    (lambda: optim.SGD(nesterov="yes"), ValueError, r"`nesterov` must be True or False"),
    (lambda: optim.RMSprop(alpha=-0.9), ValueError, r"`alpha` must be a number >= 0"),
    (lambda: optim.Adagrad(lr_decay=-1), ValueError, r"`lr_decay` must be a number >= 0"),
    (lambda: optim.Adagrad(initial_accumulator_value=-1), ValueError,
     r"`initial_accumulator_value` must be"),
    (lambda: optim.SGD(lr=0.1, learning_rate=0.1), TypeError,
     r"both `lr`=0.1 and its alias `learning_rate`=0.1; pass only one"),
    (lambda: optim.Adam(betas=(0.8, 0.9), beta_1=0.9), TypeError, r"both `betas`"),
    (lambda: optim.Adam(eps=1e-7, epsilon=1e-7), TypeError, r"alias `epsilon`"),
    (lambda: optim.SGD(momentun=0.9), TypeError,
     r"SGD got unexpected keyword argument\(s\) \['momentun'\]; it takes lr, momentum, "),
    (lambda: optim.SGD(clipnorm=0), ValueError, r"`clipnorm` must be a number > 0 or None"),
    (lambda: optim.SGD(clipnorm=1, global_clipnorm=1), ValueError, r"only one of `clipnorm`"),
    (lambda: optim.SGD([{"params": [sj.Parameter(np.ones(2))], "lr": -1}]), ValueError,
     r"`lr` must be a number >= 0, got -1"),
    (lambda: optim.SGD([]), ValueError, r"empty parameter list"),
    (lambda: optim.SGD(sj.Parameter(np.ones(2))), TypeError, r"wrap it: \[p\]"),
    (lambda: optim.SGD([np.ones(2)]), TypeError, r"tensors \(sj.Parameter\), got ndarray"),
])
def test_validation_errors_say_what_and_why(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_parameter_given_twice_is_refused():
    p = sj.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([{"params": [p]}, {"params": [p]}])
    opt = optim.SGD([p])
    with pytest.raises(ValueError, match="appears twice"):
        opt.add_param_group({"params": p})


def test_aliases_learning_rate_and_keras_betas():
    assert optim.SGD(learning_rate=0.2).lr == 0.2
    assert optim.SGD(learning_rate=0.2).defaults["lr"] == 0.2
    adam = optim.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-7)
    assert adam.defaults == optim.Adam(lr=0.01, betas=(0.8, 0.95), eps=1e-7).defaults
    assert optim.AdamW(beta_2=0.99).defaults["betas"] == (0.9, 0.99)
    assert type(optim.Adam().defaults["lr"]) is float


def test_unbound_optimizer_is_bound_later():
    opt = optim.get("Adam", lr=0.1)
    assert isinstance(opt, optim.Adam) and opt.param_groups == [] and opt.lr == 0.1
    with pytest.raises(RuntimeError, match=r"no parameters: pass them .*model.compile"):
        opt.step()
    opt.zero_grad()  # nothing to do
    params = [sj.Parameter(np.ones(2)), sj.Parameter(np.ones(3))]
    assert opt.bind(params) is opt and opt.bind(iter(params)) is opt  # same params: no-op
    assert len(opt.param_groups) == 1
    with pytest.raises(RuntimeError, match="already bound to 2 parameters"):
        opt.bind([sj.Parameter(np.ones(2))])
    params[0].grad = sj.Tensor(np.ones(2))
    opt.step()
    assert params[0].data[0] < 1 and params[1].data[0] == 1


def test_get():
    for name, cls in [("sgd", optim.SGD), ("ADAM", optim.Adam), ("AdamW", optim.AdamW),
                      ("rmsprop", optim.RMSprop), ("Adagrad", optim.Adagrad)]:
        opt = optim.get(name)
        assert type(opt) is cls and opt.param_groups == []
    opt = optim.SGD(momentum=0.5)
    assert optim.get(opt) is opt
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamax'.*'adagrad', 'adam'"):
        optim.get("adamax")
    with pytest.raises(TypeError, match="got int"):
        optim.get(3)


def test_config_rebuilds_and_repr():
    opt = optim.Adam(lr=0.01, amsgrad=True, clipnorm=1.0)
    again = type(opt)(**opt.get_config())
    assert again.defaults == opt.defaults and again.clipnorm == 1.0
    assert repr(opt).startswith("Adam(lr=0.01, betas=(0.9, 0.999)")


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    p = sj.Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with sj.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(p.data, [3.0 - 0.1 * 6.0])


def test_zero_grad():
    p = sj.Parameter(np.ones(2))
    opt = optim.SGD([p])
    p.grad = sj.Tensor(np.ones(2))
    g = p.grad.data
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, 0)
    np.testing.assert_array_equal(g, 1)  # a new array, the old one untouched
    opt.zero_grad()
    assert p.grad is None


def _one_step(grads, **clip):
    params = [sj.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = sj.Tensor(g)
    optim.SGD(params, lr=1.0, **clip).step()
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.data, g)  # .grad itself is left alone
    return [-p.data for p in params]  # the gradients the update used


def test_keras_clipnorm_clips_each_gradient_to_that_norm():
    big, small = np.array([3.0, 4.0]), np.array([0.3, 0.4])
    out = _one_step([big, small], clipnorm=1.0)
    np.testing.assert_allclose(out[0], [0.6, 0.8])
    np.testing.assert_array_equal(out[1], small)


def test_keras_global_clipnorm_clips_all_gradients_together():
    a, b = np.array([3.0, 0.0]), np.array([[0.0], [4.0]])
    out = _one_step([a, b], global_clipnorm=2.0)
    np.testing.assert_allclose(out[0], a * 0.4)
    np.testing.assert_allclose(out[1], b * 0.4)
    out = _one_step([a, b], global_clipnorm=10.0)
    np.testing.assert_array_equal(out[0], a)


def test_keras_clipvalue_and_after_clipnorm():
    g = np.array([3.0, -4.0, 0.1])
    np.testing.assert_array_equal(_one_step([g], clipvalue=0.5)[0], [0.5, -0.5, 0.1])
    np.testing.assert_allclose(_one_step([g], clipnorm=1.0, clipvalue=0.7)[0],
                               np.clip(g / np.linalg.norm(g), -0.7, 0.7))
