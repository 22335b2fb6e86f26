"""Language-modelling data: sliding windows of token ids, and the public-domain corpus shipped
with the package.

    text = sj.text.load_corpus()                          # ~50 KB of public-domain English
    tok = sj.text.CharTokenizer().fit(text)
    x, y = sj.text.sliding_windows(tok.encode(text), seq_len=64, stride=32)
    # y[:, t] == x[:, t + 1]: every position predicts the next token
"""
from __future__ import annotations

import math
import numbers
import os

import numpy as np

from ..data.dataset import Dataset

CORPORA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "data", "corpora")
DEFAULT_CORPUS = "public_domain_english"


def _check_int(value, what, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what} must be an int ≥ {minimum}, got {value!r}.")
    return int(value)


def _as_ids(ids, who):
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"{who} expects a 1-D sequence of integer token ids, got an array of "
                         f"shape {ids.shape} and dtype {ids.dtype}.")
    return ids.astype(np.int64, copy=False)


def sliding_windows(ids, seq_len, stride=1):
    """Next-token training pairs from one long sequence of ids.

    Returns ``(inputs, targets)``, int64 arrays of shape ``(N, seq_len)`` with
    ``inputs[i] = ids[i·stride : i·stride + seq_len]`` and ``targets[i]`` the same window
    shifted by one token; ``N = (len(ids) - seq_len - 1) // stride + 1``.

    >>> x, y = sliding_windows([5, 6, 7, 8, 9], seq_len=3)
    >>> x.tolist(), y.tolist()
    ([[5, 6, 7], [6, 7, 8]], [[6, 7, 8], [7, 8, 9]])
    """
    ids = _as_ids(ids, "sliding_windows")
    seq_len, stride = _check_int(seq_len, "seq_len"), _check_int(stride, "stride")
    if len(ids) < seq_len + 1:
        raise ValueError(f"sliding_windows needs at least seq_len + 1 = {seq_len + 1} ids, "
                         f"got {len(ids)}; use a shorter seq_len or more text.")
    windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]
    return windows[:, :-1].copy(), windows[:, 1:].copy()


class LanguageModelDataset(Dataset):
    """The windows of ``sliding_windows`` as a data set, cut on demand (no copy of the text
    per window): ``ds[i] == (ids[s:s+seq_len], ids[s+1:s+seq_len+1])`` with ``s = i·stride``.
    An index array gives stacked windows, so ``DataLoader`` batches it row by row or whole.

    >>> ds = LanguageModelDataset(tok.encode(text), seq_len=64, stride=64)
    >>> loader = sj.data.DataLoader(ds, batch_size=32, shuffle=True)
    """

    def __init__(self, ids, seq_len, stride=1):
        self.ids = _as_ids(ids, "LanguageModelDataset")
        self.seq_len = _check_int(seq_len, "seq_len")
        self.stride = _check_int(stride, "stride")
        if len(self.ids) < self.seq_len + 1:
            raise ValueError(f"LanguageModelDataset needs at least seq_len + 1 = "
                             f"{self.seq_len + 1} ids, got {len(self.ids)}.")
        self._n = (len(self.ids) - self.seq_len - 1) // self.stride + 1

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, numbers.Integral):
            i = int(index) + (self._n if index < 0 else 0)
            if not 0 <= i < self._n:
                raise IndexError(f"window {index} out of range for {self._n} windows.")
            s = i * self.stride
            return self.ids[s:s + self.seq_len], self.ids[s + 1:s + self.seq_len + 1]
        rows = np.arange(self._n)[index] * self.stride
        cols = rows[:, None] + np.arange(self.seq_len + 1)
        windows = self.ids[cols]
        return windows[:, :-1], windows[:, 1:]

    def arrays(self):
        """All windows as ``(inputs, targets)`` arrays (for ``fit(x, y)``)."""
        return self[np.arange(self._n)]

    def __repr__(self) -> str:
        return (f"LanguageModelDataset({len(self)} windows, seq_len={self.seq_len}, "
                f"stride={self.stride})")


def unigram_entropy(ids) -> float:
    """Entropy (nats) of the token frequencies in ``ids``: the cross-entropy a model that
    ignores context altogether reaches at best, so a language model's loss should beat it."""
    ids = _as_ids(ids, "unigram_entropy")
    if not ids.size:
        raise ValueError("unigram_entropy needs at least one id.")
    counts = np.bincount(ids).astype(np.float64)
    p = counts[counts > 0] / ids.size
    return float(-(p * np.log(p)).sum())


def split_ids(ids, val_fraction=0.1):
    """``(train, val)``: the last ``val_fraction`` of a token sequence held out, in order (a
    contiguous tail, so no validation window overlaps the training text)."""
    ids = _as_ids(ids, "split_ids")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}.")
    cut = len(ids) - math.ceil(len(ids) * val_fraction)
    return ids[:cut], ids[cut:]


def corpora() -> list[str]:
    """Names of the text corpora shipped with shenjing."""
    return sorted(f[:-4] for f in os.listdir(CORPORA_DIR) if f.endswith(".txt"))


def corpus_path(name=DEFAULT_CORPUS) -> str:
    """Path of a shipped corpus (``corpora()`` lists the names)."""
    path = os.path.join(CORPORA_DIR, f"{name}.txt")
    if not os.path.exists(path):
        raise ValueError(f"no corpus named {name!r}; shipped corpora: {', '.join(corpora())}.")
    return path


def load_corpus(name=DEFAULT_CORPUS) -> str:
    """The text of a shipped corpus, without its header (the leading ``#`` lines that name
    the sources and their public-domain status) and with one trailing newline.

    >>> text = sj.text.load_corpus()
    >>> len(text) > 20_000
    True
    """
    with open(corpus_path(name), encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = 0
    while start < len(lines) and (lines[start].startswith("#") or not lines[start].strip()):
        start += 1
    return "\n".join(lines[start:]).strip("\n") + "\n"
