"""Real two-rank jobs: ``mpirun -n 2 --oversubscribe python _worker.py SCENARIO`` on loopback,
compared with single-process training in this process (a world of one)."""
import json
import time

import numpy as np
import pytest

import shenjing as sj
import shenjing.distributed as dist

from ._common import (
    N_FIT,
    cache_digits,
    compiled_mlp,
    digits,
    make_optimizer,
    manual_steps,
    mlp,
    mpirun,
    mpirun_missing,
    weights,
)

pytestmark = pytest.mark.skipif(mpirun_missing() is not None,
                                reason=f"MPI tests need mpirun and mpi4py: {mpirun_missing()}")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """``job(scenario)``: run it once on 2 ranks (cached); returns (folder, CompletedProcess)."""
    folder = tmp_path_factory.mktemp("mpi")
    cache_digits(str(folder))
    done = {}

    def run(scenario, **kwargs):
        if scenario not in done:
            out = folder / scenario
            out.mkdir()
            cache_digits(str(out))
            start = time.monotonic()
            proc = mpirun(scenario, out, **kwargs)
            done[scenario] = out, proc, time.monotonic() - start
        return done[scenario]

    return run


def ok(job, scenario):
    out, proc, _ = job(scenario)
    assert proc.returncode == 0, f"mpirun failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return out


def assert_same_weights(got, ref, atol):
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=atol, err_msg=k)


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["ddp", "hvd"])
def test_two_ranks_with_half_batches_match_one_process_with_the_whole(job, kind, name):
    """5 steps, per-rank batch 32 vs batch 64: the same weights to float32 tolerance (rank
    1 starts from other weights; the broadcast from rank 0 must fix that)."""
    got = np.load(ok(job, "equivalence") / f"{kind}_{name}.npz")
    x, y = digits()
    model = mlp(0)
    ref = manual_steps(model, make_optimizer(name, model.parameters()), x, y)
    assert_same_weights(got, ref, atol=1e-6)
    first = mlp(1)  # what rank 1 would have trained from without the broadcast
    assert not np.allclose(got["layers.0.kernel"],
                           manual_steps(first, make_optimizer(name, first.parameters()), x,
                                        y)["layers.0.kernel"], atol=1e-3)


@pytest.mark.parametrize("case", ["sgd", "adam", "ddp", "model"])
def test_two_rank_fit_matches_plain_single_process_fit(job, case):
    """2 epochs of the digits MLP, global batch 64 (28 steps an epoch): sj.distributed.fit
    on 2 ranks of 32 (and a DDP-wrapped model's own fit, and model.fit(distributed=True))
    against plain ``model.fit`` in one process: same shuffled batches, same weights."""
    path = ok(job, "equivalence") / f"fit_{case}.npz"
    if case == "model" and not path.exists():
        pytest.skip("Model.fit has no `distributed` argument yet (the lead wires it)")
    got = np.load(path)
    x, y = digits()
    model = compiled_mlp(0, opt="adam" if case == "adam" else "sgd")
    history = model.fit(x[:N_FIT], y[:N_FIT], batch_size=64, epochs=2, verbose=0)
    assert_same_weights(got, weights(model), atol=2e-5)
    if case in ("sgd", "adam"):  # the logged loss is the mean over the ranks
        np.testing.assert_allclose(got["loss"], history.history["loss"], rtol=1e-4)


def test_collectives_on_two_ranks(job):
    with open(ok(job, "collectives") / "collectives.json") as f:
        res = json.load(f)
    assert res["size"] == 2 and res["sum"] == [3.0, 4.0] and res["mean"] == [0.5]
    assert res["max"] == [1] and res["bcast"] == [6] and res["obj"] == {"from": 0}
    assert res["tensor"] == [2.0, 4.0]


def test_sampler_shards_on_real_ranks_cover_the_data_once(job):
    with open(ok(job, "collectives") / "collectives.json") as f:
        res = json.load(f)
    assert res["counts_10"] == [1.0] * 10 and res["len_10"] == 5
    assert sorted(res["counts_11"]) == [1.0] * 10 + [2.0] and res["len_11"] == 6  # 1 padded
    assert res["counts_1"] == [2.0]


def test_parameters_unused_on_some_ranks_stay_consistent(job):
    res = np.load(ok(job, "unused") / "unused.npz")
    for k in res.files:
        if k.startswith("spread_"):
            assert np.abs(res[k]).max() == 0, k  # every rank holds the same weights
    assert bool(res["never_grad_is_none"])  # no rank had a gradient: None, not zeros
    assert np.abs(res["b_grad_rank0"]).max() > 0


def test_no_sync_accumulates_then_averages(job):
    got = np.load(ok(job, "no_sync") / "no_sync.npz")
    x, y = digits()
    model = mlp(0)
    ref = manual_steps(model, sj.optim.SGD(model.parameters(), lr=0.5), x, y, steps=3)
    assert_same_weights(got, ref, atol=1e-6)


