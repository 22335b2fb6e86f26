"""Layers copy their constant arrays to the device once, not on every forward
(shenjing/nn/_constant_cache.py): the same outputs as before, one host -> device copy per
(size, dtype, device), nothing in ``state_dict``, and ``Module.to`` starts afresh."""
import copy

import numpy as np
import pytest
import torch
from helpers import assert_close, host, randn

import shenjing as sj
from shenjing import nn
from shenjing.nn import _constant_cache
from shenjing.nn.positional import sinusoidal_table


@pytest.fixture
def host_copies(fake_cuda, monkeypatch):
    """Shapes of the host arrays copied to the simulated GPU, in order."""
    shapes = []
    real = fake_cuda.asarray

    def counting(a, *args, **kwargs):
        if type(a) is np.ndarray:
            shapes.append(a.shape)
        return real(a, *args, **kwargs)

    monkeypatch.setattr(fake_cuda, "asarray", counting)
    return shapes


def _expected_encoding(x, start, max_len=10, d_model=5):
    table = sinusoidal_table(max_len, d_model)  # float32, the layer's dtype
    return x + table[start:start + x.shape[1]].astype(x.dtype)


def test_sinusoidal_table_is_copied_once_per_device_and_dtype(fake_cuda, host_copies):
    pe = nn.SinusoidalPositionalEncoding(10, 5).to("cuda")
    x = randn(3, 6, 5)
    xt, xt64 = sj.tensor(x, device="cuda"), sj.tensor(x.astype(np.float64), device="cuda")
    host_copies.clear()
    for start in (0, 4, 2):
        y = pe(xt, start_index=start)
        assert y.device == "cuda" and y.dtype == np.float32
        assert_close(host(y), _expected_encoding(x, start), atol=1e-6, what="output")
    assert host_copies == [(10, 5)]  # the whole table, once (before: a window per call)
    y64 = pe(xt64, start_index=1)
    assert y64.dtype == np.float64 and host_copies == [(10, 5), (10, 5)]
    want = _expected_encoding(x.astype(np.float64), 1)
    assert_close(host(y64), want, atol=1e-12, what="float64 output")
    pe(xt)
    assert host_copies == [(10, 5), (10, 5)]


def test_constants_are_not_state_and_follow_module_to(fake_cuda, host_copies):
    pe = nn.SinusoidalPositionalEncoding(10, 5)
    x = randn(2, 4, 5)
    pe(sj.tensor(x))  # a host copy in the cache
    assert pe.state_dict() == {} and list(pe.named_buffers()) == []
    xt = sj.tensor(x, device="cuda")
    host_copies.clear()
    pe.to("cuda")
    y = pe(xt)
    assert y.device == "cuda" and host_copies == [(10, 5)]
    assert_close(host(y), _expected_encoding(x, 0), atol=1e-6, what="output after to()")
    pe.to("cpu")
    y = pe(sj.tensor(x))
    assert y.device == "cpu" and type(y.data) is np.ndarray
    assert all(d == "cpu" for *_, d in pe._constants)  # the GPU copy was dropped
    twin = copy.deepcopy(pe)
    assert_close(twin(sj.tensor(x)).numpy(), y.numpy(), atol=0, what="deep copy")
    assert pe.get_config() == {**nn.Module.get_config(pe), "max_len": 10, "d_model": 5}


def test_sinusoidal_table_is_saved_with_no_cache(tmp_path):
    model = nn.Sequential([nn.SinusoidalPositionalEncoding(10, 5), nn.Dense(3)])
    x = sj.tensor(randn(2, 4, 5))
    y = model(x).numpy()
    sj.io.save_model(model, tmp_path / "m")
    assert_close(sj.load_model(tmp_path / "m")(x).numpy(), y, atol=1e-6, what="reloaded")


def _torch_bilinear(x, size):
    t = torch.nn.Upsample(scale_factor=size, mode="bilinear", align_corners=False)
    return t(torch.tensor(x)).numpy()


def test_bilinear_matrices_are_copied_once_per_size(fake_cuda, host_copies):
    up = nn.UpSampling2D((2, 3), interpolation="bilinear").to("cuda")
    x = randn(2, 3, 4, 5)
    xt = sj.tensor(x, device="cuda", requires_grad=True)
    host_copies.clear()
    for _ in range(3):
        y = up(xt)
        assert y.device == "cuda"
        assert_close(host(y), _torch_bilinear(x, (2, 3)), atol=1e-5, what="output")
    assert host_copies.count((8, 4)) == 1 and host_copies.count((15, 5)) == 1
    y.sum().backward()
    assert xt.grad.device == "cuda"
    x2 = randn(1, 3, 6, 5)
    y2 = up(sj.tensor(x2, device="cuda"))
    assert_close(host(y2), _torch_bilinear(x2, (2, 3)), atol=1e-5, what="new height")
    assert host_copies.count((12, 6)) == 1 and host_copies.count((15, 5)) == 1
    assert up.state_dict() == {}


def test_bilinear_gradient_matches_torch_on_the_cpu():
    x = randn(2, 2, 3, 4)
    xt = sj.tensor(x, requires_grad=True)
    up = nn.UpSampling2D(2, interpolation="bilinear")
    for _ in range(2):  # the second call reads the cache
        xt.grad = None
        (up(xt) ** 2).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    (torch.nn.functional.interpolate(tx, scale_factor=2, mode="bilinear") ** 2).sum().backward()
    assert_close(xt.grad.numpy(), tx.grad.numpy(), atol=1e-5, what="input gradient")


def test_cache_keeps_a_bounded_number_of_sizes():
    up = nn.UpSampling2D(2, interpolation="bilinear")
    for h in range(1, 2 * _constant_cache.MAX_ENTRIES):
        assert up(sj.randn(1, 1, h, 3)).shape == (1, 1, 2 * h, 6)
    assert len(up._constants) <= _constant_cache.MAX_ENTRIES


def test_pooling_ops_copy_their_constants_once_and_scalars_are_not_copied(fake_cuda,
                                                                          monkeypatch):
    """avg_pool2d with padding (count_include_pad=False) and adaptive pooling keep their
    divisor / averaging matrices on the device (backend.device_constant); a Python scalar
    operand is filled on the device, not copied from the host (a copy waits for the GPU)."""
    from shenjing import backend

    monkeypatch.setattr(backend, "_CONSTANTS", {})
    x = sj.tensor(randn(2, 3, 9, 7), device="cuda", requires_grad=True)
    copies, real = [], fake_cuda.asarray

    def counting(a, *args, **kwargs):
        if not isinstance(a, fake_cuda.ndarray):
            copies.append(np.shape(a))
        return real(a, *args, **kwargs)

    monkeypatch.setattr(fake_cuda, "asarray", counting)
    for _ in range(3):
        a = sj.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)
        b = sj.adaptive_avg_pool2d(x, (4, 3))
        c = x * 0.5 + 1.0
        (a.sum() + b.sum() + c.sum()).backward()
    assert sorted(copies) == [(3, 7), (4, 9), (5, 4)], copies  # each constant once, no scalar
    want = torch.nn.functional.avg_pool2d(torch.tensor(host(x)), 3, 2, padding=1,
                                          count_include_pad=False)
    assert_close(host(a), want.numpy(), what="avg_pool2d")
    want = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(host(x)), (4, 3))
    assert_close(host(b), want.numpy(), what="adaptive_avg_pool2d")
    assert_close(host(c), host(x) * 0.5 + 1.0, what="scalar operands")
