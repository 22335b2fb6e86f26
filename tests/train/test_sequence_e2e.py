"""End to end, sequence models: small fits with fixed seeds must pass thresholds.

Measured on one core with one BLAS thread (times are the fits):
  * MNIST-1D GRU: the recipe as it is: the paper's bidirectional GRU 6, Adam lr 1e-2,
    batch 100, 150 epochs = 6,000 steps, ~65 s.  Seed 0 reaches 88.5% (seeds 1, 2: 92.0%,
    90.0%); the test asks for the issue's 87%.  Shorter runs are not a fair check: at lr 1e-2
    the accuracy wanders ±1 point from epoch to epoch (seed 0: 87.8% after 30 epochs, 87.3%
    after 80).
  * adding problem at the recipe's T=100 (baseline MSE 1/6 ≈ 0.167): GRU, 3 epochs of 200
    steps (~9 s): MSE 0.0011 (seeds 1, 2: 0.0004, 0.0006); LSTM, 6 epochs (~22 s): MSE
    0.0005 — its plateau before it finds the markers lasts 2-4 epochs depending on the seed
    (seed 1: still 0.159 after 4 epochs, 0.0024 after 6).  SimpleRNN trained for as long as
    the LSTM stays at 0.162 (vanishing gradients).
  * char-lm on 1,600 windows, 100-200 steps; seq2seq-reverse on strings of 1-6 digits.
"""
import numpy as np
import pytest

import shenjing as sj
from shenjing import recipes, text
from shenjing.recipes import sequence as S

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tests/conftest.py


def test_mnist1d_gru_full_recipe_reaches_87_percent():
    pytest.importorskip("mnist1d")
    recipe = recipes.get("mnist1d-gru")
    assert (recipe.lr, recipe.batch_size, recipe.seed) == (1e-2, 100, 0)
    sj.manual_seed(recipe.seed)
    model, ((x, y), (x_test, y_test)) = S.mnist1d_gru(lr=recipe.lr)
    assert x.shape[1:] == (40, 1) and len(x) == 4000
    assert recipe.epochs * len(x) // recipe.batch_size == 6000  # the paper's 6,000 steps
    model.fit(x, y, epochs=recipe.epochs, batch_size=recipe.batch_size, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500)
    assert accuracy >= 0.87, f"MNIST-1D GRU test accuracy {accuracy:.4f} < 0.87"


def _adding(cell, epochs, length=100, samples=10000):
    sj.manual_seed(0)
    model, ((x, y), test) = S._adding(1e-2, cell, length, 32, samples, None)
    model.fit(x, y, epochs=epochs, batch_size=50, verbose=0)
    return model.evaluate(*test, batch_size=500)


@pytest.mark.parametrize("cell, epochs", [("gru", 3), ("lstm", 6)])
def test_adding_problem_gated_cells_solve_t100(cell, epochs):
    mse, solved = _adding(cell, epochs)
    assert mse < 0.05 * S.ADDING_BASELINE_MSE, f"{cell} adding-problem MSE {mse:.4f} at T=100"
    assert solved > 0.5, f"{cell}: only {solved:.0%} of test sums within 0.04"


def test_adding_problem_simple_rnn_stays_near_the_baseline():
    """Documented failure (vanishing gradients): at T=100 a SimpleRNN trained like the LSTM
    above only learns to answer about the mean."""
    mse, solved = _adding("simple_rnn", epochs=6)
    assert mse > 0.1, f"SimpleRNN MSE {mse:.4f}: it was expected to fail at T=100"
    assert solved < 0.2


def test_adding_problem_data_and_criterion():
    x, y = S.adding_problem_data(64, length=20, seed=0)
    assert x.shape == (64, 20, 2) and y.shape == (64, 1) and x.dtype == np.float32
    marks = x[..., 1]
    assert (marks.sum(1) == 2).all() and (marks[:, :10].sum(1) == 1).all()
    assert np.allclose(y[:, 0], (x[..., 0] * marks).sum(1))
    assert S.solved(y, y + 0.03).tolist() == [1.0] * 64
    assert S.solved(y, y - 0.05).tolist() == [0.0] * 64


