"""Residual networks (He, Zhang, Ren & Sun 2016): the ImageNet ResNet-18/34 in torchvision's
layout and the CIFAR-10 ResNet-20/32/44/56/110 of the paper's section 4.2."""
from __future__ import annotations

from ..nn.containers import Sequential as Stack
from ..nn.conv import Conv2D
from ..nn.core import Dense
from ..nn.module import Module
from ..nn.normalization import BatchNormalization
from ..nn.pooling import GlobalAveragePooling2D
from ..ops import getitem, max_pool2d, pad, relu
from ..train.model import Model
from ._common import build, check_classes, check_shape

_PROBE = 32  # the weights do not depend on the image size (global average pooling)


def _bn():
    """BatchNorm over channels with PyTorch's defaults (eps 1e-5, running-average weight
    0.1, i.e. Keras momentum 0.9), as torchvision's ResNets."""
    return BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5)


def _conv(filters, kernel_size, strides=1, padding=0):
    """A convolution without bias (the BatchNorm after it has one), He-normal initialised."""
    return Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                  kernel_initializer="he_normal")


class BasicBlock(Module):
    """The basic residual block of He et al. (2016), two 3x3 convolutions:

        y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))

    ``conv1`` carries the stride.  The shortcut is the identity when the shape is kept;
    when ``strides`` > 1 or the channels grow it is, with ``shortcut="B"`` (torchvision),
    ``downsample`` = 1x1 convolution with stride + BatchNorm (projection), and with
    ``shortcut="A"`` (the paper's CIFAR networks) the input subsampled with the stride
    and zero-padded with the new channels after the existing ones: no parameters.

    Attribute names follow torchvision (``conv1``, ``bn1``, ``conv2``, ``bn2``,
    ``downsample``) so weights map one to one.

    >>> block = BasicBlock(16, 32, strides=2, shortcut="A")
    >>> block(sj.randn(2, 16, 8, 8)).shape
    (2, 32, 4, 4)
    """

    expansion = 1

    def __init__(self, in_channels, filters, strides=1, shortcut="B", name=None):
        super().__init__(name=name)
        if shortcut not in ("A", "B"):
            raise ValueError(f"BasicBlock shortcut must be 'A' (zero-padding identity) or "
                             f"'B' (1x1 projection), got {shortcut!r}.")
        self.in_channels, self.filters = int(in_channels), int(filters)
        self.strides, self.shortcut = int(strides), shortcut
        self.conv1 = _conv(filters, 3, strides, padding=1)
        self.bn1 = _bn()
        self.conv2 = _conv(filters, 3, padding=1)
        self.bn2 = _bn()
        self.downsample = None
        reshaped = self.strides != 1 or self.in_channels != self.filters
        if reshaped and shortcut == "B":
            self.downsample = Stack([_conv(filters, 1, strides), _bn()], name="downsample")

    def _shortcut(self, x):
        if self.downsample is not None:
            return self.downsample(x)
        if self.strides != 1:
            x = getitem(x, (slice(None), slice(None), slice(None, None, self.strides),
                            slice(None, None, self.strides)))
        extra = self.filters - self.in_channels
        return pad(x, ((0, 0), (0, extra), (0, 0), (0, 0))) if extra > 0 else x

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"BasicBlock '{self.name}' expects (N, {self.in_channels}, H, W) "
                             f"inputs, got shape {tuple(x.shape)}.")
        # in place: batch norm's and the sum's outputs are read by nothing else
        y = relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return relu(y + self._shortcut(x), inplace=True)

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "filters": self.filters, "strides": self.strides, "shortcut": self.shortcut}

    def extra_repr(self):
        return (f"{self.in_channels} → {self.filters}, strides={self.strides}, "
                f"shortcut={self.shortcut!r}")


class ResNet(Model):
    """A residual network of ``BasicBlock`` stages.

    ``stem="imagenet"``: 7x7/2 convolution (64 filters), BN, ReLU, 3x3/2 max pooling, as
    torchvision; ``stem="cifar"``: one 3x3 convolution of ``widths[0]`` filters, BN, ReLU.
    Stage i (``layer1``, ``layer2``, ...) has ``blocks[i]`` blocks of ``widths[i]`` filters;
    every stage but the first starts with a stride-2 block.  Then global average pooling and
    ``fc`` = Dense(num_classes) (logits).  Use the builders ``resnet18()``, ``resnet20()``...
    """

    def __init__(self, blocks, widths, num_classes=1000, stem="imagenet", shortcut="B",
                 name="resnet"):
        super().__init__(name=name)
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"ResNet stem must be 'imagenet' or 'cifar', got {stem!r}.")
        if len(blocks) != len(widths):
            raise ValueError(f"ResNet needs one width per stage: blocks={blocks}, "
                             f"widths={widths}.")
        channels = 64 if stem == "imagenet" else widths[0]
        if stem == "imagenet":
            self.conv1 = _conv(channels, 7, strides=2, padding=3)
        else:
            self.conv1 = _conv(channels, 3, padding=1)
        self.bn1 = _bn()
        self.stem = stem
        self.stage_names = []
        for i, (n, width) in enumerate(zip(blocks, widths)):
            stage = []
            for j in range(n):
                strides = 2 if i > 0 and j == 0 else 1
                stage.append(BasicBlock(channels, width, strides, shortcut))
                channels = width
            setattr(self, f"layer{i + 1}", Stack(stage, name=f"layer{i + 1}"))
            self.stage_names.append(f"layer{i + 1}")
        self.avgpool = GlobalAveragePooling2D()
        self.fc = Dense(num_classes)

    def forward(self, x):
        x = relu(self.bn1(self.conv1(x)), inplace=True)
        if self.stem == "imagenet":  # torch's symmetric padding 1 ("same" pads 0 and 1)
            x = max_pool2d(x, 3, stride=2, padding=1)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.fc(self.avgpool(x))


