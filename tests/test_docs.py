"""Every Python block in docs/ runs, so the documentation cannot rot.

The blocks of one page run in order in one namespace (like a notebook), in a temporary working
directory, with one BLAS thread.  A block fenced as ```python no-run (or ```{.python .no-run})
is shown but not run; ```text and ```bash blocks are never run.  docs/distributed.md has its
own test (tests/distributed/test_docs.py, which also runs it under mpirun).

A block that calls a ``sj.explain`` function the package does not have yet is not run: the
page is reported as xfail naming the missing functions (never silently skipped), after every
other block of the page has run.  The last test builds the site with ``mkdocs build --strict``
(skipped where mkdocs or mkdocstrings is not installed).
"""
from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
import time

import pytest

import shenjing as sj

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OWN_TEST = {"distributed.md"}  # tested by tests/distributed/test_docs.py
TUTORIAL = ["index.md", "01-neuron.md", "02-forward.md", "03-loss.md", "04-backprop.md",
            "05-optimizers.md", "06-cnn.md", "07-rnn-lstm.md", "08-residual.md",
            "09-attention.md", "10-regularization-evaluation.md"]
PAGE_SECONDS = 60  # a page should take a few seconds; this only catches a runaway

FENCE = re.compile(r"^```[ ]*(\{[^}\n]*\}|[^\s`]*)([^\n]*)\n(.*?)^```[ ]*$", re.M | re.S)
EXPLAIN = re.compile(r"\bsj\.explain\.([A-Za-z_]\w*)")


def pages():
    """The pages with Python blocks to run (API reference pages have none)."""
    names = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    return [n for n in names if n not in OWN_TEST
            and python_blocks((DOCS / n).read_text(encoding="utf-8"))]


def python_blocks(text):
    """(line number, source) of the blocks to run."""
    blocks = []
    for m in FENCE.finditer(text):
        info = (m.group(1) + " " + m.group(2)).strip()
        words = info.strip("{}").replace(".", " ").split()
        if words[:1] == ["python"] and "no-run" not in words:
            blocks.append((text.count("\n", 0, m.start(3)) + 1, m.group(3)))
    return blocks


def missing_explain(source):
    return sorted({n for n in EXPLAIN.findall(source) if not hasattr(sj.explain, n)})


def test_fence_parser():
    text = ("```python\na = 1\n```\n```python no-run\nb = 2\n```\n```{.python .no-run}\n"
            "c = 3\n```\n```text\nd\n```\n```bash\ne\n```\n```python\nf = 4\n```\n")
    assert [src for _, src in python_blocks(text)] == ["a = 1\n", "f = 4\n"]
    assert python_blocks(text)[1][0] == 17


def test_tutorial_pages_exist_and_have_code():
    for name in TUTORIAL + ["index.zh.md"]:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
    for name in TUTORIAL[1:]:
        assert python_blocks((DOCS / name).read_text(encoding="utf-8")), \
            f"docs/{name} has no runnable ```python block"


@pytest.mark.parametrize("page", pages())
def test_page_code_runs(page, tmp_path, monkeypatch):
    path = DOCS / page
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = sj.get_num_threads()
    sj.set_num_threads(1)
    namespace = {"__name__": "__docs__"}
    not_run, failed_after_skip = [], None
    start = time.perf_counter()
    try:
        for line, source in blocks:
            missing = missing_explain(source)
            if missing:
                not_run.append(f"line {line}: sj.explain.{', sj.explain.'.join(missing)}")
                continue
            code = compile("\n" * (line - 1) + source, str(path), "exec")
            try:
                exec(code, namespace)  # noqa: S102
            except Exception as exc:
                if not not_run:
                    raise
                failed_after_skip = f"line {line} then failed: {type(exc).__name__}: {exc}"
                break
    finally:
        sj.set_num_threads(threads)
    seconds = time.perf_counter() - start
    if not_run:
        reason = f"docs/{page}: blocks need explain functions not in sj.explain yet: " \
                 + "; ".join(not_run) + (f" ({failed_after_skip})" if failed_after_skip else "")
        pytest.xfail(reason)
    assert seconds < PAGE_SECONDS, f"docs/{page} took {seconds:.1f} s; keep pages to seconds"


def test_mkdocs_nav_lists_every_page():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)

    listed = list(walk(config["nav"]))
    everything = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(listed) == everything
    assert [p for p in listed if p in TUTORIAL] == TUTORIAL  # tutorial order


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings_handlers") is None,
                    reason="mkdocs / mkdocstrings-python not installed (pip install -e .[docs])")
def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                             "-d", str(site)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").is_file()
    assert (site / "index.zh" / "index.html").is_file()
    nn_page = (site / "api" / "nn" / "index.html").read_text(encoding="utf-8")
    assert "Dense" in nn_page and "Fully connected" in nn_page  # rendered from docstrings
