"""ONNX export: ``export_onnx(model, example_input, path)`` writes a model that ONNX runtimes
(onnxruntime, TensorRT, OpenVINO, ...) run without shenjing.

How: the model runs forward in evaluation mode on batches built from ``example_input`` and
every op it calls is recorded (``Function.apply``), whether the model is a ``Sequential``,
nested containers or a subclass with its own ``forward`` (residual additions, slicing,
padding...).  Each recorded op that depends on the input becomes ONNX nodes; everything
computed from weights alone is folded into initializers (named after the weights,
``layers.0.kernel``).  Two traces with different batch sizes tell which shapes follow the
batch, so the file takes any batch size (input dimension ``"batch"``).

Layers and ops (opset 17 by default, 17-21 accepted):

    shenjing                                        ONNX
    Dense, Linear                                   MatMul + Add
    Conv1D/2D (padding, strides, dilation, groups)  Conv (1-D as 2-D between Reshapes)
    Conv1D/2DTranspose                              ConvTranspose
    MaxPooling1D/2D, AveragePooling1D/2D            MaxPool, AveragePool
    GlobalAverage/MaxPooling, AdaptiveAvgPooling2D  ReduceMean / ReduceMax / MatMul
    BatchNormalization, BatchNorm1d/2d (eval)       Mul + Add with the folded statistics
    LayerNormalization, LayerNorm                   LayerNormalization
    GroupNormalization, GroupNorm, instance norm    ReduceMean-based formula
    activations (relu, sigmoid, tanh, softmax,      Relu, Sigmoid, Tanh, Softmax, LogSoftmax,
      log_softmax, leaky_relu, elu, selu, gelu,       LeakyRelu, Elu, Selu, Erf/Tanh formula,
      silu, softplus)                                 x·Sigmoid(x), Softplus
    Dropout (eval)                                  nothing (identity)
    Flatten, Reshape, ZeroPadding2D, Cropping2D,    Reshape, Pad, Slice, Expand (UpSampling2D
      UpSampling2D                                    nearest), MatMul (bilinear)
    Embedding                                       Gather
    SimpleRNN, LSTM, GRU (return_sequences,         RNN, LSTM, GRU (Transposes to time-major;
      return_state, go_backwards)                     LSTM gates iofc, GRU zrh with
                                                      linear_before_reset=1)
    Bidirectional (concat / sum / ave / mul)        forward + reverse RNN nodes, merged
    Add, Subtract, Multiply, Average, Maximum,      Add, Sub, Mul, Max, Min, Concat
      Minimum, Concatenate
    MultiHeadAttention, Transformer layers          MatMul, Softmax (constant masks only)
    tensor code in forward (+, *, @, slicing,       the matching ONNX ops (``_onnx_ops``)
      reshape, transpose, concatenate, pad, ...)

Not exportable (a clear ``OnnxExportError`` names the layer and op): padding masks
(``mask_zero=True``), values computed outside shenjing's ops (raw NumPy on ``.data``),
control flow that changes with the batch or the data, and ops without a converter.

    import shenjing as sj
    model = sj.Sequential([sj.nn.Dense(32, activation="relu"), sj.nn.Dense(10)])
    x = np.random.rand(4, 64).astype("float32")
    sj.io.export_onnx(model, x, "mlp.onnx")

    import onnxruntime as ort
    session = ort.InferenceSession("mlp.onnx")
    y = session.run(None, {"input": x})[0]          # == model.predict(x) to ~1e-6

ONNX is an optional extra: ``pip install 'shenjing[onnx]'``.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from ._onnx_graph import Graph, Node, elem_type
from ._onnx_ops import CONVERTERS as _BASIC
from ._onnx_ops_nn import CONVERTERS as _NN
from ._onnx_ops_nn import DEPENDS_ON_OPTION
from ._onnx_trace import BATCHES, OnnxExportError, layer_label, trace_twice

__all__ = ["export_onnx", "OnnxExportError", "SUPPORTED_OPS"]

CONVERTERS = {**_BASIC, **_NN}
SUPPORTED_OPS = sorted(fn.__name__ for fn in CONVERTERS)
OPSETS = range(17, 22)


def _require_onnx():
    try:
        import onnx  # noqa: PLC0415  (an optional extra)
    except ImportError as e:
        raise ImportError("sj.io.export_onnx needs the 'onnx' package, an optional extra: "
                          "pip install 'shenjing[onnx]' (or pip install onnx).") from e
    return onnx


def _example_array(example_input):
    x = example_input.data if isinstance(example_input, Tensor) else example_input
    x = np.asarray(getattr(x, "get", lambda: x)())  # CuPy arrays come back to the host
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"export_onnx needs an example input with a batch axis and at least "
                         f"one sample, got shape {x.shape}.")
    return x


def _depends(graph, first, second):
    if any(graph.lookup(t) is not None for t in first.inputs):
        return True
    key = DEPENDS_ON_OPTION.get(first.fn)
    return key is not None and graph.lookup_array(first.options[key],
                                                  second.options[key]) is not None


def _convert_calls(graph, first, second):
    for c1, c2 in zip(first.calls, second.calls):
        if not _depends(graph, c1, c2):
            continue  # computed from weights alone: folded into a constant when used
        node = Node(graph, c1, c2)
        convert = CONVERTERS.get(c1.fn)
        if convert is None:
            raise OnnxExportError(
                f"cannot export {layer_label(c1.layer)}: its op {c1.fn.__name__} has no ONNX "
                f"converter. Supported ops: {', '.join(SUPPORTED_OPS)}.")
        graph.bind(c1.output, convert(graph, node))


def _dims(a, b):
    dims = []
    for d1, d2 in zip(a, b):
        if d1 == d2:
            dims.append(int(d1))
        else:
            dims.append("batch" if (d1, d2) == BATCHES else None)
    return dims


def _outputs(graph, first, second, names):
    onnx, infos = graph.onnx, []
    for i, (o1, o2) in enumerate(zip(first.outputs, second.outputs)):
        value = graph.lookup(o1)
        if value is None:
            if o1.shape != o2.shape or not np.array_equal(o1.data, o2.data):
                raise OnnxExportError(f"output #{i} is not computed by shenjing ops from the "
                                      "input, so it cannot be exported.")
            value = graph.const(o1.data, "constant_output")
        name = names[i]
        graph.nodes.append(onnx.helper.make_node("Identity", [value], [name],
                                                 name=graph.fresh("output_identity")))
        infos.append(onnx.helper.make_tensor_value_info(
            name, elem_type(onnx, o1.data.dtype), _dims(o1.shape, o2.shape)))
    return infos


def _output_names(output_names, n):
    if output_names is None:
        return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]
    names = [output_names] if isinstance(output_names, str) else list(output_names)
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"export_onnx: the model has {n} output(s); output_names must give "
                         f"{n} distinct names, got {output_names!r}.")
    return names


def export_onnx(model, example_input, path=None, *, opset=17, input_name="input",
                output_names=None, check=True):
    """Export ``model`` (evaluation mode) to ONNX; write it to ``path`` (if given) and
    return the ``onnx.ModelProto``.

    ``example_input``: one batch (NumPy array or Tensor) of the shape and dtype the model
    takes; the exported batch axis is dynamic (``"batch"``).  The graph input is named
    ``input_name``; outputs ``output`` (``output_0``, ``output_1``, ... for a tuple) unless
    ``output_names`` says otherwise.  ``check`` runs ``onnx.checker.check_model``.
    Raises ``OnnxExportError`` naming the layer and op that cannot be expressed.

    >>> sj.io.export_onnx(model, x_test[:8], "model.onnx")
    """
    onnx = _require_onnx()
    if opset not in OPSETS:
        raise ValueError(f"export_onnx supports opset {OPSETS.start} to {OPSETS.stop - 1}, "
                         f"got opset={opset!r}.")
    x = _example_array(example_input)
    first, second = trace_twice(model, x)
    names = {id(t): n for n, t in model.named_parameters()}
    names.update({id(t): n for n, t in model.named_buffers()})
    graph = Graph(onnx, first, second, names, opset)
    out_names = _output_names(output_names, len(first.outputs))
    if input_name in out_names:
        raise ValueError(f"export_onnx: input_name {input_name!r} is also an output name.")
    for n in [input_name, *out_names]:
        graph.reserve(n)
    graph.input_name = input_name
    graph.bind(first.x, input_name)
    _convert_calls(graph, first, second)
    outputs = _outputs(graph, first, second, out_names)
    inp = onnx.helper.make_tensor_value_info(graph.input_name, elem_type(onnx, x.dtype),
                                             ["batch", *x.shape[1:]])
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(graph.nodes, getattr(model, "name", "shenjing"), [inp],
                               outputs, initializer=graph.initializers),
        opset_imports=[onnx.helper.make_opsetid("", opset)], producer_name="shenjing")
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    if check:
        onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, str(path))
    return proto
