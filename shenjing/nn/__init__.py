"""Layers and models (Keras names), the PyTorch-style ``functional`` namespace, initialisers.

    import shenjing as sj
    model = sj.nn.Sequential([sj.nn.Dense(64, activation="relu"), sj.nn.Dense(10)])
    logits = model(sj.randn(32, 4))
"""
from ..tensor import Parameter
from . import functional, init
from .activations import (ELU, GELU, SELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU,
                          Softmax, Softplus, Tanh)
from .core import Activation, Dense, Dropout, Flatten, Identity, Linear, Reshape
from .containers import ModuleList, Sequential
from .module import Module
from .summary import summary

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "Dense", "Linear", "Activation",
           "Dropout", "Flatten", "Reshape", "Identity", "ReLU", "LeakyReLU", "ELU", "SELU",
           "GELU", "Sigmoid", "Tanh", "SiLU", "Softplus", "Softmax", "LogSoftmax", "init",
           "functional", "summary", "activations"]

# convolution, pooling, normalisation, merge and spatial reshaping layers (NCHW)
from .conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose
from .merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNormalization, GroupNorm,
                            GroupNormalization, LayerNorm, LayerNormalization)
from .pooling import (AdaptiveAveragePooling2D, AveragePooling1D, AveragePooling2D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .reshaping import Cropping2D, UpSampling2D, ZeroPadding2D

__all__ += ["Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "MaxPooling1D",
            "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
            "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
            "AdaptiveAveragePooling2D", "BatchNormalization", "BatchNorm1d", "BatchNorm2d",
            "LayerNormalization", "LayerNorm", "GroupNormalization", "GroupNorm", "Add",
            "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
            "ZeroPadding2D", "UpSampling2D", "Cropping2D"]

# attention, positions and the Transformer (batch-first)
from .attention import MultiHeadAttention, MultiheadAttention  # noqa: E402
from .positional import PositionalEmbedding, SinusoidalPositionalEncoding  # noqa: E402
from .transformer import (TransformerDecoder, TransformerDecoderLayer,  # noqa: E402
                          TransformerEncoder, TransformerEncoderLayer,
                          generate_square_subsequent_mask)

__all__ += ["MultiHeadAttention", "MultiheadAttention", "PositionalEmbedding",
            "SinusoidalPositionalEncoding", "TransformerEncoderLayer", "TransformerDecoderLayer",
            "TransformerEncoder", "TransformerDecoder", "generate_square_subsequent_mask"]

# recurrent layers, embeddings and variable-length sequences (batch-first)
from .bidirectional import Bidirectional  # noqa: E402
from .embedding import Embedding  # noqa: E402
from .recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from .sequence_utils import pad_sequences, sequence_mask  # noqa: E402

__all__ += ["Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "pad_sequences",
            "sequence_mask"]
