"""Sequence recipes: the MNIST-1D GRU, the adding problem, character language models and a
Transformer that reverses digit strings.

    shenjing train mnist1d-gru              # bidirectional GRU 6 (Greydanus 2020: 91%)
    shenjing train adding-problem           # LSTM, T=100: MSE far below the 0.167 baseline
    shenjing train adding-problem-rnn       # SimpleRNN: stuck near the baseline
    shenjing train char-lm                  # LSTM on the shipped public-domain corpus
    shenjing train char-lm-transformer      # a small causal Transformer on the same text
    shenjing train seq2seq-reverse          # encoder-decoder, exact-match accuracy

In Python, ``recipes.run(name, options={...})`` also sets the options each builder below
takes (``cell``, ``length``, ``units``, ``samples``, ``seq_len``, ``max_len``, ...).
"""
from __future__ import annotations

import sys

import numpy as np

import shenjing as sj
from shenjing import nn, text
from shenjing.train.callbacks import Callback

from .registry import register

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.SimpleRNN, "rnn": nn.SimpleRNN}
ADDING_BASELINE_MSE = 1 / 6  # Var(a + b), a, b ~ U(0, 1): predicting the mean 1.0 always


def _logits_loss(**kwargs):
    return sj.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)


def _limit(x, y, limit):
    return (x, y) if limit is None else (x[:limit], y[:limit])


def _cell(cell):
    try:
        return CELLS[cell.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}.") from None


