"""DataLoader: coverage of every sample, shuffling and seeding, dtypes, fast vs generic path."""
import numpy as np
import pytest

import shenjing as sj
from shenjing.data import DataLoader, Dataset, TensorDataset, random_split

N, BS = 23, 5


def _ids(loader):
    """The sample ids of one epoch, batch by batch (data is arange(N), so value == index)."""
    return [xb.numpy()[:, 0].astype(int).tolist() for xb, _ in loader]


def _data(n=N):
    x = np.repeat(np.arange(n, dtype=np.float64)[:, None], 3, axis=1)
    return x, np.arange(n, dtype=np.int64)


class ListDataset(Dataset):
    """A generic (non-TensorDataset) data set over the same arrays."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("generic", [False, True])
def test_every_sample_once_per_epoch(shuffle, drop_last, generic):
    x, y = _data()
    ds = ListDataset(x, y) if generic else TensorDataset(x, y)
    loader = DataLoader(ds, batch_size=BS, shuffle=shuffle, drop_last=drop_last, seed=0)
    for _ in range(2):
        batches = _ids(loader)
        sizes = [len(b) for b in batches]
        assert sizes == ([5, 5, 5, 5] if drop_last else [5, 5, 5, 5, 3])
        assert len(loader) == len(batches)
        flat = [i for b in batches for i in b]
        assert len(set(flat)) == len(flat)  # nothing twice
        if not drop_last:
            assert sorted(flat) == list(range(N))  # everything once
        if not shuffle:
            assert flat == list(range(len(flat)))
    for xb, yb in loader:  # labels travel with their features
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


def test_len_counts_batches():
    x, y = _data(64)
    assert len(DataLoader((x, y), batch_size=32)) == 2
    assert len(DataLoader((x, y), batch_size=30)) == 3
    assert len(DataLoader((x, y), batch_size=30, drop_last=True)) == 2
    assert len(DataLoader((x, y), batch_size=100, drop_last=True)) == 0
    assert list(DataLoader((x, y), batch_size=100, drop_last=True)) == []


def test_shuffle_differs_between_epochs():
    loader = DataLoader(TensorDataset(*_data()), batch_size=BS, shuffle=True, seed=0)
    assert _ids(loader) != _ids(loader)


def test_seed_reproducible_and_independent_of_global_generator():
    def epochs(seed):
        loader = DataLoader(TensorDataset(*_data()), batch_size=BS, shuffle=True, seed=seed)
        out = []
        for _ in range(3):
            sj.randn(10)  # global draws in between must not matter
            out.append(_ids(loader))
        return out

    sj.manual_seed(1)
    a = epochs(7)
    sj.manual_seed(2)
    assert epochs(7) == a
    assert epochs(8) != a


def test_manual_seed_makes_seedless_loader_reproducible():
    loader = DataLoader(TensorDataset(*_data()), batch_size=BS, shuffle=True)
    sj.manual_seed(5)
    a = [_ids(loader), _ids(loader)]
    sj.manual_seed(5)
    assert [_ids(loader), _ids(loader)] == a
    sj.manual_seed(6)
    assert [_ids(loader), _ids(loader)] != a


def test_batch_dtypes():
    x64, y = _data()
    ds = TensorDataset(x64, y, x64.astype(np.float16), y.astype(np.uint8),
                       sj.tensor(x64, dtype=sj.float64))
    xb, yb, hb, ub, tb = next(iter(DataLoader(ds, batch_size=4)))
    assert all(isinstance(t, sj.Tensor) for t in (xb, yb, hb, ub, tb))
    assert xb.dtype == np.float32 and xb.shape == (4, 3)
    assert yb.dtype == np.int64 and yb.shape == (4,)
    assert hb.dtype == np.float16 and ub.dtype == np.uint8
    assert tb.dtype == np.float64  # a float64 Tensor was asked for, so it stays
    assert not xb.requires_grad


def test_generic_path_dtypes_python_numbers():
    class Numbers(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return np.array([i, i + 0.5]), float(i), i, {"w": 0.5}

    xb, fb, yb, d = next(iter(DataLoader(Numbers(), batch_size=4)))
    assert xb.dtype == np.float32 and xb.shape == (4, 2)
    assert fb.dtype == np.float32 and fb.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert yb.dtype == np.int64 and yb.tolist() == [0, 1, 2, 3]
    assert d["w"].dtype == np.float32


def test_default_dtype_float64_keeps_float64():
    sj.set_default_dtype(sj.float64)
    try:
        xb, _ = next(iter(DataLoader(TensorDataset(*_data()), batch_size=4)))
    finally:
        sj.set_default_dtype(sj.float32)
    assert xb.dtype == np.float64


@pytest.mark.parametrize("shuffle", [False, True])
def test_generic_path_matches_fast_path(shuffle):
    x, y = _data()
    kw = dict(batch_size=BS, shuffle=shuffle, seed=3)
    fast = DataLoader(TensorDataset(x, y), **kw)
    generic = DataLoader(ListDataset(x, y), **kw)
    for _ in range(2):
        for (fx, fy), (gx, gy) in zip(fast, generic, strict=True):
            assert fx.dtype == gx.dtype and fy.dtype == gy.dtype
            np.testing.assert_array_equal(fx.numpy(), gx.numpy())
            np.testing.assert_array_equal(fy.numpy(), gy.numpy())


class CountingArray(np.ndarray):
    calls = 0

    def __getitem__(self, index):
        CountingArray.calls += 1
        return super().__getitem__(index)


@pytest.mark.parametrize("shuffle", [False, True])
def test_fast_path_indexes_whole_arrays_once_per_batch(shuffle):
    x, y = _data(100)
    CountingArray.calls = 0
    loader = DataLoader(TensorDataset(x.view(CountingArray), y), batch_size=10, shuffle=shuffle)
    assert len(list(loader)) == 10
    assert CountingArray.calls == 10


def test_subset_of_tensor_dataset_uses_fast_path_and_right_rows():
    x, y = _data(100)
    CountingArray.calls = 0
    train, _ = random_split(TensorDataset(x.view(CountingArray), y), [0.8, 0.2], seed=0)
    batches = list(DataLoader(train, batch_size=16))
    assert CountingArray.calls == len(batches) == 5
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), train.indices)


def test_subclass_with_own_getitem_is_respected():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    x, y = _data()
    xb, yb = next(iter(DataLoader(Doubled(x, y), batch_size=4)))
    np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


def test_collate_fn_is_used():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return len(samples)

    assert list(DataLoader(TensorDataset(*_data()), batch_size=BS, collate_fn=collate)) == \
        [5, 5, 5, 5, 3]
    assert seen == [5, 5, 5, 5, 3]


def test_batches_do_not_alias_the_data():
    x, y = _data()
    xb, _ = next(iter(DataLoader((x, y), batch_size=4)))
    xb.numpy()[:] = -1.0
    x32 = x.astype(np.float32)
    xb, _ = next(iter(DataLoader((x32, y), batch_size=4)))
    xb.numpy()[:] = -1.0
    assert x.min() == 0 and x32.min() == 0


def test_arrays_given_directly():
    x, y = _data()
    (xb,) = next(iter(DataLoader(x, batch_size=4)))
    assert xb.shape == (4, 3)
    xb, yb = next(iter(DataLoader((sj.tensor(x), y), batch_size=4)))
    assert isinstance(xb, sj.Tensor) and yb.tolist() == [0, 1, 2, 3]


def test_sampler_sets_the_order():
    order = [4, 0, 22, 7, 7, 1]
    loader = DataLoader(TensorDataset(*_data()), batch_size=4, sampler=order)
    assert len(loader) == 2
    assert _ids(loader) == [[4, 0, 22, 7], [7, 1]]
    generic = DataLoader(ListDataset(*_data()), batch_size=4, sampler=order)
    assert _ids(generic) == [[4, 0, 22, 7], [7, 1]]
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(TensorDataset(*_data()), sampler=order, shuffle=True)


@pytest.mark.parametrize("bs", [0, -3, 2.5, True, "32", None])
def test_batch_size_must_be_positive_int(bs):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(*_data()), batch_size=bs)


def test_rejects_non_dataset():
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(42)
