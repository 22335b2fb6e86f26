"""Every program in examples/ runs to the end, with small settings (environment variables or
arguments the programs document), and prints what it promises."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run(script, *args, cwd, **env):
    """Run examples/``script`` on one thread from the scratch folder ``cwd``; its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env,
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def accuracy(stdout):
    match = re.search(r"Test Accuracy: ([0-9.]+)", stdout)
    assert match, stdout[-3000:]
    return float(match.group(1))


# script → (arguments, environment, lowest test accuracy at these settings (measured))
ACCURACY_EXAMPLES = {
    "iris_keras_style.py": ((), {"SHENJING_EPOCHS": "10"}, 0.5),
    "iris_manual_loop.py": ((), {"SHENJING_EPOCHS": "20"}, 0.5),
    "stacked_lstm.py": ((), {"SHENJING_EPOCHS": "2"}, 0.8),  # measured 0.934
    "mnist1d_cnn_vs_mlp.py": ((), {"SHENJING_EPOCHS": "3"}, 0.45),  # CNN: 0.606
}


@pytest.mark.parametrize("script", list(ACCURACY_EXAMPLES))
def test_example_runs_and_prints_accuracy(tmp_path, script):
    args, env, lowest = ACCURACY_EXAMPLES[script]
    assert lowest <= accuracy(run(script, *args, cwd=tmp_path, **env)) <= 1.0


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_char_lm_trains_and_generates(tmp_path, kind):
    out = run("char_lm.py", kind, cwd=tmp_path, SHENJING_EPOCHS="1", SHENJING_LIMIT="800")
    loss, entropy = map(float, re.search(r"validation loss ([0-9.]+) nats/char \(unigram "
                                         r"entropy ([0-9.]+)\)", out).groups())
    assert 0 < loss < 2 * entropy and entropy > 3.0
    for prompt in ("The ", "Shall I "):
        sample = out.split(f"--- sample from {prompt!r}")[1].split("\n")[1]
        assert sample.startswith(prompt) and len(sample) > 100
    assert 0.1 <= accuracy(out) <= 1.0


def test_adding_problem_prints_all_cells_and_the_explanation(tmp_path):
    out = run("adding_problem.py", cwd=tmp_path, SHENJING_EPOCHS="1",
              SHENJING_SAMPLES="2000")
    assert "T=100" in out
    for cell in ("LSTM", "GRU", "SimpleRNN"):
        row = re.search(rf"^  {cell} +test MSE ([0-9.]+) .*→ (does not solve it|solves it)$",
                        out, re.M)
        assert row, out
        assert 0 < float(row.group(1)) < 1
    assert "Why the SimpleRNN fails" in out and "(vanishing\ngradients)" in out
    assert "Why LSTM and GRU succeed" in out


def test_digits_gan_saves_samples(tmp_path):
    png = tmp_path / "gan.png"
    out = run("digits_gan.py", "--epochs", "1", "--out", str(png), cwd=tmp_path)
    assert re.search(r"epoch 1/1 +loss D [0-9.]+ +loss G [0-9.]+", out), out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_transfer_learning_quick_run(tmp_path):
    out = run("transfer_learning.py", "--quick", cwd=tmp_path)
    pretrained = float(re.search(r"Pretrained on digits 0-4: accuracy ([0-9.]+)", out).group(1))
    assert pretrained > 0.9  # measured 0.994
    assert accuracy(out) > 0.6  # the first "Test Accuracy": the frozen backbone (0.911)
    assert re.search(r"Transfer learning is (not )?better than training from scratch", out), out


def test_every_example_is_run_by_a_test():
    """Each examples/*.py is named in a test: here, or by the test of its own topic (e.g.
    worked_backprop.py in tests/explain/test_trace.py)."""
    sources = ""
    for folder, _, files in os.walk(os.path.join(ROOT, "tests")):
        sources += "".join(open(os.path.join(folder, f), encoding="utf-8").read()
                           for f in files if f.endswith(".py") and f != "test_examples.py")
    here = {*ACCURACY_EXAMPLES, "char_lm.py", "adding_problem.py", "digits_gan.py",
            "transfer_learning.py"}
    missing = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".py") and f not in here
                     and f.removesuffix(".py") not in sources)
    assert not missing, f"examples that no test runs: {missing}"
