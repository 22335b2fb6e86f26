"""Image transforms: shapes, seeded determinism, exact geometry, and use through the DataLoader."""
import numpy as np
import pytest

import shenjing as sj
from shenjing.data import transforms as T


def _img(c=3, h=8, w=10, seed=0, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 256, (c, h, w)).astype(dtype)


RANDOM = [
    lambda rng: T.RandomHorizontalFlip(rng=rng),
    lambda rng: T.RandomVerticalFlip(rng=rng),
    lambda rng: T.RandomCrop((8, 10), padding=2, rng=rng),
    lambda rng: T.RandomCrop(6, padding=1, pad_mode="reflect", rng=rng),
    lambda rng: T.RandomTranslation(3, 2, rng=rng),
    lambda rng: T.RandomRotation(30, rng=rng),
    lambda rng: T.RandomRotation((-20, 20), interpolation="nearest", rng=rng),
    lambda rng: T.RandomZoom((0.8, 1.2), rng=rng),
    lambda rng: T.ColorJitter(0.4, 0.4, rng=rng),
    lambda rng: T.RandomErasing(p=1.0, rng=rng),
]


@pytest.mark.parametrize("make", RANDOM)
def test_random_transforms_shape_dtype_determinism_no_mutation(make):
    x = _img()
    before = x.copy()
    t = make(7)
    seq1 = [t(x) for _ in range(6)]
    t = make(7)
    seq2 = [t(x) for _ in range(6)]
    for a, b in zip(seq1, seq2):
        np.testing.assert_array_equal(a, b)  # same seed, same sequence of draws
    assert any(not np.array_equal(seq1[0], s) for s in seq1[1:])  # draws change call to call
    assert seq1[0].dtype == x.dtype
    expected = (3, 6, 6) if getattr(t, "size", None) == (6, 6) else x.shape
    assert all(s.shape == expected for s in seq1)
    np.testing.assert_array_equal(x, before)  # the input is never written into


@pytest.mark.parametrize("make", RANDOM)
def test_batches_and_hw_images(make):
    x = np.stack([_img(seed=s) for s in range(4)])
    out = make(0)(x)
    assert out.shape[0] == 4 and out.dtype == x.dtype
    hw = make(0)(x[0, 0])
    assert hw.ndim == 2


def test_global_generator_is_used_without_rng():
    x = _img()
    sj.manual_seed(3)
    a = [T.RandomCrop(8, padding=3)(x) for _ in range(4)]
    sj.manual_seed(3)
    b = [T.RandomCrop(8, padding=3)(x) for _ in range(4)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(TypeError, match="rng"):
        T.RandomCrop(8, rng="seed")


def test_flips_really_flip():
    x = _img()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x), x[:, ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)
    batch = np.stack([_img(seed=s) for s in range(200)])
    out = T.RandomHorizontalFlip(p=0.5, rng=0)(batch)
    flipped = np.array([np.array_equal(o, b[:, :, ::-1]) for o, b in zip(out, batch)])
    kept = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
    assert np.all(flipped ^ kept) and 70 < flipped.sum() < 130
    with pytest.raises(ValueError, match="probability"):
        T.RandomHorizontalFlip(p=1.5)


def test_crop_with_padding_is_a_window_of_the_padded_image():
    x = np.arange(1 * 6 * 6, dtype=np.float32).reshape(1, 6, 6) + 1  # no zeros inside
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    seen = set()
    t = T.RandomCrop(6, padding=2, rng=1)
    for _ in range(60):
        out = t(x)
        hits = [(i, j) for i in range(5) for j in range(5)
                if np.array_equal(padded[:, i:i + 6, j:j + 6], out)]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 10  # offsets cover the whole range 0..4
    reflect = T.RandomCrop(10, padding=2, pad_mode="reflect", rng=0)(x)
    np.testing.assert_array_equal(reflect, np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="reflect"))
    with pytest.raises(ValueError, match="larger than the padded image"):
        T.RandomCrop(11, padding=2)(x)
    with pytest.raises(ValueError, match="pad_mode"):
        T.RandomCrop(4, pad_mode="wrap")


