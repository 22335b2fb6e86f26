"""shenjing (神经): a deep-learning framework written from first principles on NumPy.

    import shenjing as sj
    x = sj.tensor([[1.0, 2.0]], requires_grad=True)
"""
from . import _cpu_tuning

_cpu_tuning.apply()  # OPENBLAS_CORETYPE=SkylakeX on AVX-512 non-Intel CPUs, before NumPy loads

from .threads import configure_default as _configure_threads  # noqa: E402

_configure_threads()

from . import dtypes, ops, random  # noqa: E402
from . import cuda  # noqa: E402  (sj.cuda.is_available(), memory stats)
from .device import Device, device  # noqa: E402  (sj.device("cuda:0"))
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .creation import (arange, as_tensor, empty, eye, from_numpy, full, full_like,  # noqa: E402
                       linspace, normal, ones, ones_like, rand, randint, randn, tensor,
                       uniform, zeros, zeros_like)
from .dtypes import (bool_, float16, float32, float64, get_default_dtype, int32,  # noqa: E402
                     int64, set_default_dtype, uint8)
from .ops import *  # noqa: E402,F403  (sj.exp, sj.matmul, sj.sum, ...)
from .random import manual_seed  # noqa: E402
from .tensor import Parameter, Tensor  # noqa: E402
from .threads import get_num_threads, set_num_threads  # noqa: E402

from . import nn, optim, losses, metrics, data, explain  # noqa: E402,I001
from . import regularizers  # noqa: E402  (sj.regularizers.l2(1e-4), Keras style)
from .train import callbacks  # noqa: E402  (sj.callbacks.EarlyStopping, Keras style)
from .train.model import Model, Sequential  # noqa: E402
from .train.history import History  # noqa: E402
from . import quantize  # noqa: E402  (sj.quantize.dynamic_int8, pruning)
from . import models  # noqa: E402  (sj.models.resnet20(), the model zoo)
from . import distributed  # noqa: E402  (sj.distributed: MPI data parallelism)
from . import io  # noqa: E402  (sj.io.save_model, export_onnx, ...)
from .io import load_model  # noqa: E402  (sj.load_model(path), Keras style)
from . import amp  # noqa: E402  (sj.amp: mixed precision)
from .amp import GradScaler, autocast  # noqa: E402
from . import text  # noqa: E402  (sj.text: tokenizers, LM windows, sampling, corpus)

__version__ = "0.1.0"
