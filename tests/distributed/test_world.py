"""The world of one (no MPI launcher): collectives are identities, wrappers change nothing."""
import sys

import numpy as np
import pytest

import shenjing as sj
import shenjing.distributed as dist
from shenjing.distributed import training as dist_fit
from shenjing.distributed import world as world_mod

from ._common import compiled_mlp, digits, make_optimizer, manual_steps, mlp


def test_world_of_one_without_a_launcher():
    world = dist.init()
    assert not dist.launched_by_mpi()
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    assert world is dist.get_world() and dist.is_initialized()
    dist.barrier()
    x = np.array([1.0, 2.0], np.float32)
    for op in ("sum", "mean", "max", "min", "prod"):
        out = dist.all_reduce(x, op)
        assert np.array_equal(out, x) and out is not x
    t = dist.all_reduce(sj.tensor([3.0]), "sum")
    assert isinstance(t, sj.Tensor) and t.numpy().tolist() == [3.0]
    assert dist.broadcast(np.arange(3)).tolist() == [0, 1, 2]
    assert dist.broadcast_object({"a": 1}) == {"a": 1}


def test_collective_arguments_are_checked():
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(np.ones(2), "average")
    with pytest.raises(ValueError, match="root must be a rank"):
        dist.broadcast(np.ones(2), root=1)
    with pytest.raises(ValueError, match="backend"):
        dist.init(backend="gloo")
    with pytest.raises(ValueError, match="seconds > 0"):
        dist.World(None, timeout=0)


def test_launcher_detection_and_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert dist.launched_by_mpi()
    monkeypatch.setenv("SHENJING_DISTRIBUTED_TIMEOUT", "2.5")
    assert world_mod._env_timeout() == 2.5
    monkeypatch.setenv("SHENJING_DISTRIBUTED_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SHENJING_DISTRIBUTED_TIMEOUT"):
        world_mod._env_timeout()


def test_a_missing_mpi4py_under_mpirun_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(dist.DistributedError, match=r"shenjing\[mpi\]"):
        world_mod._mpi_comm()


def test_timeout_error_names_rank_size_and_limit():
    err = dist.World(None, timeout=7).timeout_error("barrier()")
    assert isinstance(err, TimeoutError) and isinstance(err, dist.DistributedError)
    assert "rank 0 of 1" in str(err) and "within 7 s" in str(err)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_wrappers_in_a_world_of_one_train_like_plain_code(name):
    x, y = digits()
    model = mlp(0)
    ref = manual_steps(model, make_optimizer(name, model.parameters()), x, y)
    model = mlp(0)
    opt = make_optimizer(name, model.parameters())
    assert dist.DistributedOptimizer(opt) is opt
    assert type(opt).__name__ == {"sgd": "SGD", "adam": "Adam"}[name]
    assert isinstance(opt, sj.optim.Optimizer)
    got = manual_steps(model, opt, x, y)
    ddp = dist.DistributedDataParallel(mlp(0))
    got_ddp = manual_steps(ddp, make_optimizer(name, ddp.parameters()), x, y)
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])
        np.testing.assert_array_equal(got_ddp[k], ref[k])
    assert list(ddp.state_dict()) == list(ref)  # no "module." prefix: checkpoints interchange


def test_distributed_fit_in_a_world_of_one_trains():
    x, y = digits()
    model = compiled_mlp(0)
    history = dist.fit(model, x[:512], y[:512], batch_size=64, epochs=3, verbose=0, seed=0,
                       validation_split=0.25)
    loss = history.history["loss"]
    assert loss[-1] < loss[0] and "val_loss" in history.history
    assert isinstance(model.optimizer, dist.ddp._DistributedMixin)


def test_batch_size_is_global_and_split_over_the_ranks(capsys):
    four = dist.World(None)
    four.size, four.rank = 4, 0
    assert dist_fit.per_rank_batch(64, four) == 16
    assert dist_fit.per_rank_batch(66, four) == 16
    assert "not a multiple of 4" in capsys.readouterr().err
    with pytest.raises(ValueError, match="smaller than the 4 ranks"):
        dist_fit.per_rank_batch(3, four)


def test_shard_makes_a_sampled_loader_and_refuses_foreign_samplers():
    x, y = digits()
    loader, sampler = dist_fit.shard(x[:100], y[:100], 20, True, 3)
    assert isinstance(sampler, dist.DistributedSampler) and loader.batch_size == 20
    assert sum(len(xb) for xb, _ in loader) == 100
    ready = sj.data.DataLoader((x, y), batch_size=8, sampler=dist.DistributedSampler(len(x)))
    assert dist_fit.shard(ready, None, None, True, 0)[0] is ready
    custom = sj.data.DataLoader((x, y), batch_size=8, sampler=range(10))
    with pytest.raises(ValueError, match="DistributedSampler"):
        dist_fit.shard(custom, None, None, True, 0)
    with pytest.raises(ValueError, match="targets"):
        dist_fit.shard(x, None, 8, True, 0)


def test_writing_callbacks_are_silenced_on_other_ranks():
    class Writer(sj.callbacks.Callback):
        rank_zero_only = True

        def on_epoch_end(self, epoch, logs=None):
            raise AssertionError("must not run on rank 1")

    class ModelCheckpoint(sj.callbacks.Callback):
        pass

    stop = sj.callbacks.EarlyStopping()
    one = dist.World(None)
    one.size, one.rank = 2, 1
    out = dist.rank_zero_only([Writer(), ModelCheckpoint(), stop], one)
    assert out[2] is stop and all(type(cb).__name__ == "_Silent" for cb in out[:2])
    out[0].on_epoch_end(0, {})
    one.rank = 0
    assert dist.rank_zero_only([stop], one) == [stop]


def test_distributed_fit_in_a_world_of_one_is_plain_fit_bit_for_bit():
    """The sampler's epoch order is the permutation Model.fit itself draws (run seed, epoch)."""
    x, y = digits()
    ref = compiled_mlp(0)
    ref.fit(x[:640], y[:640], batch_size=64, epochs=2, verbose=0)
    model = compiled_mlp(0)
    dist.fit(model, x[:640], y[:640], batch_size=64, epochs=2, verbose=0)
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)


def test_mixed_precision_with_a_ddp_model_in_a_world_of_one_is_plain_fit_bit_for_bit():
    """``DistributedDataParallel.compile`` takes ``mixed_precision``; in a world of one the
    fit (its ``synchronize`` before the scaler's step included) is the plain one."""
    x, y = digits()
    loss = sj.losses.SparseCategoricalCrossentropy(from_logits=True)
    ref = mlp(0)
    ref.compile(sj.optim.SGD(lr=0.3), loss, mixed_precision=True)
    h_ref = ref.fit(x[:256], y[:256], batch_size=64, epochs=2, verbose=0)
    model = dist.DistributedDataParallel(mlp(0))
    model.compile(sj.optim.SGD(lr=0.3), loss, mixed_precision=True)
    history = model.fit(x[:256], y[:256], batch_size=64, epochs=2, verbose=0)
    assert model.mixed_precision.policy == "float16"
    assert history.history["loss_scale"] == h_ref.history["loss_scale"]
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)


def test_backup_and_restore_is_refused_by_distributed_fit(tmp_path):
    x, y = digits()
    model = compiled_mlp(0)
    backup = sj.callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(ValueError, match="BackupAndRestore does not support distributed"):
        dist.fit(model, x[:64], y[:64], batch_size=32, epochs=1, verbose=0, callbacks=[backup])