def test_to_float_and_normalize_math():
    x = _img()
    f = T.ToFloat()(x)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, x / 255.0, rtol=1e-6)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]
    out = T.Normalize(mean, std)(f)
    assert out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[c], (f[c] - mean[c]) / std[c], rtol=1e-5, atol=1e-6)
    batch = np.stack([f, f * 0.5])
    np.testing.assert_allclose(T.Normalize(mean, std)(batch)[1], T.Normalize(mean, std)(f * 0.5),
                               rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 2.0)(f), (f - 0.5) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        T.Normalize([0.1, 0.2], [1, 1])(f)
    with pytest.raises(ValueError, match="positive"):
        T.Normalize(0, 0)


def test_rotation_90_matches_rot90_and_zoom_identity():
    x = _img(c=2, h=7, w=7).astype(np.float32)
    rot = T.RandomRotation((90, 90), interpolation="nearest")
    np.testing.assert_array_equal(rot(x), np.rot90(x, 1, axes=(1, 2)))
    bil = T.RandomRotation((90, 90))(x)
    np.testing.assert_allclose(bil, np.rot90(x, 1, axes=(1, 2)), atol=1e-3)
    np.testing.assert_allclose(T.RandomRotation(0)(x), x, atol=1e-5)
    np.testing.assert_allclose(T.RandomZoom((1.0, 1.0))(x), x, atol=1e-5)
    # zoom in by 2 about the centre: the centre pixel stays, corners fall inside the image
    z = T.RandomZoom((2.0, 2.0), interpolation="nearest")(x)
    np.testing.assert_array_equal(z[:, 3, 3], x[:, 3, 3])
    # zoom out by 2: the border comes from outside the image and gets `fill`
    out = T.RandomZoom((0.5, 0.5), fill=-1)(x)
    assert np.all(out[:, 0, :] == -1) and np.all(out[:, 3, 3] == x[:, 3, 3])


def test_bilinear_interpolates_between_pixels():
    x = np.tile(np.arange(5, dtype=np.float32) * 10, (1, 5, 1))  # x[0, i, j] == 10 j
    # zoom 4/3 about the centre (2, 2): output column 4 reads input column 3.5
    out = T.RandomZoom((4 / 3, 4 / 3))(x)
    np.testing.assert_allclose(out[0, 2, 4], 35.0, rtol=1e-5)
    near = T.RandomZoom((4 / 3, 4 / 3), interpolation="nearest")(x)
    assert near[0, 2, 4] in (30.0, 40.0)


def test_rotation_180_and_integer_images():
    x = np.zeros((1, 5, 5), np.float32)
    x[0, :, 3] = 1.0
    # rotating 180 degrees maps column 3 to column 1 exactly
    np.testing.assert_allclose(T.RandomRotation((180, 180))(x)[0, :, 1], 1.0, atol=1e-5)
    u8 = (x * 255).astype(np.uint8)
    out = T.RandomRotation((180, 180))(u8)
    assert out.dtype == np.uint8 and out[0, 2, 1] == 255


def test_translation_shifts_content():
    x = np.arange(1, 26, dtype=np.int32).reshape(1, 5, 5)
    t = T.RandomTranslation(2, 2, rng=0)
    for _ in range(20):
        out = t(x)
        shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                  if np.array_equal(out, _shift(x, dy, dx))]
        assert len(shifts) == 1


def _shift(x, dy, dx):
    out = np.zeros_like(x)
    H, W = x.shape[-2:]
    for i in range(H):
        for j in range(W):
            if 0 <= i - dy < H and 0 <= j - dx < W:
                out[:, i, j] = x[:, i - dy, j - dx]
    return out


