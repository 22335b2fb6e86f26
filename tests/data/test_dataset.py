"""Dataset, TensorDataset, Subset and random_split."""
import numpy as np
import pytest

import shenjing as sj
from shenjing.data import Dataset, Subset, TensorDataset, random_split


def test_tensor_dataset_length_mismatch_names_lengths():
    with pytest.raises(ValueError, match=r"\[10, 9\]"):
        TensorDataset(np.zeros((10, 3)), np.zeros(9))


def test_tensor_dataset_needs_arrays_and_first_dimension():
    with pytest.raises(ValueError):
        TensorDataset()
    with pytest.raises(ValueError, match="scalar"):
        TensorDataset(np.zeros(3), np.float32(1.0))


def test_tensor_dataset_items():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(xi, x[4])
    assert yi == 4
    xb, yb = ds[np.array([5, 0, 2])]
    np.testing.assert_array_equal(xb, x[[5, 0, 2]])
    np.testing.assert_array_equal(yb, [5, 0, 2])
    xl, _ = ds[[1, 3]]
    np.testing.assert_array_equal(xl, x[[1, 3]])


def test_tensor_dataset_keeps_tensors_and_converts_lists():
    ds = TensorDataset(sj.tensor([[1.0, 2.0], [3.0, 4.0]]), [0, 1])
    xi, yi = ds[1]
    assert isinstance(xi, sj.Tensor) and xi.tolist() == [3.0, 4.0]
    assert isinstance(ds.arrays[1], np.ndarray) and yi == 1


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()

    class Squares(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return i * i

    assert [Squares()[i] for i in range(4)] == [0, 1, 4, 9]


def test_subset_maps_indices():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert sub[0][0] == 70 and sub[-1][0] == 50
    np.testing.assert_array_equal(sub[np.array([2, 1])][0], [50, 20])


@pytest.mark.parametrize("lengths, sizes", [([70, 20, 10], [70, 20, 10]),
                                            ([0.5, 0.3, 0.2], [50, 30, 20]),
                                            ([1 / 3, 1 / 3, 1 / 3], [34, 33, 33])])
def test_random_split_sizes_and_disjoint(lengths, sizes):
    ds = TensorDataset(np.arange(100))
    parts = random_split(ds, lengths, seed=1)
    assert [len(p) for p in parts] == sizes
    seen = np.concatenate([p[np.arange(len(p))][0] for p in parts])
    assert sorted(seen.tolist()) == list(range(100))  # disjoint and covering
    assert seen.tolist() != list(range(100))  # shuffled


def test_random_split_seeding():
    ds = TensorDataset(np.arange(50))
    a = random_split(ds, [25, 25], seed=3)[0].indices
    b = random_split(ds, [25, 25], seed=3)[0].indices
    c = random_split(ds, [25, 25], seed=4)[0].indices
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    sj.manual_seed(0)
    d = random_split(ds, [25, 25])[0].indices
    sj.manual_seed(0)
    np.testing.assert_array_equal(d, random_split(ds, [25, 25])[0].indices)


@pytest.mark.parametrize("lengths", [[60, 30], [60, 50], [0.5, 0.4], [1.2, -0.2], []])
def test_random_split_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError):
        random_split(TensorDataset(np.arange(100)), lengths)
