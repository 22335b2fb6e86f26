"""ONNX converters for shenjing's elementwise, activation, reduction, linear-algebra and
shape ops: one function ``(graph, node) -> output value name`` per ``Function`` class.

    shenjing op                      ONNX (opset 17)
    Add Sub Mul Div Pow              Add Sub Mul Div Pow
    Maximum Minimum                  Max Min
    Neg Exp Log Sqrt Abs             Neg Exp Log Sqrt Abs
    PowScalar(p)                     Pow(x, p)
    Clip(lo, hi)  Cast(dtype)        Clip  Cast
    Where(cond)                      Where (cond must be a constant)
    Sigmoid Tanh ReLU                Sigmoid Tanh Relu
    LeakyReLU  ELU  SELU             LeakyRelu  Elu  Selu
    GELU (exact / tanh)              x·½(1 + Erf(x/√2))  /  ½x(1 + Tanh(√(2/π)(x + 0.044715x³)))
    SiLU  Softplus                   x·Sigmoid(x)  Softplus
    Softmax LogSoftmax (axis)        Softmax LogSoftmax
    MatMul  Affine                   MatMul  MatMul + Add
    Sum Mean Max/Min LogSumExp       ReduceSum ReduceMean ReduceMax/ReduceMin ReduceLogSumExp
    Reshape Transpose BroadcastTo    Reshape Transpose Expand (batch-size entries at run time)
    Concatenate Pad Flip             Concat Pad Slice(step -1)
    GetItem (basic; one int array)   Slice + Squeeze + Unsqueeze; Gather
    EdgePad (reflect / replicate)    Pad(mode reflect / edge)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..ops import activations as act
from ..ops import elementwise as ew
from ..ops import linalg, nn, reduce, shape
from ..ops.pool import EdgePad
from ._onnx_graph import elem_type

INT_MAX, INT_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _dtype(node, i=0):
    return node.inputs[i].data.dtype


# ---------------------------------------------------------------- elementwise
def _simple(op_type, n_inputs=None, **attrs):
    def convert(g, node):
        n = len(node.inputs) if n_inputs is None else n_inputs
        return g.op(op_type, [node.input(i) for i in range(n)], **attrs)
    return convert


def _pow_scalar(g, node):
    return g.op("Pow", [node.input(0), g.scalar(node.options["p"], _dtype(node))])


def _clip(g, node):
    bounds = []
    for key in ("lo", "hi"):
        v = node.options[key]
        if v is not None and node.varies(key):
            raise node.error(f"its bound `{key}` changes with the batch or the data.")
        if v is not None and np.size(v) != 1:
            raise node.error("Clip bounds must be scalars for ONNX.")
        bounds.append("" if v is None else g.scalar(np.reshape(v, ()), _dtype(node)))
    inputs = [node.input(0), *bounds]
    while inputs[-1] == "":
        inputs.pop()
    return g.op("Clip", inputs)


def _cast(g, node):
    return g.op("Cast", [node.input(0)], to=elem_type(g.onnx, node.options["dtype"]))


def _where(g, node):
    if node.varies("cond"):
        raise node.error("its condition is computed from the data or the batch outside the "
                         "graph (a comparison on raw arrays), which ONNX export cannot follow.")
    cond = g.const(np.asarray(node.options["cond"], dtype=bool), "cond")
    return g.op("Where", [cond, node.input(0), node.input(1)])


# ---------------------------------------------------------------- activations
def _leaky_relu(g, node):
    return g.op("LeakyRelu", [node.input(0)], alpha=float(node.options["alpha"]))


def _elu(g, node):
    alpha, scale = float(node.options["alpha"]), float(node.options["scale"])
    if scale == 1.0:
        return g.op("Elu", [node.input(0)], alpha=alpha)
    return g.op("Selu", [node.input(0)], alpha=alpha, gamma=scale)


def _gelu(g, node):
    x, dt = node.input(0), _dtype(node)
    half = g.scalar(0.5, dt)
    one = g.scalar(1.0, dt)
    if node.options["approximate"] == "tanh":
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, dt)])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2 / math.pi), dt)])])
        return g.op("Mul", [g.op("Mul", [x, half]), g.op("Add", [t, one])])
    erf = g.op("Erf", [g.op("Div", [x, g.scalar(math.sqrt(2), dt)])])
    return g.op("Mul", [x, g.op("Mul", [half, g.op("Add", [erf, one])])])


def _silu(g, node):
    x = node.input(0)
    return g.op("Mul", [x, g.op("Sigmoid", [x])])


def _softmax(op_type):
    def convert(g, node):
        return g.op(op_type, [node.input(0)], axis=int(node.options["axis"]))
    return convert


# ---------------------------------------------------------------- linear algebra, reductions
def _affine(g, node):
    y = g.op("MatMul", [node.input(0), node.input(1)])
    return g.op("Add", [y, node.input(2)]) if len(node.inputs) == 3 else y


def _reduce(op_type):
    def convert(g, node):
        kind = op_type
        if op_type == "Extremum":
            kind = "ReduceMax" if node.options["largest"] else "ReduceMin"
        return g.reduce(kind, node.input(0), list(node.options["axes"]),
                        node.options["keepdims"])
    return convert


# ---------------------------------------------------------------- shapes
def _reshape(g, node):
    return g.reshape(node, node.input(0), node.options["shape"], node.options2["shape"])


def _transpose(g, node):
    axes = node.options["axes"]
    perm = list(reversed(range(len(node.shape(0))))) if axes is None else list(axes)
    return g.op("Transpose", [node.input(0)], perm=[int(a) for a in perm])


def _broadcast_to(g, node):
    x_shape, first, second = node.shape(0), node.options["shape"], node.options2["shape"]
    k = len(first) - len(x_shape)
    # where the input already has the target size, Expand may say 1 (it keeps that size)
    first = [1 if i >= k and x_shape[i - k] == d else d for i, d in enumerate(first)]
    x2 = tuple(node.inputs2[0].shape)
    second = [1 if i >= k and x2[i - k] == d else d for i, d in enumerate(second)]
    return g.op("Expand", [node.input(0), g.shape_arg(node, first, second)])


def _concatenate(g, node):
    axis = int(node.options["axis"])
    return g.op("Concat", [node.input(i) for i in range(len(node.inputs))], axis=axis)


def _pad(g, node):
    if node.varies("pad_width"):
        raise node.error("its padding depends on the batch size.")
    widths = node.options["pad_width"]
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    value = g.scalar(node.options["value"], _dtype(node))
    return g.op("Pad", [node.input(0), g.ints(pads, "pads"), value], mode="constant")


def _edge_pad(g, node):
    nd = len(node.shape(0))
    widths = ((0, 0),) * (nd - 2) + tuple(node.options["widths"])
    pads = [int(lo) for lo, _ in widths] + [int(hi) for _, hi in widths]
    mode = "reflect" if node.options["mode"] == "reflect" else "edge"
    return g.op("Pad", [node.input(0), g.ints(pads, "pads")], mode=mode)


def _flip(g, node):
    axes = list(node.options["axes"])
    if not axes:
        return g.op("Identity", [node.input(0)])
    k = len(axes)
    return g.op("Slice", [node.input(0), g.ints([-1] * k), g.ints([INT_MIN] * k),
                          g.ints(axes), g.ints([-1] * k)])


def _getitem(g, node):
    index = node.options["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    if not node.options["basic"]:
        return _gather_index(g, node, items)
    if node.varies("index"):
        raise node.error(f"its index {index!r} depends on the batch size.")
    starts, ends, axes, steps, squeeze, unsqueeze = _basic_index(items, len(node.shape(0)))
    y = node.input(0)
    if axes:
        y = g.op("Slice", [y, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        y = g.op("Squeeze", [y, g.ints(squeeze)])
    if unsqueeze:
        y = g.op("Unsqueeze", [y, g.ints(unsqueeze)])
    return y if y != node.input(0) else g.op("Identity", [y])


def _basic_index(items, ndim):
    """ints, slices, None and ... as Slice arguments (starts, ends, axes, steps), the axes
    the ints remove (Squeeze) and the output positions of None (Unsqueeze)."""
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (ndim - used)
    items += [slice(None)] * (ndim - sum(1 for i in items if i is not None))
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out = 0
    for item in items:
        if item is None:
            unsqueeze.append(out)
            out += 1
            continue
        if isinstance(item, numbers.Integral):  # x[i]: the slice i:i+1, then squeezed
            i = int(item)
            starts.append(i)
            ends.append(INT_MAX if i == -1 else i + 1)
            steps.append(1)
            axes.append(axis)
            squeeze.append(axis)
        else:
            out += 1
            if item != slice(None):
                step = 1 if item.step is None else int(item.step)
                lo, hi = (0, INT_MAX) if step > 0 else (-1, INT_MIN)
                starts.append(lo if item.start is None else int(item.start))
                ends.append(hi if item.stop is None else int(item.stop))
                steps.append(step)
                axes.append(axis)
        axis += 1
    return starts, ends, axes, steps, squeeze, unsqueeze


def _gather_index(g, node, items):
    """x[..., ids, ...]: one integer array on one axis, full slices elsewhere."""
    arrays = [i for i, item in enumerate(items) if hasattr(item, "dtype")]
    others_full = all(item == slice(None) for i, item in enumerate(items)
                      if i not in arrays and not hasattr(item, "dtype"))
    if (len(arrays) != 1 or not others_full or Ellipsis in items
            or items[arrays[0]].dtype.kind not in "iu"):
        raise node.error("only basic indexing (ints, slices, None, ...) and one integer "
                         "array on one axis export to ONNX.")
    if node.varies("index"):
        raise node.error("its index array changes with the batch or the data.")
    ids = g.const(np.asarray(items[arrays[0]], dtype=np.int64), "indices")
    return g.op("Gather", [node.input(0), ids], axis=arrays[0])


CONVERTERS = {
    ew.Add: _simple("Add"), ew.Sub: _simple("Sub"), ew.Mul: _simple("Mul"),
    ew.Div: _simple("Div"), ew.Pow: _simple("Pow"), ew.Maximum: _simple("Max"),
    ew.Minimum: _simple("Min"), ew.Neg: _simple("Neg"), ew.Exp: _simple("Exp"),
    ew.Log: _simple("Log"), ew.Sqrt: _simple("Sqrt"), ew.Abs: _simple("Abs"),
    ew.PowScalar: _pow_scalar, ew.Clip: _clip, ew.Cast: _cast, ew.Where: _where,
    act.Sigmoid: _simple("Sigmoid"), act.Tanh: _simple("Tanh"), act.ReLU: _simple("Relu"),
    act.LeakyReLU: _leaky_relu, act.ELU: _elu, act.GELU: _gelu, act.SiLU: _silu,
    act.Softplus: _simple("Softplus"),
    nn.Softmax: _softmax("Softmax"), nn.LogSoftmax: _softmax("LogSoftmax"),
    linalg.MatMul: _simple("MatMul"), linalg.Affine: _affine,
    reduce.Sum: _reduce("ReduceSum"), reduce.Mean: _reduce("ReduceMean"),
    reduce.Extremum: _reduce("Extremum"), reduce.LogSumExp: _reduce("ReduceLogSumExp"),
    shape.Reshape: _reshape, shape.Transpose: _transpose, shape.BroadcastTo: _broadcast_to,
    shape.Concatenate: _concatenate, shape.Pad: _pad, shape.Flip: _flip,
    shape.GetItem: _getitem, EdgePad: _edge_pad,
}
