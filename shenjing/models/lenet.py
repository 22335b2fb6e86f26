"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), the classic MNIST variant."""
from __future__ import annotations

from ..nn.conv import Conv2D
from ..nn.core import Dense, Flatten
from ..nn.pooling import AveragePooling2D, MaxPooling2D
from ..train.model import Sequential
from ._common import build, check_classes, check_shape


def lenet5(num_classes=10, input_shape=(1, 28, 28), activation="relu", pooling="max",
           padding=2):
    """LeNet-5 from "Gradient-based learning applied to document recognition" (LeCun et al.,
    1998), in the form usually trained on MNIST:

        Conv2D(6, 5x5, padding=2) → pool 2 → Conv2D(16, 5x5) → pool 2 → Flatten
        → Dense(120) → Dense(84) → Dense(num_classes)   (logits)

    The paper feeds 32x32 images to an unpadded first convolution; padding 2 lets a 28x28
    MNIST digit play that part (28 + 2·2 = 32), so the rest of the network is the paper's
    (16·5·5 = 400 features into the dense layers).  ``padding=0`` with a (1, 32, 32) input
    is the 1998 layout.  Modernised as is usual: ``activation="relu"`` and ``pooling="max"``
    (``"tanh"`` and ``"average"`` give the paper's flavour), every C3 map connected to every
    S2 map (no partial connection table), and a dense output layer instead of the RBF units.

    For 1x28x28 inputs and 10 classes the model has 61,706 parameters.  Pair the logits
    with ``sj.losses.SparseCategoricalCrossentropy(from_logits=True)``.

    >>> model = sj.models.lenet5()
    >>> model(sj.zeros((2, 1, 28, 28))).shape
    (2, 10)
    """
    num_classes = check_classes(num_classes, "lenet5")
    shape = check_shape(input_shape, "lenet5")
    if pooling not in ("max", "average"):
        raise ValueError(f"lenet5 pooling must be 'max' or 'average', got {pooling!r}.")
    pool = MaxPooling2D if pooling == "max" else AveragePooling2D
    model = Sequential([
        Conv2D(6, 5, padding=padding, activation=activation), pool(2),
        Conv2D(16, 5, activation=activation), pool(2),
        Flatten(),
        Dense(120, activation=activation),
        Dense(84, activation=activation),
        Dense(num_classes),
    ], name="lenet5")
    return build(model, shape, "lenet5")
