"""Differentiable operations on Tensors, NumPy names.

Primitives (a ``Function`` with a hand-written backward), the whole budget:
  elementwise  Add Sub Mul Div Pow PowScalar Neg Exp Log Sqrt Abs Maximum Minimum Where
               Clip Cast
  reduce       Sum Mean Extremum(max/min) LogSumExp
  shape        Reshape Transpose BroadcastTo Concatenate Pad Flip GetItem
  linalg       MatMul Affine
  activations  Sigmoid Tanh ReLU LeakyReLU ELU(+SELU) GELU SiLU Softplus
  nn           Softmax LogSoftmax SoftmaxCrossEntropy
  conv         Conv (im2col + one matmul) ConvTranspose
  pool         MaxPool AvgPool (window views) and the padding/upsampling primitives
  norm         Normalize (batch/layer/group/instance norm, closed-form backward)
Composed (gradient for free): var, std, stack, split, squeeze, unsqueeze, flatten, dropout.
"""
from .activations import elu, gelu, leaky_relu, relu, selu, sigmoid, silu, softplus, swish, tanh
from .compare import (allclose, equal, greater, greater_equal, isfinite, isnan, less,
                      less_equal, logical_and, logical_not, logical_or, not_equal)
from .conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from .elementwise import (abs, add, cast, clip, clone, div, exp, log, maximum, minimum, mul,
                          neg, pow, sqrt, sub, where)
from .linalg import affine, matmul
from .nn import dropout, log_softmax, softmax, softmax_cross_entropy
from .norm import batch_norm, group_norm, instance_norm, layer_norm
from .pool import (adaptive_avg_pool2d, avg_pool1d, avg_pool2d, global_avg_pool2d,
                   global_max_pool2d, max_pool1d, max_pool2d, pad2d, upsample,
                   upsample_nearest2d)
from .reduce import all, any, argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, concatenate, expand, expand_dims, flatten, flip,
                    getitem, pad, permute, reshape, split, squeeze, stack, swapaxes,
                    transpose, unsqueeze)

clamp = clip

__all__ = [n for n in dir() if not n.startswith("_") and n not in {
    "activations", "compare", "conv", "elementwise", "linalg", "nn", "norm", "pool", "reduce",
    "shape"}]

# attention (primitive: Attention, the fused softmax(q kᵀ·scale + mask) v with its backward)
from .attention import multi_head_attention, scaled_dot_product_attention  # noqa: E402

__all__ += ["scaled_dot_product_attention", "multi_head_attention"]

# recurrent (primitives: SimpleRNNScan, LSTMScan, GRUScan, a whole sequence per node) and
# embedding (primitive: EmbeddingLookup, scatter-add backward)
from .embedding import embedding  # noqa: E402
from .recurrent import gru, lstm, simple_rnn  # noqa: E402

__all__ += ["embedding", "simple_rnn", "lstm", "gru"]