class _Report(Callback):
    """Runs ``fn(model)`` when training ends, keeps its dict on ``model.recipe_report`` and
    prints it on stderr (the recipes' extra results: entropies, generated text)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def on_train_end(self, logs=None):
        report = self.fn(self.model)
        self.model.recipe_report = report
        for key, value in report.items():
            print(f"{key}: {value}", file=sys.stderr)


# ---------------------------------------------------------------- MNIST-1D GRU
def mnist1d_gru_model(units=6):
    """The GRU of the MNIST-1D paper (Greydanus 2020, ``models.GRU``): a bidirectional GRU
    with ``units`` per direction over the 40 steps of (N, 40, 1) inputs, every step's output
    flattened (40·2·units) into Dense 10."""
    return sj.Sequential([
        nn.Bidirectional(nn.GRU(units, return_sequences=True)),
        nn.Flatten(),
        nn.Dense(10),
    ], name="mnist1d_gru")


# 4,000 training samples / batch 100 = 40 steps per epoch: 150 epochs are the paper's 6,000.
@register("mnist1d-gru", "MNIST-1D (N, 40, 1): bidirectional GRU 6 → all 40 steps flattened → "
          "Dense 10; Adam, the paper's 6,000 steps (paper: 91%)", epochs=150, batch_size=100,
          lr=1e-2)
def mnist1d_gru(lr, units=6, limit=None):
    model = mnist1d_gru_model(units)
    model.compile(optimizer=sj.optim.Adam(lr=lr), loss=_logits_loss(), metrics=["accuracy"])
    (x, y), (x_test, y_test) = sj.data.load_mnist1d()
    x, x_test = x[:, :, None], x_test[:, :, None]
    return model, (_limit(x, y, limit), (x_test, y_test))


# ---------------------------------------------------------------- the adding problem
def adding_problem_data(n, length=100, seed=0):
    """The adding problem (Hochreiter & Schmidhuber 1997; as in Le et al. 2015): inputs
    (n, length, 2), channel 0 uniform in [0, 1), channel 1 a marker that is 1 at one random
    step of the first half and one of the second half; the target (n, 1) is the sum of the
    two marked values.  Always answering 1.0 gives MSE 1/6 ≈ 0.167."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, length), dtype=np.float32)
    marks = np.zeros((n, length), np.float32)
    rows = np.arange(n)
    marks[rows, rng.integers(0, length // 2, n)] = 1
    marks[rows, rng.integers(length // 2, length, n)] = 1
    x = np.stack([values, marks], axis=-1)
    return x, (values * marks).sum(axis=1, keepdims=True)


def solved(y_true, y_pred, tolerance=0.04):
    """1.0 where |prediction - target| < 0.04: Hochreiter & Schmidhuber's criterion for a
    correctly processed sequence of the adding problem."""
    return (np.abs(np.asarray(y_pred) - np.asarray(y_true)) < tolerance).reshape(
        len(y_true), -1).all(axis=1).astype(np.float64)


def adding_problem_model(cell="lstm", units=32):
    """One recurrent layer (its last state) → Dense 1."""
    return sj.Sequential([_cell(cell)(units), nn.Dense(1)], name=f"adding_{cell.lower()}")


def _adding(lr, cell, length, units, samples, limit):
    model = adding_problem_model(cell, units)
    model.compile(optimizer=sj.optim.Adam(lr=lr), loss="mse",
                  metrics=[sj.metrics.MeanMetricWrapper(solved, name="accuracy")])
    train = adding_problem_data(samples, length, seed=1)
    test = adding_problem_data(1000, length, seed=2)
    return model, (_limit(*train, limit), test)


_ADDING = ("adding problem, T=100: {} 32 → Dense 1, Adam, MSE (baseline 0.167){}; accuracy = "
           "share of test sums within 0.04")


@register("adding-problem", _ADDING.format("LSTM", ""), epochs=10, batch_size=50, lr=1e-2)
def adding_problem(lr, cell="lstm", length=100, units=32, samples=10000, limit=None):
    return _adding(lr, cell, length, units, samples, limit)


@register("adding-problem-gru", _ADDING.format("GRU", ""), epochs=10, batch_size=50, lr=1e-2)
def adding_problem_gru(lr, length=100, units=32, samples=10000, limit=None):
    return _adding(lr, "gru", length, units, samples, limit)


@register("adding-problem-rnn", _ADDING.format("SimpleRNN", ", fails: vanishing gradients"),
          epochs=10, batch_size=50, lr=1e-2)
def adding_problem_rnn(lr, length=100, units=32, samples=10000, limit=None):
    return _adding(lr, "simple_rnn", length, units, samples, limit)


# ---------------------------------------------------------------- character language models
def char_lm_data(seq_len=64, stride=8, val_fraction=0.1, corpus=text.DEFAULT_CORPUS):
    """The shipped corpus as next-character windows: ``(tokenizer, (x, y), (x_val, y_val))``.
    Training windows start every ``stride`` characters of the first 90% of the text; the
    held-out last 10% is cut into non-overlapping windows."""
    raw = text.load_corpus(corpus)
    tokenizer = text.CharTokenizer().fit(raw)
    train, val = text.split_ids(tokenizer.encode(raw), val_fraction)
    return (tokenizer, text.sliding_windows(train, seq_len, stride),
            text.sliding_windows(val, seq_len, seq_len))


def char_lstm_model(vocab_size, units=128, embedding_dim=32):
    """Embedding → LSTM (every step) → Dense vocab_size logits."""
    return sj.Sequential([
        nn.Embedding(vocab_size, embedding_dim),
        nn.LSTM(units, return_sequences=True),
        nn.Dense(vocab_size),
    ], name="char_lstm")


class CharTransformer(sj.Model):
    """A small GPT-style decoder: token + learned position embeddings, ``num_layers``
    pre-norm Transformer blocks with causal self-attention, LayerNorm, Dense logits."""

    def __init__(self, vocab_size, seq_len, d_model=64, nhead=4, num_layers=2, dropout=0.0):
        super().__init__(name="char_transformer")
        self.seq_len = seq_len
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.position = nn.PositionalEmbedding(seq_len, d_model)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model, nhead, 4 * d_model, dropout, norm_first=True)
            for _ in range(num_layers)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Dense(vocab_size)

    def forward(self, x):
        h = self.position(self.embedding(x))
        for block in self.blocks:
            h = block(h, is_causal=True)
        return self.head(self.norm(h))


def char_lm_report(tokenizer, val_ids, prompt="The ", length=200, context=64):
    """The recipes' closing report: the unigram entropy that the validation loss should beat,
    and a sample (temperature 0.8, top-k 10) generated from ``prompt``."""
    def report(model):
        sample = text.generate(model, tokenizer, prompt, length, temperature=0.8, top_k=10,
                               context=context, rng=0)
        return {"unigram_entropy_nats": round(text.unigram_entropy(val_ids), 4),
                "sample": sample}
    return report


def _char_lm(model, lr, seq_len, stride, limit):
    tokenizer, train, (x_val, y_val) = char_lm_data(seq_len, stride)
    model = model(tokenizer.vocab_size)
    model.compile(optimizer=sj.optim.Adam(lr=lr, clipnorm=1.0), loss=_logits_loss(),
                  metrics=["accuracy"])
    report = _Report(char_lm_report(tokenizer, y_val.reshape(-1), context=seq_len))
    return model, (_limit(*train, limit), (x_val, y_val)), [report]


_CHAR_LM = ("character LM: {} on the shipped public-domain corpus (89 KB), 64-character "
            "windows, Adam; test = loss on the held-out last 10% (unigram entropy ≈ 3.2 nats)")


@register("char-lm", _CHAR_LM.format("Embedding 32 → LSTM 128 → Dense"), epochs=3,
          batch_size=32, lr=1e-2)
def char_lm(lr, units=128, seq_len=64, stride=8, limit=None):
    return _char_lm(lambda v: char_lstm_model(v, units), lr, seq_len, stride, limit)


@register("char-lm-transformer", _CHAR_LM.format("2 causal pre-norm Transformer blocks (d 64)"),
          epochs=3, batch_size=32, lr=3e-3)
def char_lm_transformer(lr, d_model=64, num_layers=2, seq_len=64, stride=8, limit=None):
    return _char_lm(lambda v: CharTransformer(v, seq_len, d_model, num_layers=num_layers),
                    lr, seq_len, stride, limit)


# ---------------------------------------------------------------- seq2seq: reversing digits
PAD, BOS, EOS, DIGIT_0 = 0, 1, 2, 3  # token ids; digit d is DIGIT_0 + d
REVERSE_VOCAB = DIGIT_0 + 10


def reverse_digits_data(n, max_len=10, min_len=1, seed=0):
    """Digit strings of random length in [min_len, max_len] and their reversals.

    Returns ``x`` (n, 2·max_len + 1): the source (max_len, padded with 0) followed by the
    decoder input (BOS, reversed digits, padding), and ``y`` (n, max_len + 1): the reversed
    digits, EOS, padding.  One array for ``x`` so ``fit`` takes it as it is."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, n)
    steps = np.arange(max_len)
    src = np.where(steps < lengths[:, None], rng.integers(DIGIT_0, REVERSE_VOCAB, (n, max_len)),
                   PAD)
    # reversed: position t holds src[len - 1 - t] for t < len
    rev_index = np.clip(lengths[:, None] - 1 - steps, 0, max_len - 1)
    rev = np.where(steps < lengths[:, None], np.take_along_axis(src, rev_index, 1), PAD)
    y = np.concatenate([rev, np.full((n, 1), PAD)], axis=1)
    y[np.arange(n), lengths] = EOS
    dec_in = np.concatenate([np.full((n, 1), BOS), rev], axis=1)
    return np.concatenate([src, dec_in], axis=1).astype(np.int64), y.astype(np.int64)


def sequence_accuracy(y_true, y_pred, pad=PAD):
    """1.0 for a sequence whose every non-padding token is the argmax of its scores.  With
    teacher forcing this is exactly the exact-match rate of greedy decoding: a greedy decoder
    whose prefix is right so far sees the same input as the teacher-forced one."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    hit = (y_pred.argmax(axis=-1) == y_true) | (y_true == pad)
    return hit.reshape(len(y_true), -1).all(axis=1).astype(np.float64)


class ReverseTransformer(sj.Model):
    """Transformer encoder-decoder (post-norm, as Vaswani et al.) over digit tokens, with one
    learned position table shared by source and target.  ``forward(x)`` takes the packed
    ``x`` of ``reverse_digits_data`` and returns (n, max_len + 1, vocab) logits."""

    def __init__(self, max_len, d_model=64, nhead=4, dim_feedforward=128, num_layers=1,
                 dropout=0.0):
        super().__init__(name="reverse_transformer")
        self.max_len = max_len
        self.embedding = nn.Embedding(REVERSE_VOCAB, d_model)
        self.position = nn.PositionalEmbedding(max_len + 1, d_model)
        sizes = (d_model, nhead, dim_feedforward, dropout)
        self.encoder = nn.ModuleList([nn.TransformerEncoderLayer(*sizes)
                                      for _ in range(num_layers)])
        self.decoder = nn.ModuleList([nn.TransformerDecoderLayer(*sizes)
                                      for _ in range(num_layers)])
        self.head = nn.Dense(REVERSE_VOCAB)

    def forward(self, x):
        src, tgt = x[:, :self.max_len], x[:, self.max_len:]
        padding = src.data == PAD  # True = masked, torch's convention
        memory = self.position(self.embedding(src))
        for layer in self.encoder:
            memory = layer(memory, src_key_padding_mask=padding)
        h = self.position(self.embedding(tgt))
        for layer in self.decoder:
            h = layer(h, memory, tgt_is_causal=True, memory_key_padding_mask=padding)
        return self.head(h)

    def reverse(self, digits: str) -> str:
        """Greedy decoding of one digit string (at most ``max_len`` digits)."""
        if not digits.isdigit() or len(digits) > self.max_len:
            raise ValueError(f"expected 1 to {self.max_len} digits, got {digits!r}.")
        src = [DIGIT_0 + int(c) for c in digits] + [PAD] * (self.max_len - len(digits))
        out = [BOS]
        was_training = self.training
        self.eval()
        try:
            with sj.no_grad():
                while len(out) <= self.max_len:
                    logits = self(sj.tensor(np.array([src + out], dtype=np.int64)))
                    nxt = int(logits.numpy()[0, -1].argmax())
                    if nxt == EOS:
                        break
                    out.append(nxt)
        finally:
            self.train(was_training)
        return "".join(str(t - DIGIT_0) if t >= DIGIT_0 else "?" for t in out[1:])


@register("seq2seq-reverse", "reverse digit strings of 1-10 digits: Transformer encoder-decoder "
          "(1+1 layers, d 64, 4 heads), Adam; accuracy = whole-sequence exact match",
          epochs=10, batch_size=64, lr=3e-3)
def seq2seq_reverse(lr, max_len=10, d_model=64, num_layers=1, samples=8000, limit=None):
    model = ReverseTransformer(max_len, d_model, num_layers=num_layers)
    model.compile(optimizer=sj.optim.Adam(lr=lr), loss=_logits_loss(ignore_class=PAD),
                  metrics=[sj.metrics.MeanMetricWrapper(sequence_accuracy, name="accuracy")])
    train = reverse_digits_data(samples, max_len, seed=1)
    test = reverse_digits_data(1000, max_len, seed=2)
    return model, (_limit(*train, limit), test)
