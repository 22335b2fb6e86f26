"""Test helpers: run an op in shenjing and in PyTorch on identical inputs and compare.

    check_op(sj.exp, torch.exp, randn(3, 4))       # values, shapes, dtypes, gradients
    check_fd(sj.exp, randn(3, 4))                  # float64 finite differences
"""
from __future__ import annotations

import numpy as np
import torch

import shenjing as sj

# The device check_op runs shenjing on: set by the ``op_device`` fixture (tests/conftest.py)
# for modules that opt in with ``pytestmark = pytest.mark.devices``; an explicit
# ``device=`` argument wins.
DEVICE = "cpu"

TOL = {np.dtype("float32"): dict(rtol=1e-4, atol=1e-5),
       np.dtype("float64"): dict(rtol=1e-7, atol=1e-10)}


def randn(*shape, dtype="float32", seed=0, low=None):
    """Reproducible normal samples (``low``: shift to |x| + low, e.g. positive for log)."""
    a = np.random.default_rng(seed).standard_normal(shape)
    if low is not None:
        a = np.abs(a) + low
    return a.astype(dtype)


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np_dtype(t):
    return np.dtype(str(t.dtype).removeprefix("torch."))


def host(a):
    """A Tensor's or raw (NumPy/CuPy) array's values as a NumPy array."""
    return a.numpy() if isinstance(a, sj.Tensor) else sj.backend.to_numpy(a)


def on_device(a, device=None):
    """A raw array on ``device`` (default ``DEVICE``): for arrays an op takes as an option
    (running statistics, attention biases), which must live where the inputs do."""
    return sj.backend.to_device(np.asarray(a), sj.device(device or DEVICE))


def assert_close(actual, expected, dtype=None, atol=None, rtol=None, what="value"):
    actual = host(actual) if hasattr(actual, "shape") else np.asarray(actual)
    tol = dict(TOL.get(np.dtype(dtype or actual.dtype), TOL[np.dtype("float32")]))
    tol.update({k: v for k, v in dict(atol=atol, rtol=rtol).items() if v is not None})
    expected = host(expected) if isinstance(expected, sj.Tensor) else np.asarray(expected)
    np.testing.assert_allclose(actual, expected, err_msg=what, **tol)


def check_op(sj_fn, torch_fn, *arrays, grad=True, atol=None, rtol=None, seed=1, device=None):
    """Feed identical ``arrays`` to ``sj_fn`` (as Tensors on ``device``, default ``DEVICE``)
    and ``torch_fn`` (as torch tensors), compare outputs (values, shapes, dtypes, and that
    they are on ``device``), backpropagate the same random upstream gradient through both and
    compare every input gradient (on the host).  Float inputs require grad when ``grad``.
    Returns the shenjing output(s)."""
    device = sj.device(device or DEVICE)
    sj_in, t_in = [], []
    for a in arrays:
        a = np.asarray(a)
        g = grad and a.dtype.kind == "f"
        sj_in.append(sj.tensor(a, requires_grad=g, device=device))
        t_in.append(torch.tensor(a, requires_grad=g))
    sj_out, t_out = _outputs(sj_fn(*sj_in)), _outputs(torch_fn(*t_in))
    assert len(sj_out) == len(t_out), f"{len(sj_out)} outputs, torch gives {len(t_out)}"
    for i, (s, t) in enumerate(zip(sj_out, t_out)):
        assert isinstance(s, sj.Tensor), f"output {i} is a {type(s).__name__}, not a Tensor"
        assert s.device == device, f"output {i} is on {s.device}, expected {device}"
        assert s.shape == tuple(t.shape), f"output {i}: shape {s.shape} vs torch {t.shape}"
        assert s.dtype == _np_dtype(t), f"output {i}: dtype {s.dtype} vs torch {t.dtype}"
        assert_close(s.numpy(), t.detach().numpy(), s.dtype, atol, rtol, f"output {i}")
    if not grad or not any(t.requires_grad for t in t_out):
        return sj_out if len(sj_out) > 1 else sj_out[0]
    rng = np.random.default_rng(seed)
    ups = [rng.standard_normal(s.shape).astype(s.dtype) for s in sj_out]
    if len(sj_out) == 1:
        sj_out[0].backward(sj.tensor(ups[0], device=device))
    else:
        sum(((s * sj.tensor(u, device=device)).sum() for s, u in zip(sj_out, ups)),
            start=sj.tensor(0.0, device=device)).backward()
    torch.autograd.backward([t for t in t_out if t.requires_grad],
                            [torch.tensor(u) for u, t in zip(ups, t_out) if t.requires_grad])
    for i, (s, t) in enumerate(zip(sj_in, t_in)):
        if not t.requires_grad or (t.grad is None and s.grad is None):  # input unused
            continue
        expected = np.zeros(t.shape, t.detach().numpy().dtype) if t.grad is None else t.grad
        assert s.grad is not None, f"input {i} got no gradient"
        assert s.grad.shape == s.shape, f"input {i}: grad shape {s.grad.shape} != {s.shape}"
        assert s.grad.dtype == s.dtype, f"input {i}: grad dtype {s.grad.dtype} != {s.dtype}"
        assert s.grad.device == device, f"input {i}: grad on {s.grad.device}, not {device}"
        assert_close(s.grad.numpy(), np.asarray(expected), s.dtype, atol, rtol, f"grad {i}")
    return sj_out if len(sj_out) > 1 else sj_out[0]


def check_fd(sj_fn, *arrays, **kwargs):
    """Float64 finite-difference check of ``sj_fn`` (see ``sj.explain.gradcheck``), on the
    host: the math does not depend on the device, which check_op covers."""
    arrays = [np.asarray(a, np.float64) if np.asarray(a).dtype.kind == "f" else a
              for a in arrays]
    report = sj.explain.gradcheck(sj_fn, arrays, **kwargs)
    assert report.ok, str(report)
    return report
