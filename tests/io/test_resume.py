"""Checkpoints: bit-identical resume in a fresh process, atomic writes that survive a crash,
and fit's per-epoch random streams (seed, epoch) that make both possible."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shenjing as sj
from shenjing import nn
from shenjing.io.serialization import read_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(0)
X = RNG.standard_normal((96, 6)).astype(np.float32)
Y = ((X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)).astype(np.int64)
FIT = dict(batch_size=16, validation_split=0.25, verbose=0)


pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def make_model(seed=0):
    sj.manual_seed(seed)
    model = sj.Sequential([nn.Dense(16, activation="relu"), nn.Dropout(0.3),
                           nn.Dense(16, activation="relu"), nn.Dropout(0.2), nn.Dense(3)])
    model.compile(sj.optim.Adam(lr=0.01), sj.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    return model


def early_stopping():
    return sj.callbacks.EarlyStopping(monitor="val_loss", patience=50)


def run(cmd_args, script):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, cmd_args)],
                          env=env, capture_output=True, text=True, timeout=300)


RESUME = """
    import sys
    import numpy as np
    import shenjing as sj
    sj.set_num_threads(1)
    ckpt, data, out = sys.argv[1:4]
    sj.randn(1000)                    # whatever ran before must not matter
    model = sj.load_model(ckpt)
    assert model.epoch == 2, model.epoch
    stop = sj.callbacks.EarlyStopping(monitor="val_loss", patience=50)
    with np.load(data) as d:
        model.fit(d["x"], d["y"], epochs=4, initial_epoch=model.epoch, batch_size=16,
                  validation_split=0.25, verbose=0, callbacks=[stop])
    model.save(out)
    print(repr(float(stop.best)), stop.best_epoch)
