"""Device copies of a layer's constant arrays (a sinusoidal table, an interpolation matrix),
made once instead of on every forward.

The copies live in the module's ``_constants`` dict, which holds no Parameter or buffer: it
is never in ``state_dict`` nor saved, and ``Module.to`` empties it (``_move_to``) so the next
forward copies again to the new device.  The host array stays the source.
"""
from __future__ import annotations

from ..backend import to_device

MAX_ENTRIES = 16  # per module; the oldest goes first (an input size that changes per call)


def device_constant(module, key, device, make):
    """``make()`` (a host array) on ``device``, made and copied once per (``key``, device)
    and kept on ``module``.  ``key`` is a tuple naming everything else the values depend on
    (sizes, dtype)."""
    cache = module.__dict__.setdefault("_constants", {})
    full_key = (*key, device)
    value = cache.get(full_key)
    if value is None:
        if len(cache) >= MAX_ENTRIES:
            cache.pop(next(iter(cache)))
        value = cache[full_key] = to_device(make(), device)
    return value
