"""sj.explain.gradcheck: passes correct gradients, catches wrong ones, explains where."""
import numpy as np
import pytest
from helpers import randn

import shenjing as sj
from shenjing.autograd import Function
from shenjing.explain import GradcheckError, GradcheckReport, gradcheck, gradcheck_module


class WrongSquare(Function):
    """x² with a deliberately wrong derivative (x instead of 2x)."""

    def forward(self, x):
        self.saved = x
        return x * x

    def backward(self, g):
        return g * self.saved


def test_passes_on_correct_gradients_with_non_scalar_output():
    report = gradcheck(lambda a, b: sj.exp(a) @ b.T * a.sum(), [randn(2, 3), randn(4, 3, seed=1)])
    assert isinstance(report, GradcheckReport) and report.ok and bool(report)
    assert [e.name for e in report.entries] == ["input[0]", "input[1]"]
    assert [e.shape for e in report.entries] == [(2, 3), (4, 3)]
    assert all(e.ok and e.max_abs_error < 1e-6 for e in report.entries)
    text = str(report)
    assert "passed" in text and "input[1]" in text and "max abs err" in text


def test_catches_a_wrong_backward_and_names_the_element():
    x = np.array([0.5, -2.0, 1.0])
    report = gradcheck(lambda t: WrongSquare.apply(t), [x], raise_exception=False)
    assert not report.ok
    e = report.entries[0]
    err = np.abs(x * np.random.default_rng(0).standard_normal(3))  # |x·R - 2x·R|
    assert not e.ok and e.worst_index == (int(np.argmax(err)),)
    assert e.max_abs_error == pytest.approx(err.max(), rel=1e-5)
    assert e.analytic == pytest.approx(e.numeric / 2, rel=1e-6)
    assert "FAILED" in str(report) and "MISMATCH" in str(report)


def test_raises_gradcheck_error_with_table():
    with pytest.raises(GradcheckError, match=r"(?s)FAILED.*input\[0\].*MISMATCH") as info:
        gradcheck(lambda t: WrongSquare.apply(t) + t, [randn(3)])
    assert isinstance(info.value, RuntimeError) and not isinstance(info.value, AssertionError)


def test_inputs_are_float64_copies():
    x = sj.tensor(randn(3))
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return t.exp()

    before = x.numpy().copy()
    gradcheck(fn, [x])
    assert set(seen) == {np.dtype("float64")}
    np.testing.assert_array_equal(x.numpy(), before)
    assert x.grad is None and x.dtype == np.float32


def test_integer_inputs_pass_through_and_wrt_selects():
    labels = np.array([0, 2, 1])
    report = gradcheck(lambda x, y: sj.softmax_cross_entropy(x, y), [randn(3, 4), labels])
    assert report.ok and [e.name for e in report.entries] == ["input[0]"]
    report = gradcheck(lambda a, b: a * b, [randn(3), randn(3, seed=1)], wrt=[1])
    assert [e.name for e in report.entries] == ["input[1]"]
    with pytest.raises(ValueError, match="input 1 is not floating-point"):
        gradcheck(lambda x, y: sj.softmax_cross_entropy(x, y), [randn(3, 4), labels], wrt=1)


def test_unused_input_and_constant_output():
    report = gradcheck(lambda a, b: a * 2, [randn(2), randn(2, seed=1)])
    assert report.ok and report.entries[1].max_abs_error == 0
    report = gradcheck(lambda a: sj.ones(3), [randn(3)])
    assert report.ok and any("does not require grad" in n for n in report.notes)


def test_float32_output_is_noted():
    report = gradcheck(lambda a: (a * 3).float(), [randn(3)], atol=1e-2, rtol=1e-2)
    assert any("float32" in n for n in report.notes)


def test_default_dtype_is_restored_even_on_failure():
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: WrongSquare.apply(t), [randn(2)])
    assert sj.get_default_dtype() == np.float32
    gradcheck(lambda t: t * sj.tensor(2.0), [randn(2)])  # tensors made inside are float64
    assert sj.get_default_dtype() == np.float32


def test_bad_arguments():
    with pytest.raises(TypeError, match="callable"):
        gradcheck(3, [randn(2)])
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda a: a.numpy(), [randn(2)])


class TinyModule:
    """Duck-typed module: parameters, named_parameters, __call__ (lazily built)."""

    def __init__(self):
        self.w = None

    def named_parameters(self):
        return [("w", self.w), ("b", self.b), ("w_again", self.w)]

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def __call__(self, x):
        if self.w is None:  # build on the first call, in the default dtype
            self.w = sj.Parameter(randn(x.shape[-1], 2, seed=3))
            self.b = sj.Parameter(randn(2, seed=4))
        return sj.tanh(x @ self.w + self.b)


def test_module_parameters_are_checked_and_restored():
    m = TinyModule()
    report = gradcheck(m, [randn(4, 3)])
    assert report.ok and [e.name for e in report.entries] == ["input[0]", "w", "b"]
    assert m.w.dtype == np.float32 and m.w.grad is None and m.b.grad is None


def test_gradcheck_module_with_loss():
    m = TinyModule()
    y = np.array([0, 1, 1, 0])
    report = gradcheck_module(m, randn(4, 3), y,
                              lambda out, t: sj.softmax_cross_entropy(out, t).mean())
    assert report.ok and [e.name for e in report.entries] == ["input[0]", "w", "b"]
    report = gradcheck_module(m, randn(4, 3), randn(4, 2, seed=9),
                              lambda out, t: ((out - t) ** 2).mean())
    assert report.ok


def test_real_layers_if_available():
    if not hasattr(sj.nn, "Dense") or not hasattr(sj.nn, "Sequential"):
        pytest.skip("sj.nn.Dense not available yet")
    model = sj.nn.Sequential([sj.nn.Dense(3, activation="tanh"), sj.nn.Dense(2)])
    report = gradcheck(model, [randn(4, 5)])
    assert report.ok and len(report.entries) == 5
    assert all(p.dtype == np.float32 for p in model.parameters())
