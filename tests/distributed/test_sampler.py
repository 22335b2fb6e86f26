"""DistributedSampler: shards cover the data set once per epoch, identically on every rank."""
import numpy as np
import pytest

from shenjing.distributed import DistributedSampler


def shards(n, world, **kw):
    return [list(DistributedSampler(n, world, r, **kw)) for r in range(world)]


@pytest.mark.parametrize("n", [1, 7, 10, 64, 101])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_cover_every_sample_once_plus_documented_padding(n, world):
    parts = shards(n, world, shuffle=True, seed=5)
    counts = np.bincount(np.concatenate(parts), minlength=n)
    pad = -n % world
    assert counts.min() >= 1 and counts.sum() == n + pad  # each once, pad (< world) repeats
    assert (counts - 1).max() <= -(-pad // n)
    assert {len(p) for p in parts} == {-(-n // world)}
    assert DistributedSampler(n, world, 0).padding == pad


@pytest.mark.parametrize("n, world", [(10, 3), (64, 4), (9, 2)])
def test_drop_last_covers_each_kept_sample_once(n, world):
    parts = shards(n, world, shuffle=True, seed=1, drop_last=True)
    flat = np.concatenate(parts)
    assert len(flat) == n - n % world == len(set(flat.tolist()))
    assert {len(p) for p in parts} == {n // world}


def test_every_rank_draws_the_same_permutation_and_epochs_differ():
    a, b = DistributedSampler(50, 2, 0, seed=3), DistributedSampler(50, 2, 1, seed=3)
    orders = []
    for epoch in range(3):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert np.array_equal(a.global_order(), b.global_order())
        merged = np.empty(50, np.int64)
        merged[0::2], merged[1::2] = list(a), list(b)
        assert np.array_equal(merged, a.global_order())
        orders.append(a.global_order())
    assert not np.array_equal(orders[0], orders[1])
    a.set_epoch(0)
    assert np.array_equal(a.global_order(), orders[0])  # repeatable


def test_rank_batches_together_are_the_single_process_batches():
    n, world, per_rank = 256, 4, 16
    ranks = [np.array(list(DistributedSampler(n, world, r, seed=9))) for r in range(world)]
    single = DistributedSampler(n, 1, 0, seed=9).global_order()
    for k in range(n // (per_rank * world)):
        together = np.concatenate([r[k * per_rank:(k + 1) * per_rank] for r in ranks])
        expected = single[k * per_rank * world:(k + 1) * per_rank * world]
        assert sorted(together.tolist()) == sorted(expected.tolist())


def test_without_shuffle_the_order_is_strided():
    assert list(DistributedSampler(10, 4, 1, shuffle=False)) == [1, 5, 9]
    assert list(DistributedSampler(10, 4, 3, shuffle=False)) == [3, 7, 1]


def test_defaults_come_from_the_world_of_one():
    s = DistributedSampler(range(5))
    assert (s.num_replicas, s.rank, len(s)) == (1, 0, 5)
    assert sorted(s) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kwargs, match", [
    ({"num_replicas": 0, "rank": 0}, "num_replicas"),
    ({"num_replicas": 2, "rank": 2}, "not below"),
    ({"num_replicas": 2, "rank": -1}, "rank"),
    ({"num_replicas": 2, "rank": 0, "seed": -3}, "seed"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DistributedSampler(10, **kwargs)


def test_drop_last_needs_a_sample_per_rank():
    with pytest.raises(ValueError, match="cannot give"):
        DistributedSampler(2, 3, 0, drop_last=True)
