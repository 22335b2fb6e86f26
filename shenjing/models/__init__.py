"""The model zoo: builders that return trainable ``sj.Model`` / ``sj.Sequential`` networks.

    model = sj.models.resnet20()                  # CIFAR-10 ResNet-20, 269,722 parameters
    model = sj.models.get("lenet5", num_classes=10)
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True))

Every builder takes ``num_classes`` (classifiers) and ``input_shape`` = (channels, height,
width) without the batch axis, NCHW, and returns a model whose weights already exist (built
by one forward pass of a zero sample), so ``count_params()`` and ``summary()`` work at once.
Classifiers output logits, except ``seed_cnn`` (softmax, as its Keras source).
"""
from __future__ import annotations

from .alexnet import AlexNet, alexnet
from .generative import ConvAutoencoder, conv_autoencoder, gan
from .lenet import lenet5
from .resnet import (BasicBlock, ResNet, resnet18, resnet20, resnet32, resnet34, resnet44,
                     resnet56, resnet110, resnet_cifar)
from .simple_cnns import cifar_cnn, seed_cnn
from .vgg import VGG, vgg, vgg11, vgg13, vgg16, vgg19

MODELS = {
    "lenet5": lenet5, "seed_cnn": seed_cnn, "cifar_cnn": cifar_cnn, "alexnet": alexnet,
    "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "resnet18": resnet18, "resnet34": resnet34,
    "resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56,
    "resnet110": resnet110,
    "conv_autoencoder": conv_autoencoder, "gan": gan,
}


def get(name, **kwargs):
    """Build the model registered as ``name`` (case and ``-`` insensitive: "ResNet-20")
    with the builder's keyword arguments; ``gan`` returns ``(generator, discriminator)``.

    >>> sj.models.get("resnet20", num_classes=100)
    """
    if not isinstance(name, str):
        raise TypeError(f"sj.models.get expects a model name (str), got "
                        f"{type(name).__name__}: {name!r}.")
    key = name.lower().replace("-", "").replace(" ", "")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}.")
    return MODELS[key](**kwargs)


__all__ = ["MODELS", "get", "lenet5", "seed_cnn", "cifar_cnn", "alexnet", "AlexNet", "vgg",
           "vgg11", "vgg13", "vgg16", "vgg19", "VGG", "resnet18", "resnet34", "resnet20",
           "resnet32", "resnet44", "resnet56", "resnet110", "resnet_cifar", "ResNet",
           "BasicBlock", "conv_autoencoder", "ConvAutoencoder", "gan"]