def _imagenet(who, blocks, num_classes, input_shape, shortcut):
    num_classes = check_classes(num_classes, who)
    c, _, _ = check_shape(input_shape, who)
    model = ResNet(blocks, (64, 128, 256, 512), num_classes, "imagenet", shortcut, name=who)
    return build(model, (c, _PROBE, _PROBE), who)


def resnet18(num_classes=1000, input_shape=(3, 224, 224), shortcut="B"):
    """ResNet-18, "Deep Residual Learning for Image Recognition" (He et al., 2016), in
    torchvision's layout: BasicBlock stages [2, 2, 2, 2] of 64/128/256/512 filters,
    projection shortcuts (option B) where the shape changes, no convolution biases.

    Global average pooling makes the weights independent of the image size, so the model is
    built with a 32x32 probe whatever ``input_shape`` says.  11,689,512 parameters for 1000
    classes, as torchvision.  Outputs logits.

    >>> sj.models.resnet18(num_classes=10)(sj.zeros((1, 3, 64, 64))).shape
    (1, 10)
    """
    return _imagenet("resnet18", [2, 2, 2, 2], num_classes, input_shape, shortcut)


def resnet34(num_classes=1000, input_shape=(3, 224, 224), shortcut="B"):
    """ResNet-34 (He et al., 2016), torchvision's layout: BasicBlock stages [3, 4, 6, 3];
    21,797,672 parameters for 1000 classes.  See ``resnet18``."""
    return _imagenet("resnet34", [3, 4, 6, 3], num_classes, input_shape, shortcut)


def resnet_cifar(depth, num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """The CIFAR-10 ResNet-``depth`` of He et al. (2016, section 4.2), depth = 6n + 2:

        3x3 conv (16) → BN → ReLU → n blocks of 16 → n blocks of 32 (first stride 2)
        → n blocks of 64 (first stride 2) → global average pooling → Dense(num_classes)

    ``shortcut="A"`` (default, the paper's choice for CIFAR): identity shortcuts, subsampled
    and zero-padded where the shape changes, adding no parameters — ResNet-20 then has
    269,722 parameters (the paper's "0.27M"), ResNet-32 464,154, ResNet-56 853,018.
    ``shortcut="B"``: 1x1 projection + BN shortcuts as torchvision (ResNet-20: 272,474).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110, ...), "
                         f"got {depth!r}.")
    who = f"resnet{depth}"
    num_classes = check_classes(num_classes, who)
    shape = check_shape(input_shape, who)
    n = (depth - 2) // 6
    model = ResNet([n] * 3, (16, 32, 64), num_classes, "cifar", shortcut, name=who)
    return build(model, (shape[0], min(shape[1], _PROBE), min(shape[2], _PROBE)), who)


def resnet20(num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """ResNet-20 for CIFAR-10 (He et al., 2016): n = 3; 269,722 parameters with option A
    shortcuts.  See ``resnet_cifar``.

    >>> sj.models.resnet20()(sj.zeros((2, 3, 32, 32))).shape
    (2, 10)
    """
    return resnet_cifar(20, num_classes, input_shape, shortcut)


def resnet32(num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """ResNet-32 for CIFAR-10 (He et al., 2016): n = 5; 464,154 parameters (option A)."""
    return resnet_cifar(32, num_classes, input_shape, shortcut)


def resnet44(num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """ResNet-44 for CIFAR-10 (He et al., 2016): n = 7; 658,586 parameters (option A)."""
    return resnet_cifar(44, num_classes, input_shape, shortcut)


def resnet56(num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """ResNet-56 for CIFAR-10 (He et al., 2016): n = 9; 853,018 parameters (option A)."""
    return resnet_cifar(56, num_classes, input_shape, shortcut)


def resnet110(num_classes=10, input_shape=(3, 32, 32), shortcut="A"):
    """ResNet-110 for CIFAR-10 (He et al., 2016): n = 18; 1,727,962 parameters (option A)."""
    return resnet_cifar(110, num_classes, input_shape, shortcut)
