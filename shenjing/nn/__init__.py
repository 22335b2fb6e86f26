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
