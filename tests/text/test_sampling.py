"""Sampling helpers: temperature, top-k, greedy, seeding, and the generate loop."""
import numpy as np
import pytest

import shenjing as sj
from shenjing.text import CharTokenizer, generate, sample_logits


def test_greedy_and_shapes():
    logits = np.array([0.0, 5.0, 1.0])
    assert sample_logits(logits, temperature=0) == 1
    batch = np.array([[0.0, 5.0, 1.0], [9.0, 0.0, 0.0]])
    out = sample_logits(batch, temperature=0)
    assert out.dtype == np.int64 and out.tolist() == [1, 0]
    assert sample_logits(sj.tensor(logits), temperature=0) == 1


def test_sampling_frequencies_follow_softmax_of_logits_over_temperature():
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    rng = np.random.default_rng(0)
    draws = sample_logits(np.tile(logits, (20000, 1)), rng=rng)
    freq = np.bincount(draws, minlength=3) / draws.size
    assert np.allclose(freq, [0.5, 0.3, 0.2], atol=0.015)
    hot = sample_logits(np.tile(logits, (20000, 1)), temperature=0.5, rng=rng)
    p = np.array([0.5, 0.3, 0.2]) ** 2
    assert np.allclose(np.bincount(hot, minlength=3) / hot.size, p / p.sum(), atol=0.015)


def test_top_k_keeps_only_the_k_largest():
    logits = np.array([1.0, 3.0, 2.0, 0.5, 2.9])
    draws = sample_logits(np.tile(logits, (5000, 1)), temperature=5.0, top_k=2, rng=1)
    assert set(draws.tolist()) == {1, 4}
    assert sample_logits(logits, top_k=1, rng=0) == 1


def test_rng_seeds_repeat_and_default_generator_follows_manual_seed():
    logits = np.zeros(50)
    assert sample_logits(logits, rng=3) == sample_logits(logits, rng=3)
    sj.manual_seed(7)
    a = [sample_logits(logits) for _ in range(5)]
    sj.manual_seed(7)
    assert a == [sample_logits(logits) for _ in range(5)]


def test_bad_sampling_arguments():
    with pytest.raises(ValueError, match="temperature"):
        sample_logits(np.zeros(3), temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample_logits(np.zeros(3), top_k=0)
    with pytest.raises(ValueError, match="shape \\(V,\\) or \\(B, V\\)"):
        sample_logits(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="rng"):
        sample_logits(np.zeros(3), rng="seed")


class CopyLast(sj.nn.Module):
    """A fake language model: the next token is always the last one plus one (cyclically
    over the fitted ids), as (1, T, V) logits."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size, self.calls = vocab_size, []

    def forward(self, x):
        ids = x.numpy()
        self.calls.append(ids.shape)
        nxt = np.where(ids + 1 < self.vocab_size, ids + 1, 2)
        return sj.tensor(np.eye(self.vocab_size, dtype=np.float32)[nxt] * 10)


def test_generate_appends_sampled_tokens_and_respects_context():
    tok = CharTokenizer().fit("aaaabbbcc")  # ids: a=2, b=3, c=4
    model = CopyLast(tok.vocab_size)
    model.train()
    assert generate(model, tok, "a", length=5, temperature=0) == "abcabc"
    assert model.training  # restored
    model.calls.clear()
    generate(model, tok, "ab", length=4, temperature=0.5, top_k=1, context=3)
    assert [c[1] for c in model.calls] == [2, 3, 3, 3]


def test_generate_with_a_real_model_and_probabilities():
    tok = CharTokenizer().fit("hello world")
    sj.manual_seed(0)
    model = sj.Sequential([sj.nn.Embedding(tok.vocab_size, 8), sj.nn.Dense(tok.vocab_size),
                           sj.nn.Softmax()])
    out = generate(model, tok, "he", length=20, rng=0, probabilities=True)
    assert out.startswith("he") and len(out) == 22 and "<unk>" not in out
    assert out == generate(model, tok, "he", length=20, rng=0, probabilities=True)


def test_generate_rejects_empty_prompt_and_bad_length():
    tok = CharTokenizer().fit("abc")
    with pytest.raises(ValueError, match="non-empty prompt"):
        generate(CopyLast(tok.vocab_size), tok, "", length=3)
    with pytest.raises(ValueError, match="length"):
        generate(CopyLast(tok.vocab_size), tok, "a", length=-1)
