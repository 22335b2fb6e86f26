"""Embedding against torch.nn.Embedding (values, weight gradient with repeated ids), its
mask, bad ids; pad_sequences against results worked out by hand from Keras' rules;
sequence_mask."""
import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn
from shenjing.explain import gradcheck


def test_embedding_matches_torch_with_repeated_ids():
    emb = nn.Embedding(10, 4)
    ref = torch.nn.Embedding(10, 4)
    ref.weight.data[...] = torch.tensor(emb.embeddings.numpy())
    ids = np.array([[1, 3, 3, 0], [9, 1, 1, 1]])
    y, ty = emb(ids), ref(torch.tensor(ids))
    assert y.shape == (2, 4, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    g = np.random.default_rng(0).standard_normal((2, 4, 4)).astype(np.float32)
    (y * sj.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(emb.embeddings.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-6)
    unused = np.setdiff1d(np.arange(10), ids)
    assert not emb.embeddings.grad.numpy()[unused].any()  # only the used rows receive


def test_embedding_op_gradcheck_and_any_id_shape():
    ids = np.array([[[0, 2], [2, 2]], [[1, 0], [4, 2]]])
    w = np.random.default_rng(1).standard_normal((5, 3))
    assert gradcheck(lambda w: sj.ops.embedding(ids, w), [w]).ok
    assert sj.ops.embedding(sj.tensor(ids), sj.tensor(w)).shape == (2, 2, 2, 3)


def test_embedding_initialiser_and_config():
    sj.manual_seed(0)
    emb = nn.Embedding(1000, 8)
    e = emb.embeddings.numpy()
    assert e.shape == (1000, 8) and np.abs(e).max() <= 0.05 and e.std() > 0.02  # Keras uniform
    config = emb.get_config()
    assert nn.Embedding.from_config(config).get_config() == config
    assert "1000, 8" in repr(emb)


def test_embedding_mask():
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    assert nn.Embedding(5, 2).compute_mask(ids) is None
    mask = nn.Embedding(5, 2, mask_zero=True).compute_mask(sj.tensor(ids))
    np.testing.assert_array_equal(mask.numpy(), ids != 0)
    # the recurrent layer after it in a Sequential ignores the padded steps
    sj.manual_seed(0)
    model = sj.Sequential([nn.Embedding(5, 3, mask_zero=True), nn.GRU(4)])
    short = model(ids[:, :2]).numpy()
    np.testing.assert_allclose(model(ids).numpy()[0], short[0], rtol=1e-6)
    np.testing.assert_allclose(model(ids[1:, :1]).numpy()[0], model(ids).numpy()[1], rtol=1e-6)


def test_embedding_errors():
    emb = nn.Embedding(10, 3, name="tokens")
    with pytest.raises(IndexError, match=r"Embedding 'tokens' got token id 10, outside "
                                         r"\[0, 9\]: the table has input_dim=10 rows"):
        emb(np.array([[1, 10, 2]]))
    with pytest.raises(IndexError, match=r"Embedding 'tokens' got token id -1"):
        emb(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="non-integral floats"):
        emb(np.array([[1.5, 2.0]]))
    assert emb(np.array([[1.0, 2.0]])).shape == (1, 2, 3)  # whole floats are fine
    with pytest.raises(ValueError, match="positive int for `output_dim`"):
        nn.Embedding(10, 0)
    with pytest.raises(ValueError, match=r"input_length=4 but got ids of shape \(1, 3\)"):
        nn.Embedding(10, 3, input_length=4)(np.array([[1, 2, 3]]))


def test_pad_sequences_keras_rules():
    seqs = [[1, 2, 3, 4], [5, 6], [], [7]]
    x = nn.pad_sequences(seqs)
    assert x.dtype == np.int64 and x.shape == (4, 4)
    np.testing.assert_array_equal(x, [[1, 2, 3, 4], [0, 0, 5, 6], [0, 0, 0, 0], [0, 0, 0, 7]])
    np.testing.assert_array_equal(nn.pad_sequences(seqs, padding="post"),
                                  [[1, 2, 3, 4], [5, 6, 0, 0], [0, 0, 0, 0], [7, 0, 0, 0]])
    np.testing.assert_array_equal(nn.pad_sequences(seqs, maxlen=3),
                                  [[2, 3, 4], [0, 5, 6], [0, 0, 0], [0, 0, 7]])
    np.testing.assert_array_equal(nn.pad_sequences(seqs, maxlen=3, truncating="post",
                                                   padding="post", value=-1),
                                  [[1, 2, 3], [5, 6, -1], [-1, -1, -1], [7, -1, -1]])
    f = nn.pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=9)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, [[9, 0.5, 1.5]])
    v = nn.pad_sequences([np.ones((2, 3)), np.full((1, 3), 2)])  # items with a feature axis
    assert v.shape == (2, 2, 3)
    np.testing.assert_array_equal(v[1], [[0, 0, 0], [2, 2, 2]])
    assert nn.pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    with pytest.raises(ValueError, match='padding must be "pre" or "post"'):
        nn.pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match="non-sequence item 3"):
        nn.pad_sequences([[1], 3])
    with pytest.raises(ValueError, match=r"sequence 1 has items of shape \(2,\)"):
        nn.pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


def test_sequence_mask():
    np.testing.assert_array_equal(nn.sequence_mask([1, 3], 4),
                                  [[1, 0, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(nn.sequence_mask(np.array([2, 0]), padding="pre"),
                                  [[1, 1], [0, 0]])
    with pytest.raises(ValueError, match="non-negative int lengths"):
        nn.sequence_mask([1.5])
