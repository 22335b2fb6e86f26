"""Character- and word-level tokenizers: a vocabulary fitted on text, ``encode`` / ``decode``.

    tok = sj.text.CharTokenizer().fit("hello world")
    ids = tok.encode("hello")          # [id('h'), id('e'), ...]; unseen characters → 1 (<unk>)
    tok.decode(ids)                    # 'hello'
    tok.save("vocab.json"); tok = sj.text.load_tokenizer("vocab.json")

Id 0 is the padding token ``<pad>`` (what ``pad_sequences`` and ``Embedding(mask_zero=True)``
expect) and id 1 the unknown token ``<unk>``; fitted tokens follow, most frequent first (ties
in order of first appearance), so ``max_tokens`` keeps the commonest ones.
"""
from __future__ import annotations

import collections
import json
import os
import re

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
_WORDS_AND_PUNCT = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}”])")
_NO_SPACE_AFTER = re.compile(r"([(\[{“]) ")


class Tokenizer:
    """Base class: a vocabulary of ``<pad>``, ``<unk>`` and the fitted tokens.

    Subclasses write ``tokenize(text) -> list[str]`` and ``detokenize(tokens) -> str``.
    """

    def __init__(self, lower=False, max_tokens=None, min_freq=1):
        if max_tokens is not None and (isinstance(max_tokens, bool) or
                                       not isinstance(max_tokens, int) or max_tokens < 3):
            raise ValueError(f"{type(self).__name__}: max_tokens must be an int ≥ 3 (it counts "
                             f"<pad> and <unk>) or None, got {max_tokens!r}.")
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"{type(self).__name__}: min_freq must be a positive int, "
                             f"got {min_freq!r}.")
        self.lower, self.max_tokens, self.min_freq = bool(lower), max_tokens, min_freq
        self._set_vocab([])

    # ------------------------------------------------------------------ vocabulary
    def _set_vocab(self, tokens):
        self.index_to_token = [PAD, UNK, *tokens]
        self.token_to_index = {t: i for i, t in enumerate(self.index_to_token)}

    def fit(self, texts):
        """Build the vocabulary from a string or an iterable of strings; returns ``self``."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"{type(self).__name__}.fit expects a string or strings, got "
                            f"{sorted({type(t).__name__ for t in texts})}.")
        counts = collections.Counter()
        for text in texts:
            counts.update(self.tokenize(text))
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        # Counter.most_common keeps first-appearance order among equal counts
        kept = [t for t, c in counts.most_common() if c >= self.min_freq]
        if self.max_tokens is not None:
            kept = kept[: self.max_tokens - 2]
        self._set_vocab(kept)
        return self

    @property
    def vocab_size(self) -> int:
        """Number of ids, ``<pad>`` and ``<unk>`` included (the ``Embedding`` input_dim)."""
        return len(self.index_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def get_vocabulary(self) -> list[str]:
        """All tokens, indexed by id."""
        return list(self.index_to_token)

    # ------------------------------------------------------------------ encode / decode
    def _normalize(self, text):
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__} expects a string, got "
                            f"{type(text).__name__}.")
        return text.lower() if self.lower else text

    def tokenize(self, text) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def detokenize(self, tokens) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, text) -> list[int]:
        """Token ids of ``text``; tokens outside the vocabulary become ``unk_id`` (1)."""
        index = self.token_to_index
        return [index.get(t, UNK_ID) for t in self.tokenize(text)]

    def decode(self, ids, skip_special=True) -> str:
        """Text of ``ids`` (ints, a list or a 1-D array); ``<pad>`` ids are dropped and
        ``<unk>`` is written as ``<unk>`` (both kept with ``skip_special=False``)."""
        vocab, n = self.index_to_token, len(self.index_to_token)
        tokens = []
        for i in (int(i) for i in ids):
            if not 0 <= i < n:
                raise ValueError(f"{type(self).__name__}.decode got id {i}; valid ids are "
                                 f"0..{n - 1} (vocab_size {n}).")
            if i == PAD_ID and skip_special:
                continue
            tokens.append(vocab[i])
        return self.detokenize(tokens)

    # ------------------------------------------------------------------ save / load
    def get_config(self) -> dict:
        return {"lower": self.lower, "max_tokens": self.max_tokens, "min_freq": self.min_freq}

    def save(self, path) -> str:
        """Write the configuration and vocabulary as JSON; returns the path."""
        path = os.fspath(path)
        data = {"class": type(self).__name__, "config": self.get_config(),
                "vocabulary": self.index_to_token}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        return path

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by ``save`` (of this class or, from ``Tokenizer``, any)."""
        with open(os.fspath(path), encoding="utf-8") as f:
            data = json.load(f)
        kinds = {c.__name__: c for c in (CharTokenizer, WordTokenizer)}
        kind = kinds.get(data.get("class"))
        if kind is None or (cls is not Tokenizer and kind is not cls):
            raise ValueError(f"{path} holds a {data.get('class')!r} tokenizer; "
                             f"{cls.__name__}.load reads {cls.__name__} files "
                             "(sj.text.load_tokenizer reads any).")
        vocab = data["vocabulary"]
        if vocab[:2] != [PAD, UNK]:
            raise ValueError(f"{path}: a vocabulary must start with {PAD!r}, {UNK!r}; "
                             f"got {vocab[:2]}.")
        tok = kind(**data["config"])
        tok._set_vocab(vocab[2:])
        return tok

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, lower={self.lower})"


class CharTokenizer(Tokenizer):
    """One token per character (``lower=True`` folds case first).

    >>> tok = CharTokenizer().fit("abracadabra")
    >>> tok.vocab_size, tok.encode("cab")
    (7, [5, 2, 3])
    """

    def tokenize(self, text) -> list[str]:
        return list(self._normalize(text))

    def detokenize(self, tokens) -> str:
        return "".join(tokens)


class WordTokenizer(Tokenizer):
    """Words split on white space; with ``split_punctuation`` (default) each punctuation mark
    is its own token (``"Hello, world!"`` → ``hello , world !``).  ``decode`` joins with
    spaces and re-attaches punctuation, so it restores plain prose up to white space.

    >>> tok = WordTokenizer(lower=True).fit("The cat sat. The dog sat!")
    >>> tok.decode(tok.encode("the dog sat."))
    'the dog sat.'
    """

    def __init__(self, lower=True, split_punctuation=True, max_tokens=None, min_freq=1):
        super().__init__(lower=lower, max_tokens=max_tokens, min_freq=min_freq)
        self.split_punctuation = bool(split_punctuation)

    def tokenize(self, text) -> list[str]:
        text = self._normalize(text)
        return _WORDS_AND_PUNCT.findall(text) if self.split_punctuation else text.split()

    def detokenize(self, tokens) -> str:
        text = " ".join(tokens)
        if self.split_punctuation:
            text = _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))
        return text

    def get_config(self) -> dict:
        return {**super().get_config(), "split_punctuation": self.split_punctuation}


def load_tokenizer(path) -> Tokenizer:
    """Read any tokenizer written by ``save``."""
    return Tokenizer.load(path)