def test_batch_norm_running_statistics_agree_across_ranks(job):
    res = np.load(ok(job, "batchnorm") / "batchnorm.npz")
    assert np.abs(res["mean"]).max() > 0
    assert res["spread_mean"].max() == 0 and res["spread_var"].max() == 0


def test_only_rank_zero_prints_and_writes(job):
    out = ok(job, "rank_zero")
    _, proc, _ = job("rank_zero")
    assert (out / "written_by_0").exists() and not (out / "written_by_1").exists()
    epoch_lines = [line for line in proc.stderr.splitlines() if "loss" in line]
    assert len(epoch_lines) == 1, proc.stderr


def test_a_rank_that_dies_mid_epoch_stops_the_job_with_a_message(job):
    _, proc, seconds = job("exit", timeout=120)
    assert proc.returncode != 0 and seconds < 60
    assert "rank 1 failing by exit" in proc.stderr
    assert "rank 0 of 2 stopped by SIGTERM" in proc.stderr, proc.stderr


def test_a_hung_rank_makes_the_others_time_out(job):
    _, proc, seconds = job("hang", timeout=120, env={"SHENJING_DISTRIBUTED_TIMEOUT": "8"})
    assert proc.returncode != 0 and seconds < 90
    assert "rank 1 failing by hang" in proc.stderr
    assert "DistributedTimeoutError: rank 0 of 2" in proc.stderr, proc.stderr
    assert "did not complete within 8 s" in proc.stderr
    assert "rank 0 of 2 failed (DistributedTimeoutError); aborting all ranks" in proc.stderr


def test_an_exception_on_one_rank_aborts_every_rank(job):
    _, proc, seconds = job("raise", timeout=120)
    assert proc.returncode != 0 and seconds < 60
    assert "ValueError: rank 1 failed on purpose" in proc.stderr
    assert "rank 1 of 2 failed (ValueError); aborting all ranks" in proc.stderr


def test_two_rank_checkpoint_resumes_in_one_process(job):
    """Epoch 1 on 2 ranks → checkpoint by rank 0 → epoch 2 in one process: the weights of
    2 epochs in one process (the sampler's global order does not depend on the ranks)."""
    ck = ok(job, "resume_first") / "ck.npz"
    x, y = digits()
    model = compiled_mlp(0, opt="adam")
    assert dist.load_checkpoint(ck, model, model.optimizer) == 1
    dist.fit(model, x[:N_FIT], y[:N_FIT], batch_size=64, epochs=2, initial_epoch=1,
             verbose=0, seed=5)
    ref = compiled_mlp(0, opt="adam")
    dist.fit(ref, x[:N_FIT], y[:N_FIT], batch_size=64, epochs=2, verbose=0, seed=5)
    assert_same_weights(weights(model), weights(ref), atol=2e-5)


def cli_has_distributed():
    from shenjing.cli import build_parser

    try:
        build_parser().parse_args(["train", "digits-mlp", "--distributed"])
    except SystemExit:
        return False
    return True


def test_cli_trains_a_recipe_on_two_ranks(tmp_path):
    """``mpirun -n 2 shenjing train digits-mlp --distributed``: one JSON result (rank 0)."""
    if not cli_has_distributed():
        pytest.skip("the CLI has no --distributed flag yet (the lead wires it)")
    proc = mpirun(None, None, argv=["-m", "shenjing", "train", "digits-mlp", "--distributed",
                                    "--epochs", "1", "--verbose", "0",
                                    "--out", str(tmp_path / "run")], timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout
    assert json.loads(lines[0])["test_accuracy"] > 0.5


def amp_reference():
    """``_worker.amp``'s plain fit in one process."""
    x, y = digits()
    model = mlp(0)
    model.compile(sj.optim.SGD(lr=0.3, momentum=0.9),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True), mixed_precision=True)
    history = model.fit(x[:512], y[:512], batch_size=64, epochs=2, verbose=0)
    return model, history.history["loss_scale"]


def test_two_rank_mixed_precision_fit_matches_one_process(job):
    """float16 products of 32 rows per rank vs 64 in one process: close weights (the
    per-rank sums round differently in float16), the same loss scale."""
    got = np.load(ok(job, "amp") / "amp_fit.npz")
    model, scales = amp_reference()
    assert got["loss_scale"].tolist() == scales
    assert_same_weights(got, weights(model), atol=3e-3)


def test_mixed_precision_skips_a_step_on_every_rank_when_one_rank_overflows(job):
    """Rank 1's gradients overflow at steps 2 and 5 (rank 0's do not), and one head gets no
    gradient on rank 1, so the averaging ends at ``synchronize``: the inf check reads the
    averaged gradients, both ranks skip those steps and back off alike, and stay equal.
    Rank 1 starts from another loss scale: fit gives it rank 0's."""
    got = np.load(ok(job, "amp") / "amp_skip.npz")
    s = 2.0 ** 16
    assert got["scales"].tolist() == [s, s, s / 2, s / 2, s / 2, s / 4, s / 4, s / 4]
    for k in got.files:
        if k.startswith("spread_"):
            assert np.isfinite(got[k[7:]]).all() and np.abs(got[k]).max() == 0, k
