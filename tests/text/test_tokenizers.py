"""Tokenizers: vocabulary order, reserved ids, round trips, unknown tokens, save/load."""
import json

import numpy as np
import pytest

import shenjing as sj
from shenjing.text import CharTokenizer, WordTokenizer, load_tokenizer


def test_char_tokenizer_reserves_pad_and_unk_and_orders_by_frequency():
    tok = CharTokenizer().fit("abracadabra")
    assert tok.get_vocabulary()[:2] == ["<pad>", "<unk>"]
    assert (tok.pad_id, tok.unk_id) == (0, 1)
    # a:5, b:2, r:2 (b first seen first), c:1, d:1
    assert tok.get_vocabulary()[2:] == ["a", "b", "r", "c", "d"]
    assert tok.vocab_size == len(tok) == 7
    assert tok.encode("cab") == [5, 2, 3]


def test_char_round_trip_and_unknown_characters():
    text = "Shall I compare thee to a summer's day?\n"
    tok = CharTokenizer().fit(text)
    assert tok.decode(tok.encode(text)) == text
    ids = tok.encode("Shall Z")
    assert ids[-1] == tok.unk_id
    assert tok.decode(ids) == "Shall <unk>"
    assert tok.decode([0, *tok.encode("hall"), 0]) == "hall"  # padding is dropped
    assert tok.decode([0], skip_special=False) == "<pad>"


def test_char_lower_and_decode_accepts_arrays():
    tok = CharTokenizer(lower=True).fit("AbC")
    assert tok.vocab_size == 5
    assert tok.encode("ABC") == tok.encode("abc")
    assert tok.decode(np.array(tok.encode("cab"), dtype=np.int64)) == "cab"


def test_word_tokenizer_splits_punctuation_and_restores_prose():
    tok = WordTokenizer().fit("Four score and seven (years) ago, our fathers brought forth!")
    assert tok.tokenize("Hello, world!") == ["hello", ",", "world", "!"]
    assert tok.tokenize("Don't stop") == ["don't", "stop"]
    assert tok.decode(tok.encode("Our fathers, four score (and seven)!")) == \
        "our fathers, four score (and seven)!"
    assert tok.encode("nation")[0] == tok.unk_id


def test_word_tokenizer_options():
    plain = WordTokenizer(lower=False, split_punctuation=False).fit("The cat. the cat.")
    assert plain.tokenize("The cat.") == ["The", "cat."]
    assert plain.vocab_size == 2 + 3
    capped = WordTokenizer(max_tokens=4).fit("a a a b b c")
    assert capped.get_vocabulary() == ["<pad>", "<unk>", "a", "b"]
    assert capped.encode("c") == [capped.unk_id]
    frequent = WordTokenizer(min_freq=2).fit("a a b")
    assert frequent.get_vocabulary()[2:] == ["a"]


def test_fit_on_several_texts_and_special_tokens_are_not_duplicated():
    tok = WordTokenizer(split_punctuation=False).fit(["<unk> x", "y <pad> x"])
    assert tok.get_vocabulary() == ["<pad>", "<unk>", "x", "y"]


@pytest.mark.parametrize("cls, kwargs", [(CharTokenizer, {"lower": True}),
                                         (WordTokenizer, {"split_punctuation": False,
                                                          "max_tokens": 50})])
def test_save_and_load_round_trip(tmp_path, cls, kwargs):
    tok = cls(**kwargs).fit(sj.text.load_corpus()[:3000])
    path = tok.save(tmp_path / "vocab.json")
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["class"] == cls.__name__
    for loaded in (cls.load(path), load_tokenizer(path)):
        assert type(loaded) is cls
        assert loaded.get_vocabulary() == tok.get_vocabulary()
        assert loaded.get_config() == tok.get_config()
        sample = "When in the Course of human events"
        assert loaded.encode(sample) == tok.encode(sample)


def test_load_rejects_the_other_class(tmp_path):
    path = CharTokenizer().fit("abc").save(tmp_path / "chars.json")
    with pytest.raises(ValueError, match="CharTokenizer"):
        WordTokenizer.load(path)


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="max_tokens"):
        WordTokenizer(max_tokens=2)
    with pytest.raises(ValueError, match="min_freq"):
        CharTokenizer(min_freq=0)
    with pytest.raises(TypeError, match="string"):
        CharTokenizer().fit([1, 2])
    with pytest.raises(TypeError, match="string"):
        CharTokenizer().fit("ab").encode(3)
    with pytest.raises(ValueError, match="valid ids are 0..3"):
        CharTokenizer().fit("ab").decode([4])


def test_shipped_corpus_and_language_model_windows():
    text = sj.text.load_corpus()
    assert 50_000 < len(text) < 200_000
    assert not text.startswith("#") and "Four score and seven years ago" in text
    assert sj.text.corpora() == ["public_domain_english"]
    ids = CharTokenizer().fit(text).encode(text)
    assert 2.5 < sj.text.unigram_entropy(ids) < 3.5
    x, y = sj.text.sliding_windows(ids, seq_len=16, stride=5)
    assert x.shape == y.shape == ((len(ids) - 17) // 5 + 1, 16) and x.dtype == np.int64
    assert (x[:, 1:] == y[:, :-1]).all() and (x[1] == ids[5:21]).all()
    ds = sj.text.LanguageModelDataset(ids, seq_len=16, stride=5)
    assert len(ds) == len(x)
    xi, yi = ds[3]
    assert (xi == x[3]).all() and (yi == y[3]).all()
    xb, yb = ds[np.array([0, 7])]
    assert (xb == x[[0, 7]]).all() and (yb == y[[0, 7]]).all()
    xs, ys = next(iter(sj.data.DataLoader(ds, batch_size=4)))
    assert tuple(xs.shape) == (4, 16) and (xs.numpy() == x[:4]).all()


def test_windows_and_entropy_edge_cases():
    x, y = sj.text.sliding_windows([5, 6, 7, 8, 9], seq_len=3)
    assert x.tolist() == [[5, 6, 7], [6, 7, 8]] and y.tolist() == [[6, 7, 8], [7, 8, 9]]
    with pytest.raises(ValueError, match="seq_len \\+ 1 = 6"):
        sj.text.sliding_windows([1, 2, 3], seq_len=5)
    with pytest.raises(ValueError, match="integer token ids"):
        sj.text.sliding_windows(np.zeros((2, 3), dtype=np.int64), seq_len=1)
    assert sj.text.unigram_entropy([3, 3, 3]) == 0.0
    assert np.isclose(sj.text.unigram_entropy([1, 2, 3, 4]), np.log(4))
    train, val = sj.text.split_ids(np.arange(10), 0.25)
    assert train.tolist() == list(range(7)) and val.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="no corpus named 'nope'"):
        sj.text.load_corpus("nope")
