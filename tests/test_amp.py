"""Mixed precision (shenjing.amp): autocast against torch.autocast, GradScaler against
torch.amp.GradScaler, and a digits run in float16 against float32."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import shenjing as sj
import shenjing.nn.functional as F
from shenjing import amp
from shenjing.amp import GradScaler, MixedPrecision, autocast

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype("float32")


def both(*arrays):
    """The arrays as shenjing and torch leaves that require grad."""
    return ([sj.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


# ---------------------------------------------------------------- autocast: ops vs torch

OPS = {  # name: (shenjing op, torch op, input shapes)
    "matmul": (sj.matmul, torch.matmul, [(4, 6, 32), (32, 8)]),
    "linear": (lambda x, w, b: sj.affine(x, w, b),
               lambda x, w, b: torch.nn.functional.linear(x, w.t(), b),
               [(16, 32), (32, 8), (8,)]),
    "conv2d": (lambda x, w, b: sj.conv2d(x, w, b, padding=1),
               lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1),
               [(2, 3, 8, 8), (4, 3, 3, 3), (4,)]),
    "conv2d_stride2": (lambda x, w: sj.conv2d(x, w, stride=2),
                       lambda x, w: torch.nn.functional.conv2d(x, w, stride=2),
                       [(2, 3, 9, 9), (4, 3, 3, 3)]),
    "conv1d": (lambda x, w, b: sj.conv1d(x, w, b, padding=2),
               lambda x, w, b: torch.nn.functional.conv1d(x, w, b, padding=2),
               [(2, 3, 20), (5, 3, 5), (5,)]),
    "conv_transpose2d": (lambda x, w, b: sj.conv_transpose2d(x, w, b, stride=2),
                         lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b,
                                                                              stride=2),
                         [(2, 4, 5, 5), (4, 3, 3, 3), (3,)]),
    "conv_transpose1d": (lambda x, w: sj.conv_transpose1d(x, w, stride=2),
                         lambda x, w: torch.nn.functional.conv_transpose1d(x, w, stride=2),
                         [(2, 4, 7), (4, 3, 3)]),
}


@pytest.mark.parametrize("name", OPS)
def test_op_under_autocast_matches_torch_float16(name):
    """Output float16 as torch.autocast's; output and float32 gradients within float16
    tolerance of torch's (both accumulate the products in float32 or better)."""
    sj_op, torch_op, shapes = OPS[name]
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    (s_in, t_in), g = both(*arrays), None
    with autocast():
        y = sj_op(*s_in)
    with torch.autocast("cpu", dtype=torch.float16):
        ty = torch_op(*t_in)
    assert y.dtype == np.float16 and ty.dtype == torch.float16
    assert rel_err(y.numpy(), ty.detach().float().numpy()) < 2e-3
    g = rand(*y.shape, seed=9)
    (y.astype("float32") * sj.tensor(g)).sum().backward()
    (ty.float() * torch.tensor(g)).sum().backward()
    for i, (s, t) in enumerate(zip(s_in, t_in)):
        assert s.grad.dtype == np.float32, f"input {i}: grad dtype {s.grad.dtype}"
        assert rel_err(s.grad.numpy(), t.grad.numpy()) < 5e-3, f"input {i}"


@pytest.mark.parametrize("name", OPS)
def test_autocast_gradients_close_to_float32(name):
    """Master weights get float32 gradients equal to float32 training's up to float16
    rounding (relative error ~ 2⁻¹¹ per rounding, a few roundings deep)."""
    sj_op, _, shapes = OPS[name]
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    g = None
    grads = []
    for enabled in (False, True):
        ins = [sj.tensor(a, requires_grad=True) for a in arrays]
        with autocast(enabled=enabled):
            y = sj_op(*ins)
        g = rand(*y.shape, seed=9) if g is None else g
        (y.astype("float32") * sj.tensor(g)).sum().backward()
        grads.append([t.grad.numpy() for t in ins])
        assert y.dtype == (np.float16 if enabled else np.float32)
    for i, (lo, ref) in enumerate(zip(grads[1], grads[0])):
        assert lo.dtype == np.float32
        assert 0 < rel_err(lo, ref) < 5e-3, f"input {i}"  # > 0: it did run in float16


