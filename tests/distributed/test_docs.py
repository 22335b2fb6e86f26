"""The Python blocks of docs/distributed.md run: in this process (a world of one), and the
quick start on two ranks, where both must print the same losses."""
import ast
import os
import re

import pytest

import shenjing.distributed  # noqa: F401  (binds sj.distributed for the blocks)

from ._common import ROOT, mpirun, mpirun_missing

DOC = os.path.join(ROOT, "docs", "distributed.md")
# print() may write a line in pieces (unbuffered stdout), which mpirun can interleave
ONE_WRITE_PRINT = """import builtins, sys
builtins.print = lambda *a, **k: (sys.stdout.write(" ".join(map(str, a)) + "\\n"),
                                  sys.stdout.flush())
"""


def python_blocks():
    with open(DOC, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_the_doc_has_python_blocks():
    assert len(python_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_doc_block_runs_in_a_world_of_one(index, capsys):
    exec(compile(python_blocks()[index], f"{DOC}:block{index}", "exec"), {})


@pytest.mark.skipif(mpirun_missing() is not None, reason=f"needs MPI: {mpirun_missing()}")
def test_quick_start_prints_the_same_losses_on_both_ranks(tmp_path):
    script = tmp_path / "quick.py"
    script.write_text(ONE_WRITE_PRINT + "import shenjing.distributed\n" + python_blocks()[0])
    proc = mpirun(None, None, argv=[str(script)], timeout=300, options=["--tag-output"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = sorted(ln.split(":", 1)[1] for ln in proc.stdout.splitlines()  # "[1,0]<stdout>:0 ["
                   if "<stdout>:" in ln)
    assert len(lines) == 2, proc.stdout
    (r0, loss0), (r1, loss1) = (ln.split(" ", 1) for ln in lines)
    assert (r0, r1) == ("0", "1") and ast.literal_eval(loss0) == ast.literal_eval(loss1)