"""


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    full = make_model()
    stop_full = early_stopping()
    full.fit(X, Y, epochs=4, callbacks=[stop_full], **FIT)

    half = make_model()
    ckpt = tmp_path / "ckpt.safetensors"
    half.fit(X, Y, epochs=2, callbacks=[early_stopping(),
                                        sj.callbacks.ModelCheckpoint(str(ckpt))], **FIT)
    data = tmp_path / "data.npz"
    np.savez(data, x=X, y=Y)
    done = run([ckpt, data, tmp_path / "resumed.safetensors"], RESUME)
    assert done.returncode == 0, done.stderr
    resumed = sj.load_model(tmp_path / "resumed.safetensors")

    assert resumed.epoch == full.epoch == 4
    a, b = full.state_dict(), resumed.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    sa, sb = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for i in sa:
        assert sa[i]["step"] == sb[i]["step"] == 4 * 5
        assert np.array_equal(sa[i]["exp_avg"], sb[i]["exp_avg"])
        assert np.array_equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"])
    best, best_epoch = done.stdout.split()
    assert float(best) == float(stop_full.best) and int(best_epoch) == stop_full.best_epoch
    checkpoint = sj.load_model(ckpt).state_dict()     # the fresh process did train
    assert not np.array_equal(checkpoint["layers.0.kernel"], b["layers.0.kernel"])


def test_resume_in_process_with_a_seeded_loader_and_a_subclassed_model(tmp_path):
    class Net(sj.Model):
        def __init__(self, width):
            super().__init__()
            self.a, self.drop, self.b = nn.Dense(width, activation="tanh"), nn.Dropout(0.4), \
                nn.Dense(3)

        def forward(self, x):
            return self.b(self.drop(self.a(x)))

    def fresh():
        sj.manual_seed(5)
        net = Net(12)
        net.compile("rmsprop", sj.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net, sj.data.DataLoader((X, Y), batch_size=10, shuffle=True, seed=3)

    full, loader = fresh()
    full.fit(loader, epochs=3, verbose=0)
    part, loader = fresh()
    part.fit(loader, epochs=1, verbose=0)
    part.save(tmp_path / "p.safetensors")
    sj.manual_seed(123)
    again = sj.load_model(tmp_path / "p.safetensors")
    loader = sj.data.DataLoader((X, Y), batch_size=10, shuffle=True, seed=3)   # made anew
    again.fit(loader, epochs=3, initial_epoch=again.epoch, verbose=0)
    for k, v in full.state_dict().items():
        assert np.array_equal(v, again.state_dict()[k]), k


def test_fit_twice_continues_the_random_streams():
    one = make_model()
    one.fit(X, Y, epochs=2, **FIT)
    two = make_model()
    two.fit(X, Y, epochs=1, **FIT)
    two.fit(X, Y, epochs=1, **FIT)        # epoch 1's stream, not epoch 0's again
    assert two.epoch == 2
    for k, v in one.state_dict().items():
        assert np.array_equal(v, two.state_dict()[k]), k


def test_fit_is_repeatable_and_restores_the_global_generator():
    results = []
    for extra in (0, 500):
        model = make_model()
        model(X[:1])
        sj.randn(extra)                   # draws between building and fitting do not matter
        before = sj.random.generator()
        model.fit(X, Y, epochs=2, **FIT)
        assert sj.random.generator() is before
        results.append(model.state_dict())
    for k in results[0]:
        assert np.array_equal(results[0][k], results[1][k])
    other = make_model(seed=1)
    other.fit(X, Y, epochs=2, **FIT)
    assert not np.array_equal(other.state_dict()["layers.4.bias"], results[0]["layers.4.bias"])


def test_an_unseeded_run_draws_and_keeps_a_seed(monkeypatch):
    monkeypatch.setattr(sj.random, "_seed", None)
    model = make_model()
    monkeypatch.setattr(sj.random, "_seed", None)
    model.fit(X, Y, epochs=1, **FIT)
    seed = model._seed
    assert isinstance(seed, int) and seed >= 0
    model.fit(X, Y, epochs=1, **FIT)
    assert model._seed == seed


# ---------------------------------------------------------------- atomic writes
def test_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.numpy

    model = make_model()
    model.fit(X, Y, epochs=1, **FIT)
    path = tmp_path / "ckpt.safetensors"
    model.save(path)
    expected = model.predict(X)
    model.fit(X, Y, epochs=2, initial_epoch=1, **FIT)

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(safetensors.numpy, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]     # the temporary file is gone
    monkeypatch.undo()
    old = sj.load_model(path)
    assert old.epoch == 1
    np.testing.assert_array_equal(old.predict(X), expected)


KILLED = """
    import os, sys
    import safetensors.numpy
    import shenjing as sj
    real = safetensors.numpy.save_file

    def dies_half_way(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as f:
            f.truncate(os.path.getsize(filename) // 2)
        os._exit(9)                      # the process dies: no cleanup, no rename

    model = sj.load_model(sys.argv[1])
    safetensors.numpy.save_file = dies_half_way
    model.save(sys.argv[1])
"""


def test_a_process_killed_mid_write_leaves_a_loadable_checkpoint(tmp_path):
    model = make_model()
    model.fit(X, Y, epochs=1, **FIT)
    path = tmp_path / "ckpt.safetensors"
    model.save(path)
    done = run([path], KILLED)
    assert done.returncode == 9, done.stderr
    leftovers = [f for f in os.listdir(tmp_path) if f != "ckpt.safetensors"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")   # the half-written file
    with pytest.raises(sj.io.ModelFileError, match="damaged"):
        sj.load_model(tmp_path / leftovers[0])
    loaded = sj.load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_seeded_loader_orders_by_seed_and_epoch_only():
    def order(loader):
        return np.concatenate([yb.numpy() for _, yb in loader])

    def loader():
        ids = np.arange(20)
        return sj.data.DataLoader((ids, ids), batch_size=6, shuffle=True, seed=4)

    first = loader()
    orders = [order(first) for _ in range(4)]
    assert not np.array_equal(orders[0], orders[1])          # a new order every epoch
    fresh = loader()
    fresh.set_epoch(2)
    sj.randn(10)                                               # global draws do not matter
    np.testing.assert_array_equal(order(fresh), orders[2])
    np.testing.assert_array_equal(order(fresh), orders[3])   # then counts on from there


def test_resume_with_a_learning_rate_schedule_and_momentum(tmp_path):
    def fresh():
        sj.manual_seed(0)
        model = sj.Sequential([nn.Dense(8, activation="relu"), nn.Dropout(0.2), nn.Dense(3)])
        model.compile(sj.optim.SGD(lr=sj.optim.schedules.CosineDecay(0.1, 20), momentum=0.9),
                      sj.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    full = fresh()
    full.fit(X, Y, epochs=3, batch_size=16, verbose=0)
    part = fresh()
    part.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    part.save(tmp_path / "s.safetensors")
    again = sj.load_model(tmp_path / "s.safetensors")
    assert again.optimizer.iterations == 6 and again.optimizer.lr_schedule is not None
    again.fit(X, Y, epochs=3, initial_epoch=again.epoch, batch_size=16, verbose=0)
    for a, b in zip(full.get_weights(), again.get_weights()):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------- EarlyStopping's best weights
VAL_LOSS = [1.0, 0.7, 0.8, 0.9, 0.95, 0.99, 1.1, 1.2]  # best at epoch 1; patience 3: stop at 4


def scripted_val_loss():
    """Writes VAL_LOSS[epoch] into the epoch-end logs (listed before EarlyStopping)."""
    return sj.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update(val_loss=VAL_LOSS[epoch]))


def restoring_stop():
    return sj.callbacks.EarlyStopping(patience=3, restore_best_weights=True)


def test_early_stopping_resumed_from_a_checkpoint_restores_the_same_best_weights(tmp_path):
    """Checkpoint after epoch 3 (best: epoch 2, 1-based), load, resume: the same stop, the same
    counters and, at the end, the same restored weights as one uninterrupted run."""
    fit = dict(batch_size=16, verbose=0)
    full, stop_full = make_model(), restoring_stop()
    full.fit(X, Y, epochs=len(VAL_LOSS), callbacks=[scripted_val_loss(), stop_full], **fit)
    assert (stop_full.stopped_epoch, stop_full.best_epoch) == (4, 1)

    part = make_model()
    ckpt = sj.callbacks.ModelCheckpoint(str(tmp_path / "ck{epoch}.safetensors"))
    part.fit(X, Y, epochs=3, callbacks=[scripted_val_loss(), restoring_stop(), ckpt], **fit)
    tensors, _ = read_file(tmp_path / "ck3.safetensors")
    assert any(k.startswith("shenjing/callbacks/") and k.endswith("/best_weights/layers.0.kernel")
               for k in tensors)
    again = sj.load_model(tmp_path / "ck3.safetensors")
    stop_again = restoring_stop()
    again.fit(X, Y, epochs=len(VAL_LOSS), initial_epoch=again.epoch,
              callbacks=[scripted_val_loss(), stop_again], **fit)
    for name in ("best", "wait", "best_epoch", "stopped_epoch"):
        assert getattr(stop_again, name) == getattr(stop_full, name), name
    assert again.epoch == full.epoch == 5
    for k, v in full.state_dict().items():  # restored to the end of epoch 2 in both
        assert np.array_equal(v, again.state_dict()[k]), k
        assert np.array_equal(v, stop_full.best_weights[k]), k