def test_autocast_on_every_device(device):
    x = sj.tensor(rand(2, 3, 6, 6), device=device)
    w = sj.tensor(rand(4, 3, 3, 3), requires_grad=True, device=device)
    k = sj.tensor(rand(16, 5), requires_grad=True, device=device)
    with autocast():
        h = sj.conv2d(x, w, padding=1)
        y = h.reshape(2, -1)[:, :16] @ k
    assert h.dtype == y.dtype == np.float16 and y.device == sj.device(device)
    y.astype("float32").sum().backward()
    assert w.grad.dtype == k.grad.dtype == np.float32 and w.grad.device == sj.device(device)


def test_dense_and_tensor_operator_are_cast():
    layer = sj.nn.Dense(8)
    x = sj.tensor(rand(4, 5))
    with autocast():
        y = layer(x)
        z = x @ sj.tensor(rand(5, 3))
    assert y.dtype == np.float16 and z.dtype == np.float16
    assert layer.kernel.dtype == np.float32 and layer.bias.dtype == np.float32
    (y.astype("float32") ** 2).sum().backward()
    assert layer.kernel.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_later_ops_follow_promotion_and_float64_is_not_cast():
    x, w = sj.tensor(rand(4, 5)), sj.tensor(rand(5, 3))
    with autocast():
        y = x @ w
        assert (y + sj.tensor(rand(3))).dtype == np.float32  # float16 + float32
        assert sj.relu(y).dtype == np.float16
        assert (y * 0.5).dtype == np.float16  # Python scalars never upcast
        assert (x.double() @ w.double()).dtype == np.float64


def test_autocast_off_is_a_no_op():
    x, w = sj.tensor(rand(4, 5)), sj.tensor(rand(5, 3))
    out = amp.cast_inputs(x, w, None)
    assert out[0] is x and out[1] is w and out[2] is None
    assert amp.upcast_inputs(x)[0] is x
    assert (x @ w).dtype == np.float32
    assert not amp.is_autocast_enabled() and amp.get_autocast_dtype() is None


def test_upcast_inputs_casts_float16_to_float32_differentiably():
    h = sj.tensor(rand(3, 4), requires_grad=True)
    with autocast():
        (u,) = amp.upcast_inputs(h.astype("float16"))
        assert u.dtype == np.float32
    (u * 2).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2.0)


def test_nesting_disable_and_decorator():
    x, w = sj.tensor(rand(2, 3)), sj.tensor(rand(3, 2))
    with autocast():
        with autocast(enabled=False):
            assert (x @ w).dtype == np.float32 and not amp.is_autocast_enabled()
            with autocast():
                assert (x @ w).dtype == np.float16
            assert (x @ w).dtype == np.float32
        assert (x @ w).dtype == np.float16
    assert (x @ w).dtype == np.float32

    @autocast()
    def forward(a, b):
        return a @ b

    assert forward(x, w).dtype == np.float16 and not amp.is_autocast_enabled()
    ctx = autocast()
    with ctx, ctx:  # one instance entered twice restores both levels
        assert amp.get_autocast_dtype() == np.float16
    assert not amp.is_autocast_enabled()


def test_autocast_state_is_per_thread():
    seen = {}

    def worker(key):
        seen[key] = amp.is_autocast_enabled()
        with autocast():
            seen[key + "_inside"] = (sj.ones(2, 2) @ sj.ones(2, 2)).dtype

    with autocast():
        t = threading.Thread(target=worker, args=("thread",))
        t.start()
        t.join()
        assert amp.is_autocast_enabled()
    assert seen == {"thread": False, "thread_inside": np.float16}
    assert not amp.is_autocast_enabled()


def test_autocast_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with autocast():
            raise ZeroDivisionError
    assert not amp.is_autocast_enabled()


@pytest.mark.parametrize("dtype", ["float16", "half", np.float16, sj.float16])
def test_float16_spellings(dtype):
    assert autocast(dtype).dtype == np.float16


def test_unsupported_dtypes_raise_clear_errors():
    with pytest.raises(ValueError, match="bfloat16 is not supported.*CuPy.*float16"):
        autocast("bfloat16")
    with pytest.raises(ValueError, match="supports dtype 'float16', got 'float32'"):
        autocast("float32")
    with pytest.raises(ValueError, match="mixed_precision must be True, False, None"):
        MixedPrecision(3)
    with pytest.raises(ValueError, match="mixed_precision='bfloat16'.*not supported"):
        MixedPrecision("bfloat16")


