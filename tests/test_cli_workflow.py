"""The command line end to end in subprocesses: train → files → evaluate / predict / summary /
export, YAML configs, --option, --resume, and errors that name what to fix."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shenjing(*args, cwd, timeout=180):
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "shenjing", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc


def last_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits-mlp trained for 2 epochs into run/ (shared by the tests below)."""
    cwd = tmp_path_factory.mktemp("cli")
    result = last_json(shenjing("train", "digits-mlp", "--epochs", "2", "--seed", "1",
                                "--out", "run", "--verbose", "0", cwd=cwd))
    return cwd, result


def test_evaluate_prints_the_accuracy_reached_in_training(trained):
    cwd, result = trained
    evaluated = last_json(shenjing("evaluate", "run/model.safetensors", cwd=cwd))
    assert evaluated["samples"] == 360
    assert evaluated["accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-12)
    assert evaluated["loss"] == pytest.approx(result["test_loss"], rel=1e-6)
    by_name = last_json(shenjing("evaluate", "run/model.safetensors", "--data", "digits-mlp",
                                 cwd=cwd))
    assert by_name["accuracy"] == evaluated["accuracy"]


def test_predict_from_npy_and_csv(trained):
    import shenjing as sj

    cwd, _ = trained
    (_, _), (x_test, y_test) = sj.data.load_digits()
    np.save(cwd / "x.npy", x_test[:20])
    np.savetxt(cwd / "x.csv", x_test[:5], delimiter=",")
    out = last_json(shenjing("predict", "run/model.safetensors", "x.npy", cwd=cwd))
    assert out["samples"] == 20 and len(out["classes"]) == 20
    model = sj.load_model(str(cwd / "run" / "model.safetensors"))
    np.testing.assert_array_equal(out["classes"], model.predict(x_test[:20]).argmax(1))
    out_csv = last_json(shenjing("predict", "run/model.safetensors", "x.csv", "--output",
                                 "p.npy", cwd=cwd))
    assert out_csv["classes"] == out["classes"][:5]
    assert np.load(cwd / "p.npy").shape == (5, 10)


def test_summary_and_export(trained):
    cwd, _ = trained
    proc = shenjing("summary", "run/model.safetensors", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "Dense" in proc.stdout
    assert "50,826" in proc.stdout or "50826" in proc.stdout  # 64·256+256 + 256·128+128 + 1290
    pytest.importorskip("onnxruntime")
    out = last_json(shenjing("export", "run/model.safetensors", "--onnx", "m.onnx", cwd=cwd))
    assert out["input_shape"] == [64] and (cwd / "m.onnx").stat().st_size > 0


def test_yaml_config_run_and_its_evaluation(tmp_path):
    pytest.importorskip("yaml")
    (tmp_path / "run.yaml").write_text(
        "seed: 2\nepochs: 3\nbatch_size: 64\n"
        "data: {name: digits, reshape: [1, 8, 8]}\n"
        "model:\n  layers:\n"
        "    - Conv2D: {filters: 8, kernel_size: 3, padding: same, activation: relu}\n"
        "    - Flatten: {}\n    - Dense: {units: 10}\n"
        "optimizer: {name: adam, lr: 0.003}\n"
        "loss: {name: SparseCategoricalCrossentropy, from_logits: true}\n"
        "metrics: [accuracy]\nvalidation_split: 0.1\n"
        "callbacks:\n  - EarlyStopping: {monitor: val_loss, patience: 5}\n")
    result = last_json(shenjing("train", "run.yaml", "--out", "cfg", "--verbose", "0",
                                cwd=tmp_path))
    assert result["recipe"] == "run" and result["test_accuracy"] > 0.8
    history = json.loads((tmp_path / "cfg" / "history.json").read_text())["history"]
    assert "val_loss" in history and len(history["loss"]) == 3
    evaluated = last_json(shenjing("evaluate", "cfg/model.safetensors", cwd=tmp_path))
    assert evaluated["accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-12)


@pytest.mark.parametrize("text, words", [
    ("data: digits\nmodel: {layers: [Dnse: {units: 3}]}\nloss: mse\n",
     ["model.layers[0]", "unknown layer 'Dnse'", "Dense"]),
    ("data: digits\nmodel: {layers: [Dense: {units: 3}]}\nloss: mse\nepoch: 3\n",
     ["'epoch'", "unknown key", "epochs"]),
    ("data: {name: nope}\nmodel: {zoo: lenet5}\nloss: mse\n",
     ["data.name", "unknown data set 'nope'", "digits"]),
    ("data: digits\nmodel: {layers: [Dense: {units: 3}]}\n", ["'loss'", "missing"]),
])
def test_config_errors_name_the_key_and_the_allowed_values(tmp_path, text, words):
    pytest.importorskip("yaml")
    (tmp_path / "bad.yaml").write_text(text)
    proc = shenjing("train", "bad.yaml", cwd=tmp_path, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_option_key_value_reaches_the_recipe(tmp_path):
    result = last_json(shenjing("train", "adding-problem", "--option", "cell=gru",
                                "--option", "length=20", "--option", "samples=200",
                                "--epochs", "1", "--verbose", "0", "--out", "a", cwd=tmp_path))
    assert json.loads((tmp_path / "a" / "run.json").read_text())["options"] == {
        "cell": "gru", "length": 20, "samples": 200}
    assert result["recipe"] == "adding-problem"
    bad = shenjing("train", "iris-mlp", "--option", "nope=1", cwd=tmp_path, timeout=60)
    assert bad.returncode == 1 and "does not take nope" in bad.stderr


def test_checkpoint_then_resume_continues_the_epochs(tmp_path):
    first = last_json(shenjing("train", "iris-mlp", "--epochs", "2", "--seed", "4", "--verbose",
                               "0", "--checkpoint", "ck.safetensors", "--out", "a",
                               cwd=tmp_path))
    assert first["epochs"] == 2 and (tmp_path / "ck.safetensors").exists()
    resumed = shenjing("train", "iris-mlp", "--epochs", "4", "--seed", "4", "--verbose", "2",
                       "--resume", "ck.safetensors", "--out", "b", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Epoch 3/4" in resumed.stderr and "Epoch 1/4" not in resumed.stderr
    straight = last_json(shenjing("train", "iris-mlp", "--epochs", "4", "--seed", "4",
                                  "--verbose", "0", "--out", "c", cwd=tmp_path))
    assert last_json(resumed)["test_loss"] == straight["test_loss"]


def test_missing_model_file_is_a_clear_error(tmp_path):
    proc = shenjing("evaluate", "nope.safetensors", cwd=tmp_path, timeout=60)
    assert proc.returncode == 1 and "nope.safetensors" in proc.stderr
