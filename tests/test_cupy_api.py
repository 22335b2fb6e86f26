"""Every ``xp.NAME(...)`` call in the package names a function CuPy has, with keywords CuPy
accepts (runs where CuPy is installed, with or without a GPU; skipped otherwise).  The
simulated device (tests/fake_cupy.py) forwards any name to NumPy, so it cannot catch a NumPy
function or keyword that CuPy lacks: this test does."""
from __future__ import annotations

import ast
import inspect
import pathlib

import pytest

cupy = pytest.importorskip("cupy")

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shenjing"
UFUNC_KEYWORDS = {"out", "casting", "dtype"}  # what a cupy.ufunc call takes


def _xp_calls():
    """(file:line, dotted name, keywords) of every call spelled ``xp.NAME(...)``."""
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            parts, f = [], node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name) and f.id == "xp":
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                calls.append((where, ".".join(reversed(parts)),
                              tuple(k.arg for k in node.keywords if k.arg)))
    return calls


CALLS = _xp_calls()


def test_the_scan_finds_the_array_calls():
    assert {"zeros", "matmul", "asarray"} <= {name for _, name, _ in CALLS}


@pytest.mark.parametrize("where,name,keywords", CALLS, ids=[f"{w}:{n}" for w, n, _ in CALLS])
def test_cupy_has_the_function_and_its_keywords(where, name, keywords):
    obj = cupy
    for part in name.split("."):
        assert hasattr(obj, part), f"{where}: cupy has no {name}"
        obj = getattr(obj, part)
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # a cupy.ufunc
        accepted = UFUNC_KEYWORDS
    else:
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        accepted = set(params)
    missing = [k for k in keywords if k not in accepted]
    assert not missing, f"{where}: cupy.{name} takes no keyword {missing}"