def test_losses_and_softmax_run_in_float32_under_autocast():
    """torch.autocast runs softmax, log_softmax and the losses in float32: shenjing's
    hooks (amp.upcast_inputs in ops/nn.py and losses/_common.py) do the same."""
    logits_w = sj.tensor(rand(6, 4), requires_grad=True)
    x, y = sj.tensor(rand(5, 6)), np.array([0, 1, 2, 3, 0])
    with autocast():
        logits = x @ logits_w
        assert logits.dtype == np.float16
        assert sj.softmax(logits).dtype == np.float32
        assert sj.log_softmax(logits).dtype == np.float32
        loss = F.cross_entropy(logits, y)
        assert loss.dtype == np.float32
        assert sj.losses.SparseCategoricalCrossentropy(from_logits=True)(
            sj.tensor(y), logits).dtype == np.float32
        assert F.mse_loss(logits, sj.tensor(rand(5, 4))).dtype == np.float32
    loss.backward()
    assert logits_w.grad.dtype == np.float32


def test_normalisation_after_conv_under_autocast():
    """Normalisations run in float32 (torch: layer/group norm are float32 ops), so a
    float16 convolution output meets float32 γ, β without a dtype error: the layers cast
    their input to their weights' dtype, the functional ops (amp.upcast_inputs in
    ops/norm.py) to float32."""
    conv, bn = sj.nn.Conv2D(4, 3, padding="same"), sj.nn.BatchNormalization()
    x = sj.tensor(rand(2, 3, 6, 6))
    gamma = sj.tensor(np.ones(6, np.float32), requires_grad=True)
    with autocast():
        h = conv(x)
        out = bn(h)
        normed = sj.layer_norm(h.reshape(2, 4, 36)[..., :6], (6,), gamma)
    assert h.dtype == np.float16 and out.dtype == np.float32 and normed.dtype == np.float32
    (out.sum() + normed.sum()).backward()
    assert conv.kernel.grad.dtype == np.float32 and gamma.grad.dtype == np.float32


# ---------------------------------------------------------------- GradScaler vs torch

def _torch_run(w0, b0, batches, inject, **kw):
    w, b = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", **kw)
    trace = []
    for step, (x, t) in enumerate(batches):
        loss = ((torch.tensor(x) @ w + b - torch.tensor(t)) ** 2).mean()
        opt.zero_grad()
        scaler.scale(loss).backward()
        if step in inject:
            w.grad[0, 0] = inject[step]
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), w.detach().numpy().copy(), b.detach().numpy().copy()))
    return trace, scaler.state_dict()


def _sj_run(w0, b0, batches, inject, **kw):
    w, b = sj.tensor(w0, requires_grad=True), sj.tensor(b0, requires_grad=True)
    opt = sj.optim.SGD([w, b], lr=0.05, momentum=0.9)
    scaler = GradScaler(**kw)
    trace, skipped = [], []
    for step, (x, t) in enumerate(batches):
        loss = ((sj.tensor(x) @ w + b - sj.tensor(t)) ** 2).mean()
        opt.zero_grad()
        scaler.scale(loss).backward()
        if step in inject:
            w.grad.data[0, 0] = inject[step]
        scaler.step(opt)
        skipped.append(scaler.skipped(opt))
        scaler.update()
        trace.append((scaler.get_scale(), w.numpy().copy(), b.numpy().copy()))
    return trace, scaler.state_dict(), skipped


