"""One seeded generator for every random draw, so ``sj.manual_seed(s)`` makes runs repeat.

Weight initialisers, dropout masks, data shuffling and ``sj.randn`` all call ``generator()``.
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


def initial_seed() -> int | None:
    """The seed last given to ``manual_seed`` (None if never seeded)."""
    return _seed


def get_state() -> dict:
    """The generator's state (JSON-friendly dict), for checkpoints."""
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    """Restore a state returned by ``get_state``."""
    _generator.bit_generator.state = state
