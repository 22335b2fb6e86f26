"""The example programs run to the end and print a test accuracy."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("script, epochs", [("iris_keras_style.py", "10"),
                                            ("iris_manual_loop.py", "20")])
def test_example_runs_and_prints_accuracy(tmp_path, script, epochs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SHENJING_EPOCHS": epochs,
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r"Test Accuracy: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout
    accuracy = float(match.group(1))
    assert 0.5 <= accuracy <= 1.0
