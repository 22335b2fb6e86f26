"""Differentiable operations on Tensors, NumPy names.

Primitives (a ``Function`` with a hand-written backward), the whole budget:
  elementwise  Add Sub Mul Div Pow PowScalar Neg Exp Log Sqrt Abs Maximum Minimum Where
               Clip Cast
  reduce       Sum Mean Extremum(max/min) LogSumExp
  shape        Reshape Transpose BroadcastTo Concatenate Pad Flip GetItem
  linalg       MatMul Affine
  activations  Sigmoid Tanh ReLU LeakyReLU ELU(+SELU) GELU SiLU Softplus
  nn           Softmax LogSoftmax SoftmaxCrossEntropy
Composed (gradient for free): var, std, stack, split, squeeze, unsqueeze, flatten, dropout.
"""
from .activations import elu, gelu, leaky_relu, relu, selu, sigmoid, silu, softplus, swish, tanh
from .compare import (allclose, equal, greater, greater_equal, isfinite, isnan, less,
                      less_equal, logical_and, logical_not, logical_or, not_equal)
from .elementwise import (abs, add, cast, clip, clone, div, exp, log, maximum, minimum, mul,
                          neg, pow, sqrt, sub, where)
from .linalg import affine, matmul
from .nn import dropout, log_softmax, softmax, softmax_cross_entropy
from .reduce import all, any, argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, concatenate, expand, expand_dims, flatten, flip,
                    getitem, pad, permute, reshape, split, squeeze, stack, swapaxes,
                    transpose, unsqueeze)

clamp = clip

__all__ = [n for n in dir() if not n.startswith("_") and n not in {
    "activations", "compare", "elementwise", "linalg", "nn", "reduce", "shape"}]
