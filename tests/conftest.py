"""Shared test setup: make ``tests/helpers.py`` importable as ``helpers``; fixtures."""
import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402


@pytest.fixture
def one_blas_thread():
    """Training tests run with one BLAS thread (2 pytest workers share 2 cores), restored
    afterwards.  Use with ``pytestmark = pytest.mark.usefixtures("one_blas_thread")``."""
    import shenjing as sj

    before = sj.get_num_threads()
    sj.set_num_threads(1)
    yield
    sj.set_num_threads(before)


# ---------------------------------------------------------------------- devices
def _real_gpu() -> bool:
    try:
        import cupy  # noqa: F401,PLC0415
    except ImportError:
        return False
    from shenjing import cuda  # noqa: PLC0415

    return cuda.is_available()


@pytest.fixture
def fake_cuda(monkeypatch):
    """Make "cuda" a strict NumPy-backed simulated GPU (tests/fake_cupy.py) for this test:
    every CuPy branch of shenjing runs, and host/device mix-ups raise as in CuPy."""
    import fake_cupy  # noqa: PLC0415

    from shenjing import backend  # noqa: PLC0415

    modules = fake_cupy.make()
    fake_cupy.strict_numpy(monkeypatch)
    monkeypatch.setattr(backend, "_import_cupy", lambda: modules)
    monkeypatch.setattr(backend, "_cupy", modules)
    return modules[0]


@pytest.fixture(params=["cpu", "fake-cuda", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    """The device a test runs on: "cpu", "cuda" on the simulated GPU (always, CI has no
    GPU), and "cuda" on a real GPU (marked ``gpu``; skipped unless CuPy sees a GPU).
    Returns the device name to pass as ``device=``."""
    if request.param == "cuda" and not _real_gpu():
        pytest.skip("needs CuPy and a CUDA GPU")
    if request.param == "fake-cuda":
        request.getfixturevalue("fake_cuda")
        return "cuda"
    return request.param


@pytest.fixture
def op_device(device):
    """Run ``helpers.check_op`` on ``device`` for this test (modules opt in with
    ``pytestmark = pytest.mark.devices``)."""
    import helpers  # noqa: PLC0415

    before, helpers.DEVICE = helpers.DEVICE, device
    yield device
    helpers.DEVICE = before


def _calls_check_op(item) -> bool:
    try:
        return "check_op(" in inspect.getsource(item.function)
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    """In ``devices`` modules only tests that go through check_op run on the GPU devices
    (the others would repeat their CPU run)."""
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        on_gpu = spec is not None and spec.params.get("device") in ("fake-cuda", "cuda")
        if (on_gpu and item.get_closest_marker("devices") is not None
                and "op_device" in item.fixturenames and not _calls_check_op(item)):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
