"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) in torchvision's single-tower layout."""
from __future__ import annotations

from ..nn.containers import Sequential as Stack
from ..nn.conv import Conv2D
from ..nn.core import Dense, Dropout, Flatten
from ..nn.pooling import AdaptiveAveragePooling2D, MaxPooling2D
from ..train.model import Model
from ._common import build, check_classes, check_shape

_PROBE = 64  # the smallest convenient input AlexNet accepts (63 is the least)


class AlexNet(Model):
    """AlexNet as ``torchvision.models.alexnet``: ``features`` (five convolutions, three
    max-poolings), ``avgpool`` (adaptive average pooling to 6x6) and ``classifier`` (dropout,
    two Dense(4096) layers, Dense(num_classes) logits).  Build it with ``alexnet()``."""

    def __init__(self, num_classes=1000, dropout=0.5, name="alexnet"):
        super().__init__(name=name)
        self.features = Stack([
            Conv2D(64, 11, strides=4, padding=2, activation="relu"),
            MaxPooling2D(3, strides=2),
            Conv2D(192, 5, padding=2, activation="relu"),
            MaxPooling2D(3, strides=2),
            Conv2D(384, 3, padding=1, activation="relu"),
            Conv2D(256, 3, padding=1, activation="relu"),
            Conv2D(256, 3, padding=1, activation="relu"),
            MaxPooling2D(3, strides=2),
        ], name="features")
        self.avgpool = AdaptiveAveragePooling2D((6, 6))
        self.flatten = Flatten()
        self.classifier = Stack([
            Dropout(dropout), Dense(4096, activation="relu"),
            Dropout(dropout), Dense(4096, activation="relu"),
            Dense(num_classes),
        ], name="classifier")

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def alexnet(num_classes=1000, input_shape=(3, 224, 224), dropout=0.5):
    """AlexNet, "ImageNet Classification with Deep Convolutional Neural Networks"
    (Krizhevsky et al., 2012), in torchvision's layout (after Krizhevsky's "One weird
    trick", 2014: one tower, 64/192/384/256/256 filters, no local response normalisation).

    With adaptive average pooling to 6x6 before the classifier the network accepts any
    input of at least 63x63; the weights depend only on the channel count, so the model is
    built with a 64x64 probe (cheap) whatever ``input_shape`` says.  61,100,840 parameters
    for 1000 classes, as torchvision.  Outputs logits.

    >>> model = sj.models.alexnet(num_classes=10)
    >>> model(sj.zeros((1, 3, 64, 64))).shape
    (1, 10)
    """
    num_classes = check_classes(num_classes, "alexnet")
    c, h, w = check_shape(input_shape, "alexnet")
    if min(h, w) < 63:
        raise ValueError(f"alexnet needs inputs of at least 63x63 pixels, got input_shape="
                         f"{tuple(input_shape)}; upsample the images or use a smaller model.")
    return build(AlexNet(num_classes, dropout), (c, _PROBE, _PROBE), "alexnet")