def _char_lm(build, lr, steps, stride=8):
    sj.manual_seed(0)
    tokenizer, (x, y), (x_val, y_val) = S.char_lm_data(seq_len=64, stride=stride)
    model = build(tokenizer.vocab_size)
    model.compile(optimizer=sj.optim.Adam(lr=lr, clipnorm=1.0),
                  loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, batch_size=32, steps_per_epoch=steps, verbose=0)
    loss = model.evaluate(x_val, y_val, batch_size=256)
    return loss, text.unigram_entropy(y_val.reshape(-1)), model, tokenizer


def test_char_lm_lstm_loss_falls_well_below_unigram_entropy():
    loss, entropy, model, tokenizer = _char_lm(lambda v: S.char_lstm_model(v, 64), 1e-2, 100)
    assert entropy > 3.0
    assert loss < entropy - 0.6, f"char LSTM val loss {loss:.3f} vs unigram {entropy:.3f}"
    sample = text.generate(model, tokenizer, "The ", length=40, temperature=0.8, top_k=10,
                           context=64, rng=0)
    assert sample.startswith("The ") and len(sample) == 44


def test_char_lm_transformer_loss_falls_well_below_unigram_entropy():
    loss, entropy, model, tokenizer = _char_lm(lambda v: S.CharTransformer(v, 64), 3e-3, 200)
    assert loss < entropy - 0.6, f"char Transformer val loss {loss:.3f} vs unigram {entropy:.3f}"


def test_seq2seq_reverse_reaches_95_percent_exact_sequences():
    sj.manual_seed(0)
    model, ((x, y), (x_test, y_test)) = S.seq2seq_reverse(3e-3, max_len=6, samples=6400)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500)
    assert accuracy >= 0.95, f"seq2seq-reverse exact-match accuracy {accuracy:.4f} < 0.95"
    # teacher-forced exact match is greedy decoding's exact match: spot-check it
    for digits in ("5", "42", "9031", "123456"):
        assert model.reverse(digits) == digits[::-1]


def test_reverse_digits_data_layout():
    x, y = S.reverse_digits_data(50, max_len=5, seed=0)
    assert x.shape == (50, 11) and y.shape == (50, 6)
    for src, dec_in, tgt in zip(x[:, :5], x[:, 5:], y):
        digits = src[src != S.PAD]
        n = len(digits)
        assert (src[:n] >= S.DIGIT_0).all() and (src[n:] == S.PAD).all()
        assert (tgt[:n] == digits[::-1]).all() and tgt[n] == S.EOS
        assert dec_in[0] == S.BOS and (dec_in[1:n + 1] == digits[::-1]).all()
    logits = np.eye(S.REVERSE_VOCAB)[y] * 5
    assert S.sequence_accuracy(y, logits).tolist() == [1.0] * 50
    logits[0, 0] = np.eye(S.REVERSE_VOCAB)[S.EOS if y[0, 0] != S.EOS else S.BOS]
    assert S.sequence_accuracy(y, logits)[0] == 0.0


def test_sequence_recipes_are_registered_and_run(tmp_path):
    names = recipes.names()
    for name in ("mnist1d-gru", "adding-problem", "adding-problem-gru", "adding-problem-rnn",
                 "char-lm", "char-lm-transformer", "seq2seq-reverse"):
        assert name in names
    result = recipes.run("char-lm", epochs=1, batch_size=32, out=tmp_path, verbose=0,
                         options={"limit": 64, "units": 16})
    assert set(result) >= {"test_accuracy", "test_loss", "model"}
    assert 0 <= result["test_accuracy"] <= 1 and result["test_loss"] > 0
    result = recipes.run("adding-problem", epochs=1, out=tmp_path, verbose=0,
                         options={"limit": 100, "length": 20, "cell": "gru"})
    assert result["test_loss"] > 0
    with pytest.raises(ValueError, match="cell must be one of"):
        recipes.run("adding-problem", epochs=1, out=tmp_path, verbose=0,
                    options={"cell": "transformer"})
