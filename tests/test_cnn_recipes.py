"""The convolutional recipes from the command line: listed, and the CIFAR-10 ResNet-20 recipe
runs offline on a tiny synthetic stand-in (``--synthetic --limit``)."""
import json
import os
import subprocess
import sys

import pytest

from shenjing import recipes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW = ("digits-cnn", "mnist1d-cnn", "mnist1d-mlp", "cifar10-resnet20")


def shenjing(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "shenjing", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_recipes_lists_the_cnn_recipes(tmp_path):
    proc = shenjing("recipes", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    described = dict(line.split(maxsplit=1) for line in proc.stdout.strip().splitlines())
    for name in NEW:
        assert name in described and described[name].strip()


def test_cifar10_resnet20_synthetic_one_epoch_prints_the_json_line(tmp_path):
    proc = shenjing("train", "cifar10-resnet20", "--synthetic", "--limit", "64",
                    "--batch-size", "32", "--epochs", "1", "--verbose", "0", "--out", "rn",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"recipe", "epochs", "seed", "seconds", "test_accuracy", "test_loss", "model",
            "history"} <= set(result)
    assert (result["recipe"], result["epochs"]) == ("cifar10-resnet20", 1)
    assert 0 <= result["test_accuracy"] <= 1 and result["test_loss"] > 0
    assert (tmp_path / "rn" / "model.safetensors").exists()
    assert json.loads((tmp_path / "rn" / "run.json").read_text())["input_shape"] == [3, 32, 32]


def test_an_option_a_recipe_does_not_take_is_refused(tmp_path):
    proc = shenjing("train", "iris-mlp", "--synthetic", "--epochs", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert "does not take synthetic" in proc.stderr and proc.stdout == ""


def test_step_decay_divides_the_lr_at_half_and_three_quarters():
    from shenjing.recipes.cnn import StepDecay

    class Opt:
        lr = None

    class Model:
        optimizer = Opt()

    decay = StepDecay(0.1, epochs=8)
    decay.set_model(Model())
    lrs = []
    for epoch in range(8):
        decay.on_epoch_begin(epoch)
        lrs.append(Model.optimizer.lr)
    assert lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)


def test_cifar10_loaders_augment_and_normalise():
    loader, (x_test, y_test) = recipes.cnn.cifar10_loaders(16, synthetic=True, limit=40)
    xb, yb = next(iter(loader))
    assert xb.shape == (16, 3, 32, 32) and str(xb.dtype) == "float32"
    assert x_test.shape == (40, 3, 32, 32) and x_test.dtype.name == "float32"
    assert abs(float(x_test.mean())) < 1.5 and len(y_test) == 40
