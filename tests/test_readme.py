"""The README's Python blocks run, in order, in one namespace: the front page cannot rot."""
import pathlib
import re

import shenjing as sj

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the blocks write files (model.save)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    sj.set_num_threads(1)
    namespace = {}
    for block in blocks:
        block = block.replace("epochs=100", "epochs=5").replace("range(100)", "range(5)")
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert "tensor([2., 4., 6.])" in capsys.readouterr().out
    assert 0.0 <= namespace["accuracy"] <= 1.0
    assert namespace["loss"].item() < 1.2  # the manual loop's cross-entropy went down from ~1.1
