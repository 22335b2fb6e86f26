"""The `shenjing` command, run as `python -m shenjing` in a subprocess."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shenjing(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "shenjing", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_recipes_lists_names_and_descriptions(tmp_path):
    proc = shenjing("recipes", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert "iris-mlp" in names and "digits-mlp" in names
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # every name described


def test_train_prints_one_json_line_and_saves_the_model(tmp_path):
    proc = shenjing("train", "iris-mlp", "--epochs", "2", "--seed", "3", "--out", "tmp",
                    "--verbose", "2", "--threads", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[-1])
    assert {"recipe", "epochs", "seed", "seconds", "test_accuracy", "test_loss", "model",
            "history"} <= set(result)
    assert (result["recipe"], result["epochs"], result["seed"]) == ("iris-mlp", 2, 3)
    assert 0 <= result["test_accuracy"] <= 1 and result["test_loss"] > 0
    assert (tmp_path / result["model"]).stat().st_size > 0
    assert (tmp_path / "tmp" / "history.json").exists()
    run = json.loads((tmp_path / "tmp" / "run.json").read_text())
    assert run["recipe"] == "iris-mlp" and run["input_shape"] == [4]
    assert "Epoch 2/2" in proc.stderr and "test accuracy" in proc.stderr


def test_unknown_recipe_exits_2_and_lists_valid_ones(tmp_path):
    proc = shenjing("train", "no-such-recipe", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown recipe 'no-such-recipe'" in proc.stderr
    assert "iris-mlp" in proc.stderr and "digits-mlp" in proc.stderr


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--lr", "abc"], ["--verbose", "5"]])
def test_bad_options_exit_2(tmp_path, args):
    proc = shenjing("train", "iris-mlp", *args, cwd=tmp_path)
    assert proc.returncode == 2 and "error" in proc.stderr


def test_main_in_process(tmp_path, capsys, monkeypatch):
    from shenjing import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "iris-mlp", "--epochs", "1", "--verbose", "0"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["model"] == os.path.join("runs", "iris-mlp", "model.safetensors")
    assert (tmp_path / "runs" / "iris-mlp" / "model.safetensors").exists()
    assert cli.main([]) == 2
