"""Small generative models: a convolutional autoencoder and a DCGAN pair (Radford et al. 2016)."""
from __future__ import annotations

from ..nn.activations import LeakyReLU, ReLU
from ..nn.containers import Sequential as Stack
from ..nn.conv import Conv2D, Conv2DTranspose
from ..nn.core import Dense, Flatten, Reshape
from ..nn.normalization import BatchNormalization
from ..train.model import Model, Sequential
from ._common import build, check_shape


def _check_positive(value, what, who):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{who} expects a positive int for {what}, got {value!r}.")
    return value


def _check_quarter(shape, who):
    """Two stride-2 stages: height and width must be multiples of 4."""
    c, h, w = check_shape(shape, who)
    if h % 4 or w % 4:
        raise ValueError(f"{who} halves the image twice, so height and width must be "
                         f"multiples of 4; got input shape {tuple(shape)} (pad or crop the "
                         "images, e.g. 28x28 or 8x8).")
    return c, h, w


class ConvAutoencoder(Model):
    """``decoder(encoder(x))``: the encoder halves the image twice with stride-2 3x3
    convolutions, the decoder doubles it back with stride-2 transposed convolutions
    (output_padding 1) and ends in a sigmoid.  ``encode``/``decode`` give the halves."""

    def __init__(self, channels, filters=16, latent_channels=8, name="conv_autoencoder"):
        super().__init__(name=name)
        self.encoder = Stack([
            Conv2D(filters, 3, strides=2, padding=1, activation="relu"),
            Conv2D(latent_channels, 3, strides=2, padding=1, activation="relu"),
        ], name="encoder")
        self.decoder = Stack([
            Conv2DTranspose(filters, 3, strides=2, padding=1, output_padding=1,
                            activation="relu"),
            Conv2DTranspose(channels, 3, strides=2, padding=1, output_padding=1,
                            activation="sigmoid"),
        ], name="decoder")

    def encode(self, x):
        """The latent maps, (N, latent_channels, H/4, W/4)."""
        return self.encoder(x)

    def decode(self, z):
        """Images in (0, 1) from latent maps."""
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def conv_autoencoder(input_shape=(1, 28, 28), latent_channels=8, filters=16):
    """A small convolutional autoencoder (the encoder/decoder of Masci et al., 2011, with
    strided convolutions instead of pooling, as in the Keras autoencoder tutorial):

        Conv2D(filters, 3x3, /2) → Conv2D(latent_channels, 3x3, /2)           (encoder)
        → Conv2DTranspose(filters, 3x3, x2) → Conv2DTranspose(C, 3x3, x2, sigmoid)  (decoder)

    Height and width must be multiples of 4 (28x28 MNIST, 8x8 scikit-learn digits); the
    latent code is (latent_channels, H/4, W/4).  Train on images scaled to [0, 1] with
    ``loss="mse"`` or ``"binary_crossentropy"``, the images being their own targets.

    >>> ae = sj.models.conv_autoencoder((1, 8, 8))
    >>> ae.compile("adam", "mse"); ae.fit(x, x, epochs=20, verbose=0)
    """
    shape = _check_quarter(input_shape, "conv_autoencoder")
    _check_positive(latent_channels, "latent_channels", "conv_autoencoder")
    _check_positive(filters, "filters", "conv_autoencoder")
    return build(ConvAutoencoder(shape[0], filters, latent_channels), shape,
                 "conv_autoencoder")


def _bn():
    return BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5)


def gan(latent_dim=16, image_shape=(1, 8, 8), filters=32):
    """A DCGAN pair ``(generator, discriminator)`` after Radford, Metz & Chintala, "Unsupervised
    Representation Learning with Deep Convolutional GANs" (2016), sized for small images:

    generator, z of shape (N, latent_dim) → images in (-1, 1) of ``image_shape``:
        Dense(2·filters·H/4·W/4, no bias) → Reshape → BN → ReLU
        → Conv2DTranspose(filters, 4x4, x2, no bias) → BN → ReLU
        → Conv2DTranspose(C, 4x4, x2) → tanh

    discriminator, images → one logit per image (real > 0):
        Conv2D(filters, 4x4, /2) → LeakyReLU(0.2)
        → Conv2D(2·filters, 4x4, /2, no bias) → BN → LeakyReLU(0.2) → Flatten → Dense(1)

    As DCGAN: strided (transposed) convolutions instead of pooling, BatchNorm in both nets
    except the generator output and the discriminator input layers, ReLU in the generator,
    LeakyReLU(0.2) in the discriminator.  Both are ``sj.Sequential`` models; scale the
    images to [-1, 1] and train with ``sj.losses.BinaryCrossentropy(from_logits=True)``.
    Height and width must be multiples of 4 (8x8 digits, 28x28 MNIST).

    >>> g, d = sj.models.gan(latent_dim=16, image_shape=(1, 8, 8))
    >>> d(g(sj.randn(4, 16))).shape
    (4, 1)
    """
    c, h, w = _check_quarter(image_shape, "gan")
    _check_positive(latent_dim, "latent_dim", "gan")
    _check_positive(filters, "filters", "gan")
    generator = Sequential([
        Dense(2 * filters * (h // 4) * (w // 4), use_bias=False),
        Reshape((2 * filters, h // 4, w // 4)), _bn(), ReLU(),
        Conv2DTranspose(filters, 4, strides=2, padding=1, use_bias=False), _bn(), ReLU(),
        Conv2DTranspose(c, 4, strides=2, padding=1, activation="tanh"),
    ], name="generator")
    discriminator = Sequential([
        Conv2D(filters, 4, strides=2, padding=1), LeakyReLU(0.2),
        Conv2D(2 * filters, 4, strides=2, padding=1, use_bias=False), _bn(), LeakyReLU(0.2),
        Flatten(), Dense(1),
    ], name="discriminator")
    return (build(generator, (latent_dim,), "gan generator"),
            build(discriminator, (c, h, w), "gan discriminator"))
