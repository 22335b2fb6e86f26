"""Loss functions, three faces of one implementation.

* PyTorch names, ``f(input, target, reduction="mean")``: ``mse_loss``, ``l1_loss``,
  ``huber_loss``, ``smooth_l1_loss``, ``binary_cross_entropy``,
  ``binary_cross_entropy_with_logits``, ``cross_entropy``, ``nll_loss``
  (also as ``shenjing.losses.functional``).
* Keras classes, ``loss(y_true, y_pred)`` — target first: ``MeanSquaredError``,
  ``MeanAbsoluteError``, ``Huber``, ``BinaryCrossentropy``, ``CategoricalCrossentropy``,
  ``SparseCategoricalCrossentropy``; and their per-sample functions (``mean_squared_error``, …).
* Names for ``compile``: ``get("sparse_categorical_crossentropy")`` → a new instance.

>>> sj.losses.cross_entropy(logits, labels)                       # PyTorch style
>>> sj.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)   # Keras style
"""
from . import functional
from .functional import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from .keras_style import (
    EPSILON,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    deserialize,
    get,
    huber,
    mae,
    mean_absolute_error,
    mean_squared_error,
    mse,
    reduce_values,
    serialize,
    sparse_categorical_crossentropy,
)

__all__ = [
    "functional", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "huber_loss", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss",
    "EPSILON", "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "Huber",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "mean_squared_error", "mean_absolute_error", "mse", "mae", "huber", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "reduce_values",
    "get", "serialize", "deserialize",
]
