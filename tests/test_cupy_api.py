"""Every ``xp.NAME`` the package calls exists in CuPy (runs where CuPy is installed, with or
without a GPU; skipped otherwise).  The simulated device (tests/fake_cupy.py) forwards any
name to NumPy, so it cannot catch a NumPy function that CuPy lacks: this test does."""
from __future__ import annotations

import pathlib
import re

import pytest

cupy = pytest.importorskip("cupy")

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "shenjing"
_XP_NAME = re.compile(r"\bxp\.([A-Za-z_][\w.]*)")


def _xp_names():
    names = set()
    for path in PACKAGE.rglob("*.py"):
        names.update(_XP_NAME.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


def test_the_scan_finds_the_array_calls():
    names = _xp_names()
    assert {"zeros", "matmul", "asarray"} <= set(names), names


@pytest.mark.parametrize("name", _xp_names())
def test_cupy_has(name):
    obj = cupy
    for part in name.split("."):
        assert hasattr(obj, part), f"cupy has no {name} (used as xp.{name} in shenjing)"
        obj = getattr(obj, part)
