"""BackupAndRestore: a run stopped at an epoch end or mid-epoch and run again (a fresh model,
optimizer and callbacks, as a rerun of the same script) ends bit-identical to the run that
was never stopped, with the same logged history; the backup file's life cycle; errors."""
import os

import numpy as np
import pytest

import shenjing as sj
from shenjing import nn

BackupAndRestore = sj.callbacks.BackupAndRestore
pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py

RNG = np.random.default_rng(0)
X = RNG.standard_normal((96, 6)).astype(np.float32)
Y = ((X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)).astype(np.int64)
FIT = dict(batch_size=16, validation_split=0.25, shuffle=True, verbose=0, epochs=5)
STEPS = 5  # 72 training samples in batches of 16


class Stop(sj.callbacks.Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of batch ``at`` = (epoch,
    batch), or at the end of epoch ``at`` = (epoch, None)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if (self.model.epoch_running, batch) == self.at:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self.model.epoch_running = epoch

    def on_epoch_end(self, epoch, logs=None):
        if (epoch, None) == self.at:
            raise KeyboardInterrupt


def make_model(mixed_precision=False):
    sj.manual_seed(7)
    model = sj.Sequential([nn.Dense(16, activation="relu"), nn.Dropout(0.3), nn.Dense(3)])
    model.compile(sj.optim.Adam(lr=0.01), sj.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"], mixed_precision=mixed_precision)
    if mixed_precision:  # a scale that grows every 3 steps: its growth tracker matters
        model.mixed_precision = sj.amp.MixedPrecision(True, growth_interval=3)
    return model


def monitors():
    """EarlyStopping and ReduceLROnPlateau (lr halved every 2nd epoch: min_delta=10 lets
    only the first epoch improve), so a resume without their states would differ."""
    return [sj.callbacks.EarlyStopping(monitor="val_loss", patience=50),
            sj.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                           min_delta=10.0)]


def fit(backup=None, stop=None, data=(X, Y), mixed_precision=False, **options):
    """A fresh run of the script: new model, optimizer and callbacks."""
    model, callbacks = make_model(mixed_precision), monitors()
    extra = [c for c in (stop, backup) if c is not None]
    sj.randn(123)  # what ran before fit must not matter
    history = model.fit(*data, callbacks=[*extra, *callbacks], **{**FIT, **options})
    return model, history, callbacks


@pytest.fixture(scope="module")
def uninterrupted():
    return fit()


def assert_same_run(resumed, full, first_epoch):
    (model, history, cbs), (model0, history0, cbs0) = resumed, full
    for k, v in model0.state_dict().items():
        assert np.array_equal(v, model.state_dict()[k]), k
    assert model.epoch == model0.epoch == FIT["epochs"]
    assert history.epoch == history0.epoch[first_epoch:]
    for key, values in history0.history.items():
        assert history.history[key] == values[first_epoch:], key  # exact floats
    assert model.optimizer.lr == model0.optimizer.lr < 0.01
    assert (cbs[0].best, cbs[0].best_epoch) == (cbs0[0].best, cbs0[0].best_epoch)


def interrupted(tmp_path, at, **backup_options):
    backup = BackupAndRestore(tmp_path / "backup", **backup_options)
    with pytest.raises(KeyboardInterrupt):
        fit(backup, Stop(at))
    assert os.path.exists(backup.path)  # kept after the exception
    return backup


def test_interrupted_after_an_epoch_resumes_bit_identical(tmp_path, uninterrupted):
    backup = interrupted(tmp_path, at=(2, 1))  # during epoch 2: backups after epochs 0, 1
    resumed = fit(BackupAndRestore(backup.backup_dir), initial_epoch=1)  # overridden
    assert_same_run(resumed, uninterrupted, first_epoch=2)
    assert not os.path.exists(backup.backup_dir)  # deleted after a completed fit


def test_interrupted_mid_epoch_resumes_bit_identical(tmp_path, uninterrupted):
    backup = interrupted(tmp_path, at=(1, 3), save_freq=2)  # last backup: epoch 1, batch 2
    resumed = fit(BackupAndRestore(backup.backup_dir, save_freq=2))
    assert_same_run(resumed, uninterrupted, first_epoch=1)  # epoch 1's loss/accuracy too


def test_backup_after_the_last_batch_of_an_epoch(tmp_path, uninterrupted):
    backup = interrupted(tmp_path, at=(2, None), save_freq=STEPS)  # all 5 batches done
    resumed = fit(BackupAndRestore(backup.backup_dir, save_freq=STEPS))
    assert_same_run(resumed, uninterrupted, first_epoch=2)


def test_mid_epoch_resume_with_a_shuffling_dataloader(tmp_path):
    def loader_fit(backup=None, stop=None):
        loader = sj.data.DataLoader((X[:72], Y[:72]), batch_size=16, shuffle=True)
        return fit(backup, stop, data=(loader,), batch_size=None, validation_split=0.0,
                   validation_data=(X[72:], Y[72:]))

    full = loader_fit()
    with pytest.raises(KeyboardInterrupt):
        loader_fit(BackupAndRestore(tmp_path, save_freq=2), Stop((2, 3)))  # backup: (2, 1)
    assert_same_run(loader_fit(BackupAndRestore(tmp_path, save_freq=2)), full, first_epoch=2)


def test_mid_epoch_resume_with_mixed_precision_keeps_the_loss_scale(tmp_path):
    full = fit(mixed_precision=True)
    backup = BackupAndRestore(tmp_path, save_freq=3)
    with pytest.raises(KeyboardInterrupt):
        fit(backup, Stop((3, 3)), mixed_precision=True)  # last backup: epoch 3, batch 2
    resumed = fit(BackupAndRestore(tmp_path, save_freq=3), mixed_precision=True)
    assert_same_run(resumed, full, first_epoch=3)  # History's loss_scale included
    assert resumed[0].mixed_precision.loss_scale == full[0].mixed_precision.loss_scale


def test_keep_the_backup_and_rerun_does_nothing_more(tmp_path):
    model, history, _ = fit(BackupAndRestore(tmp_path, delete_checkpoint=False), epochs=2)
    backup = tmp_path / "backup.safetensors"
    assert backup.exists() and sj.load_model(backup).epoch == 2
    again, history, _ = fit(BackupAndRestore(tmp_path, delete_checkpoint=False), epochs=2)
    assert history.epoch == [] and again.epoch == 2
    for k, v in model.state_dict().items():
        assert np.array_equal(v, again.state_dict()[k]), k


def test_a_failed_write_leaves_the_previous_backup_whole(tmp_path, monkeypatch):
    import safetensors.numpy

    real = safetensors.numpy.save_file
    writes = []

    def fail_on_third(tensors, path, metadata=None):
        writes.append(path)
        if len(writes) == 3:
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError("disk full")
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(safetensors.numpy, "save_file", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        fit(BackupAndRestore(tmp_path))
    assert os.listdir(tmp_path) == ["backup.safetensors"]  # no temporary file left
    assert sj.load_model(tmp_path / "backup.safetensors").epoch == 2


@pytest.mark.parametrize("args, error", [
    ((None,), "folder path"), (("",), "folder path"), (("d", 0), "save_freq"),
    (("d", "batch"), "save_freq"), (("d", True), "save_freq"), (("d", 1.5), "save_freq"),
    (("d", "epoch", 1), "delete_checkpoint")])
def test_bad_arguments(args, error):
    with pytest.raises((TypeError, ValueError), match=error):
        BackupAndRestore(*args)


def test_errors_at_fit_start(tmp_path):
    model = make_model()
    batches = ((X[i:i + 16], Y[i:i + 16]) for i in range(0, 96, 16))
    with pytest.raises(ValueError, match="order repeats.*generator"):
        model.fit(batches, callbacks=[BackupAndRestore(tmp_path, save_freq=2)], verbose=0)
    with pytest.raises(ValueError, match="2 BackupAndRestore"):
        model.fit(X, Y, callbacks=[BackupAndRestore(tmp_path), BackupAndRestore(tmp_path)])
    model.save(tmp_path / "backup.safetensors")  # a model file, not a backup
    with pytest.raises(ValueError, match="not a BackupAndRestore backup"):
        make_model().fit(X, Y, callbacks=[BackupAndRestore(tmp_path)], verbose=0)
    other = sj.Sequential([nn.Dense(3)])
    other.compile("sgd", "mse")
    other.fit(X, np.zeros((96, 3)), callbacks=[BackupAndRestore(tmp_path / "o",
                                                                delete_checkpoint=False)],
              verbose=0)
    with pytest.raises(ValueError, match="does not fit|do not fit"):
        make_model().fit(X, Y, callbacks=[BackupAndRestore(tmp_path / "o")], verbose=0)


def test_cli_backup_resumes_a_killed_run(tmp_path, monkeypatch):
    from shenjing.cli import main

    monkeypatch.chdir(tmp_path)
    train = ["train", "iris-mlp", "--epochs", "3", "--verbose", "0", "--backup", "bk"]
    assert main([*train[:-2], "--out", "full"]) == 0
    backup_epoch_end = BackupAndRestore.on_epoch_end

    def killed_after_epoch_2(self, epoch, logs=None):
        backup_epoch_end(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(BackupAndRestore, "on_epoch_end", killed_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        main([*train, "--out", "resumed"])
    assert sj.load_model("bk/backup.safetensors").epoch == 2
    monkeypatch.setattr(BackupAndRestore, "on_epoch_end", backup_epoch_end)
    assert main([*train, "--out", "resumed"]) == 0
    assert not os.path.exists("bk")
    full, resumed = (sj.load_model(f"{d}/model.safetensors") for d in ("full", "resumed"))
    assert resumed.epoch == 3
    for k, v in full.state_dict().items():
        assert np.array_equal(v, resumed.state_dict()[k]), k


def test_resumes_exactly_on_the_simulated_gpu(tmp_path, fake_cuda):
    """fit(device="cuda") with a model whose lazy layers are built by the restore itself:
    the weights land on the device and the run matches the uninterrupted one on it."""
    full = fit(device="cuda")
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        fit(backup, Stop((2, 1)), device="cuda")
    resumed = fit(BackupAndRestore(backup.backup_dir), device="cuda")
    assert all(isinstance(p.data, fake_cuda.ndarray) for p in resumed[0].parameters())
    assert_same_run(resumed, full, first_epoch=2)