def test_color_jitter():
    x = _img().astype(np.float32) + 1
    np.testing.assert_allclose(T.ColorJitter(0, 0)(x), x, rtol=1e-6)
    out = T.ColorJitter(brightness=0.5, rng=0)(x)
    ratio = out / x
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4)  # one factor for all
    assert 0.5 <= ratio.flat[0] <= 1.5
    u8 = T.ColorJitter(brightness=(2.0), rng=0)(np.full((3, 4, 4), 200, np.uint8))
    assert u8.dtype == np.uint8 and u8.max() <= 255
    c = T.ColorJitter(contrast=0.9, rng=1)(x)
    grey = np.tensordot([0.299, 0.587, 0.114], x, 1).mean()
    np.testing.assert_allclose(np.tensordot([0.299, 0.587, 0.114], c, 1).mean(), grey, rtol=1e-4)


def test_random_erasing_rectangle_within_bounds():
    x = np.ones((3, 20, 30), np.float32)
    t = T.RandomErasing(p=1.0, scale=(0.05, 0.2), ratio=(0.5, 2.0), value=0, rng=0)
    for _ in range(50):
        out = t(x)
        erased = np.argwhere(out[0] == 0)
        assert len(erased), "p=1 always erases"
        (i0, j0), (i1, j1) = erased.min(0), erased.max(0)
        h, w = i1 - i0 + 1, j1 - j0 + 1
        assert len(erased) == h * w  # one filled rectangle
        assert np.all(out[:, i0:i1 + 1, j0:j1 + 1] == 0) and (out == 0).sum() == 3 * h * w
        assert 0.05 * 600 * 0.7 <= h * w <= 0.2 * 600 * 1.3 and h < 20 and w < 30
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x), x)
    per_channel = T.RandomErasing(p=1.0, value=[1.0, 2.0, 3.0], rng=0)(np.zeros((3, 9, 9)))
    assert set(np.unique(per_channel[2])) <= {0.0, 3.0} and per_channel[2].max() == 3.0


def test_compose_order():
    x = _img()
    t = T.Compose([T.RandomHorizontalFlip(p=1.0), T.ToFloat(), T.Normalize(0.5, 0.5)])
    np.testing.assert_allclose(t(x), (x[:, :, ::-1] / 255.0 - 0.5) / 0.5, rtol=1e-5, atol=1e-6)
    assert "RandomHorizontalFlip" in repr(t)


def test_transform_dataset_through_the_dataloader():
    x = np.stack([_img(c=1, h=6, w=6, seed=s) for s in range(10)])
    y = np.arange(10)
    base = sj.data.TensorDataset(x, y)
    ds = T.TransformDataset(base, T.Compose([T.RandomHorizontalFlip(p=1.0), T.ToFloat()]),
                            target_transform=lambda v: v * 2)
    assert len(ds) == 10
    xs, ys = [], []
    for xb, yb in sj.data.DataLoader(ds, batch_size=4, shuffle=True, seed=0):
        assert xb.shape[1:] == (1, 6, 6) and xb.dtype == np.float32 and yb.dtype == np.int64
        xs.append(xb.data)
        ys.append(yb.data)
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    order = ys // 2
    np.testing.assert_array_equal(np.sort(ys), 2 * y)
    np.testing.assert_allclose(xs, x[order][..., ::-1] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(base.arrays[0], x)  # the data set itself is untouched
    # random draws differ epoch to epoch, and repeat with the same seed
    aug = T.TransformDataset(base, T.RandomCrop(6, padding=2, rng=5))
    e1 = next(iter(sj.data.DataLoader(aug, batch_size=10)))[0].data
    e2 = next(iter(sj.data.DataLoader(aug, batch_size=10)))[0].data
    assert not np.array_equal(e1, e2)
    again = T.TransformDataset(base, T.RandomCrop(6, padding=2, rng=5))
    np.testing.assert_array_equal(next(iter(sj.data.DataLoader(again, batch_size=10)))[0].data,
                                  e1)
    with pytest.raises(TypeError, match="int index"):
        ds[np.array([0, 1])]
