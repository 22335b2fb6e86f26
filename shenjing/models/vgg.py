"""VGG (Simonyan & Zisserman 2014) in torchvision's layout: configurations A, B, D, E."""
from __future__ import annotations

from ..nn.activations import ReLU
from ..nn.containers import Sequential as Stack
from ..nn.conv import Conv2D
from ..nn.core import Dense, Dropout, Flatten
from ..nn.normalization import BatchNormalization
from ..nn.pooling import AdaptiveAveragePooling2D, MaxPooling2D
from ..train.model import Model
from ._common import build, check_classes, check_shape

# Filters per 3x3 convolution, "M" a 2x2 max-pooling (torchvision's cfgs "A", "B", "D", "E").
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}
_PROBE = 32  # five 2x2 poolings: 32x32 is the smallest input


def _features(config, batch_norm):
    layers = []
    for v in config:
        if v == "M":
            layers.append(MaxPooling2D(2, strides=2))
        elif batch_norm:  # torchvision's vgg*_bn: conv (with bias) → BN → ReLU
            layers += [Conv2D(v, 3, padding=1),
                       BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5),
                       ReLU()]
        else:
            layers.append(Conv2D(v, 3, padding=1, activation="relu"))
    return Stack(layers, name="features")


class VGG(Model):
    """VGG as ``torchvision.models.vgg*``: ``features`` (3x3 convolutions, ReLU, 2x2 max
    pooling), ``avgpool`` (adaptive average pooling to 7x7) and ``classifier``
    (Dense(4096), ReLU, Dropout, Dense(4096), ReLU, Dropout, Dense(num_classes) logits)."""

    def __init__(self, config, num_classes=1000, batch_norm=False, dropout=0.5, name="vgg"):
        super().__init__(name=name)
        self.features = _features(config, batch_norm)
        self.avgpool = AdaptiveAveragePooling2D((7, 7))
        self.flatten = Flatten()
        self.classifier = Stack([
            Dense(4096, activation="relu"), Dropout(dropout),
            Dense(4096, activation="relu"), Dropout(dropout),
            Dense(num_classes),
        ], name="classifier")

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def vgg(depth, num_classes=1000, input_shape=(3, 224, 224), batch_norm=False, dropout=0.5):
    """VGG-``depth`` (11, 13, 16 or 19 weight layers), "Very Deep Convolutional Networks for
    Large-Scale Image Recognition" (Simonyan & Zisserman, 2014), torchvision's layout.

    Inputs of at least 32x32; the adaptive pooling to 7x7 makes the weights independent of
    the image size, so the model is built with a 32x32 probe (cheap) whatever
    ``input_shape`` says.  ``batch_norm=True`` is torchvision's ``vgg*_bn``.  Parameters for
    1000 classes without BN: VGG-11 132,863,336, VGG-13 133,047,848, VGG-16 138,357,544,
    VGG-19 143,667,240.  Outputs logits.
    """
    if depth not in CONFIGS:
        raise ValueError(f"vgg depth must be one of {sorted(CONFIGS)}, got {depth!r}.")
    who = f"vgg{depth}"
    num_classes = check_classes(num_classes, who)
    c, h, w = check_shape(input_shape, who)
    if min(h, w) < _PROBE:
        raise ValueError(f"{who} needs inputs of at least 32x32 pixels (five 2x2 poolings), "
                         f"got input_shape={tuple(input_shape)}.")
    model = VGG(CONFIGS[depth], num_classes, batch_norm, dropout, name=who)
    return build(model, (c, _PROBE, _PROBE), who)


def vgg11(num_classes=1000, input_shape=(3, 224, 224), batch_norm=False, dropout=0.5):
    """VGG-11 (configuration A): 8 convolutions and 3 dense layers; 132,863,336 parameters
    for 1000 classes.  See ``vgg``.

    >>> sj.models.vgg11(num_classes=10)(sj.zeros((1, 3, 32, 32))).shape
    (1, 10)
    """
    return vgg(11, num_classes, input_shape, batch_norm, dropout)


def vgg13(num_classes=1000, input_shape=(3, 224, 224), batch_norm=False, dropout=0.5):
    """VGG-13 (configuration B); 133,047,848 parameters for 1000 classes.  See ``vgg``."""
    return vgg(13, num_classes, input_shape, batch_norm, dropout)


def vgg16(num_classes=1000, input_shape=(3, 224, 224), batch_norm=False, dropout=0.5):
    """VGG-16 (configuration D): 13 convolutions and 3 dense layers; 138,357,544 parameters
    for 1000 classes, as torchvision.  See ``vgg``.

    >>> sj.models.vgg16(num_classes=10)(sj.zeros((1, 3, 32, 32))).shape
    (1, 10)
    """
    return vgg(16, num_classes, input_shape, batch_norm, dropout)


def vgg19(num_classes=1000, input_shape=(3, 224, 224), batch_norm=False, dropout=0.5):
    """VGG-19 (configuration E); 143,667,240 parameters for 1000 classes.  See ``vgg``."""
    return vgg(19, num_classes, input_shape, batch_norm, dropout)
