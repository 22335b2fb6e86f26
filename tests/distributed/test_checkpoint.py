"""Checkpoints: weights + optimizer state + epoch, resumed as if training never stopped."""
import numpy as np
import pytest

import shenjing as sj
import shenjing.distributed as dist

from ._common import N_FIT, compiled_mlp, digits, mlp, weights


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_resuming_from_a_checkpoint_repeats_the_uninterrupted_run(tmp_path, opt):
    x, y = digits()
    x, y = x[:N_FIT // 4], y[:N_FIT // 4]
    ref = compiled_mlp(0, opt=opt)
    dist.fit(ref, x, y, batch_size=64, epochs=3, verbose=0, seed=2)
    first = compiled_mlp(0, opt=opt)
    dist.fit(first, x, y, batch_size=64, epochs=2, verbose=0, seed=2,
             callbacks=[dist.Checkpoint(tmp_path / "ck.npz")])
    resumed = compiled_mlp(5, opt=opt)  # other initial weights, an unbound optimizer
    assert dist.load_checkpoint(tmp_path / "ck.npz", resumed, resumed.optimizer) == 2
    assert resumed.optimizer.param_groups
    dist.fit(resumed, x, y, batch_size=64, epochs=3, initial_epoch=2, verbose=0, seed=2)
    for k, v in weights(ref).items():
        np.testing.assert_allclose(weights(resumed)[k], v, rtol=1e-6, atol=1e-7)


def test_a_checkpoint_without_optimizer_holds_the_weights(tmp_path):
    model = mlp(0)
    dist.save_checkpoint(tmp_path / "w.npz", model)
    other = mlp(1)
    assert dist.load_checkpoint(tmp_path / "w.npz", other) is None
    for k, v in weights(model).items():
        np.testing.assert_array_equal(weights(other)[k], v)


def test_loading_into_an_unbuilt_model_says_to_build_it(tmp_path):
    dist.save_checkpoint(tmp_path / "w.npz", mlp(0))
    lazy = sj.Sequential([sj.nn.Dense(32), sj.nn.Dense(10)])
    with pytest.raises(ValueError, match="not built"):
        dist.load_checkpoint(tmp_path / "w.npz", lazy)


def test_saving_is_atomic_and_leaves_no_temporary_files(tmp_path):
    dist.save_checkpoint(tmp_path / "sub" / "ck.npz", mlp(0))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ck.npz"]