def test_grad_scaler_matches_torch_with_injected_infs():
    """Same scale trajectory (back off on inf/NaN, grow after growth_interval clean steps),
    same skipped steps, same parameters."""
    batches = [(rand(8, 5, seed=s), rand(8, 3, seed=100 + s)) for s in range(14)]
    inject = {2: np.inf, 3: np.nan, 9: -np.inf}
    kw = dict(init_scale=2.0 ** 12, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    w0, b0 = rand(5, 3, seed=50), rand(3, seed=51)
    t_trace, t_state = _torch_run(w0, b0, batches, inject, **kw)
    s_trace, s_state, skipped = _sj_run(w0, b0, batches, inject, **kw)
    assert [s for s, _, _ in s_trace] == [s for s, _, _ in t_trace]
    assert skipped == [i in inject for i in range(len(batches))]
    assert len({s for s, _, _ in s_trace}) >= 3  # it both backed off and grew
    for (_, sw, sb), (_, tw, tb) in zip(s_trace, t_trace):
        np.testing.assert_allclose(sw, tw, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sb, tb, rtol=1e-5, atol=1e-6)
    assert s_state == t_state


def test_grad_scaler_growth_stops_at_float32_max():
    scaler = GradScaler(init_scale=2.0 ** 127, growth_interval=1)
    t = torch.amp.GradScaler("cpu", init_scale=2.0 ** 127, growth_interval=1)
    w, tw = sj.tensor([1.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    opt, topt = sj.optim.SGD([w], lr=0.0), torch.optim.SGD([tw], lr=0.0)
    for _ in range(2):
        scaler.scale((w * 1e-30).sum()).backward()
        t.scale((tw * 1e-30).sum()).backward()
        scaler.step(opt), t.step(topt)
        scaler.update(), t.update()
        assert scaler.get_scale() == t.get_scale() == 2.0 ** 127


def test_unscale_then_clip_then_step():
    """unscale_ before step (to clip real gradients) is not undone or repeated by step."""
    w = sj.tensor(rand(3, 2), requires_grad=True)
    opt = sj.optim.SGD([w], lr=1.0)
    scaler = GradScaler(init_scale=1024.0)
    loss = (w * 3).sum()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), 3.0)
    before = w.numpy().copy()
    scaler.step(opt)
    np.testing.assert_allclose(w.numpy(), before - 3.0)
    scaler.update()
    assert scaler.get_scale() == 1024.0


def test_grad_scaler_stage_errors():
    w = sj.tensor([1.0], requires_grad=True)
    opt, scaler = sj.optim.SGD([w], lr=0.1), GradScaler()
    with pytest.raises(RuntimeError, match="no inf checks were recorded"):
        scaler.update()
    scaler.scale(w.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="closure"):
        scaler.step(opt, closure=lambda: None)
    scaler.update()
    scaler.step(opt)  # a new iteration may start again


def test_grad_scaler_validation_and_float16_grads():
    with pytest.raises(ValueError, match="growth_factor.*> 1, got 1.0"):
        GradScaler(growth_factor=1.0)
    with pytest.raises(ValueError, match="backoff_factor"):
        GradScaler(backoff_factor=1.5)
    with pytest.raises(ValueError, match="growth_interval.*positive int"):
        GradScaler(growth_interval=0)
    with pytest.raises(ValueError, match="init_scale"):
        GradScaler(init_scale=float("inf"))
    h = sj.tensor(np.ones(2, np.float16), requires_grad=True)
    scaler = GradScaler(init_scale=2.0)
    scaler.scale(h.sum()).backward()
    with pytest.raises(ValueError, match="float16 gradients.*master weights"):
        scaler.unscale_(sj.optim.SGD([h], lr=0.1))
    with pytest.raises(TypeError, match="Tensor"):
        scaler.scale(1.0)


def test_grad_scaler_disabled_passes_through():
    w = sj.tensor([2.0], requires_grad=True)
    opt, scaler = sj.optim.SGD([w], lr=0.5), GradScaler(enabled=False)
    loss = (w * w).sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.numpy(), [0.0])
    assert scaler.state_dict() == {}
    scaler.load_state_dict({})  # a no-op, as torch's


def test_grad_scaler_state_dict_round_trip_and_new_scale():
    a = GradScaler(init_scale=8.0, growth_interval=5)
    a.load_state_dict({"scale": 32.0, "growth_factor": 4.0, "backoff_factor": 0.25,
                       "growth_interval": 7, "_growth_tracker": 3})
    b = GradScaler()
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == {"scale": 32.0, "growth_factor": 4.0, "backoff_factor": 0.25,
                              "growth_interval": 7, "_growth_tracker": 3}
    b.update(new_scale=2.0)
    assert b.get_scale() == 2.0
    with pytest.raises(RuntimeError, match="empty"):
        b.load_state_dict({})
    scaled = b.scale([sj.tensor([1.0]), sj.tensor(np.float16(3.0))])
    assert [float(t.item()) for t in scaled] == [2.0, 6.0] and scaled[1].dtype == np.float32


