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


_device: tuple | None = None  # (host generator it was seeded from, xp, device generator)


def device_generator(xp):
    """The generator for per-step draws made where ``xp``'s arrays live (dropout masks).

    NumPy: the global generator.  CuPy: a ``cupy.random`` Generator seeded with one draw
    from the global generator, made again whenever that is replaced (``manual_seed``,
    ``set_generator``, ``fit``'s per-epoch ``derive``), so a seeded GPU run repeats and a
    resumed one matches; its stream differs from the CPU's, as in PyTorch.  (Drawing on the
    host and copying would make every dropout layer wait for the GPU.)"""
    global _device
    if xp is np:
        return _generator
    if _device is None or _device[0] is not _generator or _device[1] is not xp:
        seed = int(_generator.integers(0, 2 ** 63 - 1))
        _device = (_generator, xp, xp.random.default_rng(seed))
    return _device[2]


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
