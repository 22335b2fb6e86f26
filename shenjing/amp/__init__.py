"""Automatic mixed precision: ``autocast`` (float16 products with float32 master weights),
``GradScaler`` (dynamic loss scaling) and ``MixedPrecision`` (the two together, for
``Model.compile(..., mixed_precision=True)``).  See docs/mixed-precision.md.
"""
from .autocast import (autocast, cast_inputs, get_autocast_dtype, is_autocast_enabled,
                       resolve_dtype, upcast_inputs)
from .grad_scaler import GradScaler
from .policy import MixedPrecision, resolve_policy

__all__ = ["autocast", "cast_inputs", "upcast_inputs", "is_autocast_enabled",
           "get_autocast_dtype", "resolve_dtype", "GradScaler", "MixedPrecision",
           "resolve_policy"]