def test_grad_scaler_unscales_on_every_device(device):
    w = sj.tensor(rand(4, 3), requires_grad=True, device=device)
    opt, scaler = sj.optim.SGD([w], lr=0.1), GradScaler(init_scale=64.0, growth_interval=1)
    scaler.scale((w * 2).sum()).backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(w.grad.numpy(), 2.0)
    assert scaler.get_scale() == 128.0
    w.grad.data[1, 1] = np.nan
    scaler.step(opt)
    assert scaler.skipped(opt)


def test_loss_scaling_rescues_underflowing_float16_gradients():
    """dL/dy = 1e-9 is 0 in float16 (smallest subnormal 6e-8): without scaling the weight
    gets no gradient; with S = 2¹⁶ it gets the float32 one to float16 precision."""
    x = sj.tensor(rand(4, 5))
    ref = None
    for scale in (None, 2.0 ** 16, "float32"):
        w = sj.tensor(rand(5, 3, seed=1), requires_grad=True)
        with autocast(enabled=scale != "float32"):
            loss = (x @ w).astype("float32").sum() * 1e-9
        if isinstance(scale, float):
            scaler = GradScaler(init_scale=scale)
            scaler.scale(loss).backward()
            scaler.unscale_(sj.optim.SGD([w], lr=0.1))
        else:
            loss.backward()
        if scale is None:
            assert not w.grad.numpy().any()
        elif scale == "float32":
            ref = w.grad.numpy()
        else:
            grad = w.grad.numpy()
    assert rel_err(grad, ref) < 2e-3


# ---------------------------------------------------------------- MixedPrecision + digits

def _train_digits(policy, epochs=6, seed=0):
    """A hand-written loop with MixedPrecision: forward and loss under its autocast,
    scaled backward, unscale/skip/step/update in mp.step.  Returns (test accuracy, mp)."""
    (x, y), (xt, yt) = sj.data.load_digits()
    sj.manual_seed(seed)
    model = sj.nn.Sequential([sj.nn.Dense(64, activation="relu"), sj.nn.Dense(10)])
    model(sj.tensor(x[:2]))
    opt = sj.optim.Adam(model.parameters(), lr=3e-3)
    mp = MixedPrecision(policy, growth_interval=20)
    order, mp.skipped_steps = np.random.default_rng(seed), 0
    for _ in range(epochs):
        idx = order.permutation(len(x))
        for s in range(0, len(x), 64):
            b = idx[s:s + 64]
            with mp.autocast():
                loss = F.cross_entropy(model(sj.tensor(x[b])), y[b])
            opt.zero_grad()
            mp.backward(loss)
            mp.skipped_steps += not mp.step(opt)
    with sj.no_grad():
        acc = float((model(sj.tensor(xt)).numpy().argmax(1) == yt).mean())
    assert all(p.dtype == np.float32 for p in model.parameters())
    return acc, mp


def test_mixed_precision_digits_matches_float32():
    acc32, off = _train_digits(False)
    acc16, mp = _train_digits(True)
    assert acc32 > 0.9
    assert abs(acc16 - acc32) <= 0.015, (acc16, acc32)
    assert not off.enabled and off.loss_scale == 1.0
    # 2¹⁶ overflows float16 at first: the scale backs off, then grows every 20 clean steps
    assert mp.enabled and 0 < mp.skipped_steps < 15 and off.skipped_steps == 0
    state = mp.state_dict()
    assert state["policy"] == "float16" and state["scaler"]["scale"] == mp.loss_scale
    again = MixedPrecision(True)
    again.load_state_dict(state)
    assert again.loss_scale == mp.loss_scale
    with pytest.raises(ValueError, match="saved with mixed_precision='float16'"):
        off.load_state_dict(state)


def test_mixed_precision_step_skips_and_backs_off():
    w = sj.tensor(rand(3, 2), requires_grad=True)
    opt, mp = sj.optim.SGD([w], lr=0.1), MixedPrecision("float16", init_scale=256.0)
    with mp.autocast():
        loss = (sj.tensor(rand(4, 3)) @ w).astype("float32").sum()
    mp.backward(loss)
    w.grad.data[0, 0] = np.inf
    before = w.numpy().copy()
    assert mp.step(opt) is False
    np.testing.assert_array_equal(w.numpy(), before)
    assert mp.loss_scale == 128.0
    w.grad = None
    with mp.autocast():
        loss = (sj.tensor(rand(4, 3)) @ w).astype("float32").sum()
    mp.backward(loss)
    assert mp.step(opt) is True and not np.array_equal(w.numpy(), before)
