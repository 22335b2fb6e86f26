"""GradientReducer's bookkeeping, in one process: a fake world of two whose other rank sends
back the same gradients (so the average is the local gradient) or a fixed partner buffer."""
import numpy as np
import pytest

import shenjing as sj
from shenjing.distributed import GradientReducer
from shenjing.distributed import reducer as reducer_mod
from shenjing.distributed.world import World

from ._common import digits, loss_fn, mlp


class Echo:
    """A transport whose partner has the same buffer: sum = 2 × local; counts its calls."""

    def __init__(self):
        self.started = 0

    def start(self, buffer):
        self.started += 1
        buffer *= 2
        return object()

    def test(self, handles):
        return True

    def wait(self, handles, what):
        pass

    def finish(self, handle):
        pass


def fake_world():
    """A world that says it has 2 ranks; broadcasts return this rank's value."""
    world = World(None)
    world.size = 2
    world.broadcast_object = lambda obj, root=0: obj
    return world


@pytest.fixture
def echo(monkeypatch):
    transport = Echo()
    monkeypatch.setattr(reducer_mod, "pick_transport", lambda world, buf, nccl=None: transport)
    return fake_world(), transport


def local_grads(model, x, y):
    model.zero_grad()
    loss_fn(model, x, y).backward()
    return {n: p.grad.numpy().copy() for n, p in model.named_parameters()}


def test_buckets_follow_reverse_order_and_the_size_cap(echo):
    world, _ = echo
    params = list(mlp(0).parameters())  # 64x32, 32, 32x10, 10 floats
    r = GradientReducer(params, world, bucket_cap_mb=1500 / 2 ** 20)
    got = [[p.shape for p in b.params] for b in r.buckets]
    assert got == [[(10,), (32, 10), (32,)], [(64, 32)]]
    assert r.buckets[0].buffer.size == 10 + 320 + 32 + 3  # gradients, then one flag each
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        GradientReducer(params, world, bucket_cap_mb=0)


def test_the_reduction_completes_inside_backward(echo):
    world, transport = echo
    x, y = digits()
    model = mlp(0)
    expected = local_grads(model, x[:32], y[:32])
    r = GradientReducer(list(model.parameters()), world, bucket_cap_mb=1e-3)
    got = local_grads(model, x[:32], y[:32])
    assert not r.pending and transport.started == len(r.buckets) == 4
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-6)
    r.finish()  # already complete: nothing is sent again
    assert transport.started == 4
    r.close()
    model.zero_grad()
    loss_fn(model, x[:32], y[:32]).backward()
    assert transport.started == 4  # hooks removed


def test_accumulating_two_backwards_averages_the_sum(echo):
    world, _ = echo
    x, y = digits()
    model = mlp(0)
    a, b = local_grads(model, x[:16], y[:16]), local_grads(model, x[16:32], y[16:32])
    GradientReducer(list(model.parameters()), world)
    model.zero_grad()
    loss_fn(model, x[:16], y[:16]).backward()
    loss_fn(model, x[16:32], y[16:32]).backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), a[n] + b[n], rtol=1e-5, atol=1e-7)


def test_a_parameter_without_gradient_keeps_none_and_finish_completes(echo):
    world, transport = echo
    x, y = digits()
    model = mlp(0)
    extra = sj.nn.Parameter(np.ones(3, np.float32))
    r = GradientReducer([extra, *model.parameters()], world)
    model.zero_grad()
    loss_fn(model, x[:8], y[:8]).backward()
    assert r.pending and transport.started == 0  # extra's bucket still waits
    r.finish()
    assert not r.pending and extra.grad is None and transport.started == 1
    assert all(p.grad is not None for p in model.parameters())


def test_gradients_made_before_the_hooks_are_read_at_finish(echo):
    world, transport = echo
    x, y = digits()
    model = mlp(0)
    expected = local_grads(model, x[:8], y[:8])
    r = GradientReducer(list(model.parameters()), world)
    r.finish()
    assert transport.started == 1
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), expected[n], rtol=1e-6)


def test_a_partner_without_the_gradient_halves_it(monkeypatch):
    class Partner(Echo):  # the other rank has no gradient at all: adds zeros, flags 0
        def start(self, buffer):
            return object()

    monkeypatch.setattr(reducer_mod, "pick_transport", lambda world, buf, nccl=None: Partner())
    world = fake_world()
    p = sj.nn.Parameter(np.ones(4, np.float32))
    GradientReducer([p], world)
    (p * 3.0).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full(4, 1.5, np.float32))


def test_buckets_start_while_backward_is_still_running(monkeypatch):
    """Overlap: from the second step on, buckets follow the order gradients arrive in, so
    each is sent as soon as its gradient is ready, before backward ends.  (In the first,
    the reverse definition order holds every bucket back: the first layer's gradient comes
    first in this engine.)"""
    fired, starts = [0], []

    class Spy(Echo):
        def start(self, buffer):
            starts.append(fired[0])  # how many gradients had arrived before this send
            return super().start(buffer)

    monkeypatch.setattr(reducer_mod, "pick_transport", lambda world, buf, nccl=None: Spy())
    x, y = digits()
    model = mlp(0)
    r = GradientReducer(list(model.parameters()), fake_world(), bucket_cap_mb=1e-3)
    for p in model.parameters():  # after the reducer's hooks: counts finished gradients
        p.register_hook(lambda g: fired.__setitem__(0, fired[0] + 1))
    for step in range(2):
        fired[0], starts[:] = 0, []
        model.zero_grad()
        loss_fn(model, x[:8], y[:8]).backward()
        assert fired[0] == 4
        assert starts == ([3, 3, 3, 3] if step == 0 else [0, 1, 2, 3]), (step, starts)
    assert r.ordered
