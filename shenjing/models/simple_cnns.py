"""The small CNNs of the project's seed programs: a Keras MNIST CNN and a PyTorch CIFAR-10 CNN."""
from __future__ import annotations

from ..nn.conv import Conv2D
from ..nn.core import Dense, Flatten
from ..nn.pooling import MaxPooling2D
from ..train.model import Sequential
from ._common import build, check_classes, check_shape


def seed_cnn(num_classes=10, input_shape=(1, 28, 28), output_activation="softmax"):
    """The Keras ``simple_cnn`` of seed 000 (a blog post's ``tf.keras`` example), in NCHW:

        Conv2D(32, 3x3, relu) → MaxPooling2D(2) → Conv2D(64, 3x3, relu) → MaxPooling2D(2)
        → Flatten → Dense(128, relu) → Dense(num_classes, softmax)

    Unpadded ("valid") convolutions as in Keras: a 28x28 input becomes 26 → 13 → 11 → 5,
    so 64·5·5 = 1,600 features reach the dense layer, and the model has 225,034 parameters
    for 1x28x28 inputs and 10 classes.  The softmax output pairs with
    ``loss="sparse_categorical_crossentropy"`` (the seed used one-hot labels and
    ``categorical_crossentropy``); ``output_activation=None`` returns logits instead.

    >>> model = sj.models.seed_cnn()
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    """
    num_classes = check_classes(num_classes, "seed_cnn")
    shape = check_shape(input_shape, "seed_cnn")
    model = Sequential([
        Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(num_classes, activation=output_activation),
    ], name="seed_cnn")
    return build(model, shape, "seed_cnn")


def cifar_cnn(num_classes=10, input_shape=(3, 32, 32)):
    """The PyTorch CIFAR-10 ``CNN`` of seed 001, with its flatten size corrected:

        Conv2D(32, 3x3, padding=1, relu) → MaxPooling2D(2) → Conv2D(64, 3x3, padding=1, relu)
        → MaxPooling2D(2) → Flatten → Dense(128, relu) → Dense(num_classes)   (logits)

    The seed writes ``nn.Linear(64 * 5 * 5, 128)`` and ``x.view(-1, 64 * 5 * 5)``, the size
    a 28x28 input gives with *unpadded* convolutions.  With ``padding=1`` the convolutions
    keep 32x32, the two poolings give 16x16 then 8x8, so the flattened size is
    64·8·8 = 4,096: the seed's ``view`` either fails or silently mixes samples of the batch.
    Here the dense layer takes its input size from the data (4,096 for 3x32x32), and the
    model has 545,098 parameters for 10 classes (the seed's 64·5·5 layout would claim 225,610).
    Pair the logits with ``sj.losses.SparseCategoricalCrossentropy(from_logits=True)`` (the
    seed's ``nn.CrossEntropyLoss``).

    >>> sj.models.cifar_cnn()(sj.zeros((4, 3, 32, 32))).shape
    (4, 10)
    """
    num_classes = check_classes(num_classes, "cifar_cnn")
    shape = check_shape(input_shape, "cifar_cnn")
    model = Sequential([
        Conv2D(32, 3, padding=1, activation="relu"), MaxPooling2D(2),
        Conv2D(64, 3, padding=1, activation="relu"), MaxPooling2D(2),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(num_classes),
    ], name="cifar_cnn")
    return build(model, shape, "cifar_cnn")
