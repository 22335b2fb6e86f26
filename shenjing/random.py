"""One seeded generator for every random draw, so ``sj.manual_seed(s)`` makes runs repeat.

Weight initialisers, dropout masks, data shuffling and ``sj.randn`` all call ``generator()``.

``fit`` swaps in a generator derived from (run seed, epoch) at the start of every epoch
(``derive``), so the shuffling and dropout of epoch k do not depend on what ran before —
that is what makes a training run resumed from a checkpoint repeat bit for bit — and puts
the previous generator back when it returns.
"""
from __future__ import annotations

import numpy as np

_seed: int | None = None
_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed shenjing's global generator (PCG64) and return it."""
    global _generator, _seed
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative int, got {seed!r}.")
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    return _generator


def generator() -> np.random.Generator:
    """The global generator every random draw in shenjing goes through."""
    return _generator


def set_generator(gen: np.random.Generator) -> np.random.Generator:
    """Make ``gen`` the global generator; returns the one it replaces (to put back later)."""
    global _generator
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"set_generator expects a numpy.random.Generator, got "
                        f"{type(gen).__name__}.")
    previous, _generator = _generator, gen
    return previous


def derive(seed: int, *keys: int) -> np.random.Generator:
    """A fresh generator that depends only on ``seed`` and ``keys`` (e.g. the epoch).

    Built from ``np.random.SeedSequence([seed, *keys])``, so ``derive(s, 3)`` is the same
    stream whatever was drawn before, and differs from ``derive(s, 4)`` and from
    ``manual_seed(s)``'s stream.

    >>> derive(0, 3).permutation(5)    # the same in every process
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def fresh_seed() -> int:
    """A new non-negative 63-bit seed from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


def initial_seed() -> int | None:
    """The seed last given to ``manual_seed`` (None if never seeded)."""
    return _seed


def get_state() -> dict:
    """The generator's state (JSON-friendly dict), for checkpoints."""
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    """Restore a state returned by ``get_state``."""
    _generator.bit_generator.state = state
