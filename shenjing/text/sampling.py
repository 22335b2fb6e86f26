"""Sampling from a language model: temperature, top-k, and an autoregressive ``generate`` loop.

    next_id = sj.text.sample_logits(logits, temperature=0.8, top_k=10)
    text = sj.text.generate(model, tokenizer, "Shall I compare", length=200, temperature=0.8)
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import no_grad
from ..random import generator
from ..tensor import Tensor


def _rng(rng):
    if rng is None:
        return generator()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}.")


def _check_sampling(temperature, top_k):
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or temperature < 0 or not np.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number ≥ 0 (0 = greedy), "
                         f"got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                              or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}.")


def sample_logits(logits, temperature=1.0, top_k=None, rng=None):
    """Draw one token id from ``softmax(logits / temperature)``, restricted to the ``top_k``
    largest logits when given.

    ``logits``: shape ``(V,)`` → an int, or ``(B, V)`` → an int64 array of B ids (a Tensor or
    array).  ``temperature=0`` is greedy (argmax); below 1 sharpens, above 1 flattens.
    ``rng``: None (shenjing's seeded generator), an int seed or a ``np.random.Generator``.

    >>> sample_logits(np.array([0.0, 5.0, 1.0]), temperature=0)
    1
    """
    _check_sampling(temperature, top_k)
    z = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] == 0:
        raise ValueError(f"sample_logits expects logits of shape (V,) or (B, V), got {z.shape}.")
    single = z.ndim == 1
    z = z[None] if single else z
    if temperature == 0:
        ids = z.argmax(axis=-1)
    else:
        z = z / temperature
        if top_k is not None and top_k < z.shape[-1]:
            kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
            z = np.where(z >= kth, z, -np.inf)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=-1, keepdims=True)
        # inverse-CDF sampling: one uniform draw per row
        u = _rng(rng).random((z.shape[0], 1))
        ids = np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), z.shape[-1] - 1)
    ids = ids.astype(np.int64)
    return int(ids[0]) if single else ids


def _last_logits(out):
    """The next-token scores from a model output: ``(1, T, V)`` → last step, ``(1, V)`` → it."""
    out = out[0] if isinstance(out, tuple) else out
    z = out.numpy() if isinstance(out, Tensor) else np.asarray(out)
    if z.ndim == 3:
        return z[0, -1]
    if z.ndim == 2:
        return z[0]
    raise ValueError(f"generate expects the model to return next-token scores of shape "
                     f"(1, T, V) or (1, V), got {z.shape}.")


def generate(model, tokenizer, prompt, length=200, temperature=1.0, top_k=None, context=None,
             rng=None, probabilities=False) -> str:
    """``prompt`` followed by ``length`` sampled tokens, decoded.

    Each step feeds the last ``context`` token ids (all of them when None; a model with a
    fixed maximum length, e.g. a learned positional embedding, needs ``context``) as a
    ``(1, T)`` int64 batch, in eval mode without a graph, and samples the next id from the
    last position's scores with ``sample_logits``.  ``probabilities=True`` for models that
    end in a softmax (their outputs are turned back into log-probabilities).
    Padding and ``<unk>`` are never sampled.
    """
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ValueError(f"generate: length must be an int ≥ 0, got {length!r}.")
    if context is not None and (isinstance(context, bool) or
                                not isinstance(context, numbers.Integral) or context < 1):
        raise ValueError(f"generate: context must be a positive int or None, got {context!r}.")
    _check_sampling(temperature, top_k)
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("generate needs a non-empty prompt (at least one token).")
    rng = _rng(rng)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for _ in range(length):
                window = ids if context is None else ids[-context:]
                z = _last_logits(model(Tensor._wrap(np.asarray([window], dtype=np.int64))))
                z = np.log(np.maximum(z, 1e-30)) if probabilities else z.astype(np.float64)
                z[[tokenizer.pad_id, tokenizer.unk_id]] = -np.inf
                ids.append(sample_logits(z, temperature, top_k, rng))
    finally:
        model.train(was_training)
    return tokenizer.decode(ids)
