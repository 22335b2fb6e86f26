"""Helpers shared by the model builders: input-shape checks and building by a probe pass."""
from __future__ import annotations

import numbers

from ..autograd import no_grad
from ..creation import zeros


def check_shape(input_shape, who, ndim=3):
    """``input_shape`` as a tuple of ``ndim`` positive ints (no batch axis), or an error."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (shape is None or len(shape) != ndim or any(
            isinstance(d, bool) or not isinstance(d, numbers.Integral) or d <= 0
            for d in shape)):
        what = "(channels, height, width)" if ndim == 3 else f"{ndim} sizes"
        raise ValueError(f"{who} expects input_shape={what} of positive ints without the "
                         f"batch axis, got {input_shape!r}.")
    return tuple(int(d) for d in shape)


def check_classes(num_classes, who):
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes <= 0:
        raise ValueError(f"{who} expects a positive int for num_classes, got {num_classes!r}.")
    return int(num_classes)


def build(model, shape, who):
    """Create the lazy weights of ``model`` with one forward pass of a zero batch of one
    sample of ``shape`` (evaluation mode, no graph: running statistics stay untouched)."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(zeros((1, *shape), dtype=model.dtype))
    except ValueError as e:
        raise ValueError(f"{who} cannot be built for inputs of shape {shape}: {e}") from e
    finally:
        model.train(was_training)
    return model
