"""The ONNX graph under construction: value names, initializers, nodes, and the recorded op
being converted (``Node``), seen in both traces of ``_onnx_trace``.

Converters (``_onnx_ops``, ``_onnx_ops_nn``) receive ``(graph, node)`` and return the name of
the ONNX value holding the op's output; they read inputs with ``node.input(i)`` (a value
name; constants become initializers after checking that both traces agree on them) and
options with ``node.options`` (first trace) and ``node.varies(key)``.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from ._onnx_trace import OnnxExportError, layer_label


def _host(a):
    return np.asarray(to_numpy(a) if hasattr(a, "dtype") else a)


def _same(a, b):
    a, b = _host(a), _host(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
        a, b, equal_nan=a.dtype.kind in "fc")


class Node:
    """A recorded op whose output depends on the model input, in both traces."""

    def __init__(self, graph, first, second):
        self.graph, self.fn, self.name = graph, first.fn, first.fn.__name__
        self.inputs, self.inputs2 = first.inputs, second.inputs
        self.options, self.options2 = first.options, second.options
        self.output, self.output2 = first.output, second.output
        self.layer = first.layer

    def where(self):
        return f"op {self.name} in {layer_label(self.layer)}"

    def error(self, message):
        return OnnxExportError(f"cannot export {self.where()}: {message}")

    def is_input(self, i):
        """Whether input ``i`` depends on the model input (else it is a constant)."""
        return self.graph.lookup(self.inputs[i]) is not None

    def input(self, i):
        """The ONNX value name of input ``i``."""
        name = self.graph.lookup(self.inputs[i])
        if name is not None:
            return name
        return self.graph.const(self.constant(i), self.graph.param_name(self.inputs[i]))

    def constant(self, i):
        """Input ``i`` as a NumPy array, after checking both traces saw the same value."""
        a, b = self.inputs[i].data, self.inputs2[i].data
        if not _same(a, b):
            raise self.error(
                f"its input #{i} (shape {tuple(a.shape)}) is neither a weight nor computed "
                "by shenjing ops from the model input: it changes with the batch or the data "
                "but was computed outside the graph (raw NumPy on .data, a comparison, or "
                "a state created for the batch). Build it with shenjing ops instead.")
        return _host(a)

    def varies(self, key):
        """Whether option ``key`` differs between the traces (depends on the batch size)."""
        return not _equal_options(self.options.get(key), self.options2.get(key))

    def shape(self, i=None):
        """Traced shape of input ``i`` (or of the output when None)."""
        t = self.output if i is None else self.inputs[i]
        return tuple(t.shape)


def _equal_options(a, b):
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal_options(x, y) for x, y in zip(a, b))
    if hasattr(a, "shape") or hasattr(b, "shape"):
        return _same(a, b)
    return a == b


class Graph:
    """Nodes and initializers of the graph being built, and names of traced values."""

    def __init__(self, onnx, first, second, param_names, opset=17):
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        self.first, self.second = first, second
        self.nodes, self.initializers = [], []
        self._values, self._consts, self._taken = {}, {}, set()
        self._param_names = param_names  # id(Parameter or buffer Tensor) -> dotted name
        self._batch = None
        self.input_name = None

    # ---------------------------------------------------------------- names and values
    def fresh(self, base):
        base = "".join(ch if ch.isalnum() or ch in "._" else "_" for ch in base) or "v"
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def reserve(self, name):
        """Keep ``name`` (the graph's input and output names) from ``fresh``."""
        self._taken.add(name)

    def bind(self, tensor, name):
        """Remember that ``tensor`` (and any Tensor sharing its array) is ONNX value ``name``."""
        self._values[id(tensor)] = (tensor, name)
        self._values.setdefault(id(tensor.data), (tensor.data, name))

    def lookup(self, tensor):
        """The value name of an input-dependent ``tensor``, or None for a constant."""
        for obj in (tensor, getattr(tensor, "data", None)):
            hit = self._values.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
        return None

    def lookup_array(self, first, second):
        """Name of the traced value whose data is the raw array ``first`` (an op option
        such as the ids of an embedding lookup), matching the model input by value."""
        hit = self._values.get(id(first))
        if hit is not None and hit[0] is first:
            return hit[1]
        x1, x2 = self.first.x.data, self.second.x.data
        if (getattr(first, "shape", None) == x1.shape and np.array_equal(first, x1)
                and getattr(second, "shape", None) == x2.shape and np.array_equal(second, x2)):
            return self.input_name
        return None

    def param_name(self, tensor, default="const"):
        """The dotted model name of a weight or buffer (``layers.0.kernel``), else default."""
        return self._param_names.get(id(tensor), default)

    # ---------------------------------------------------------------- building
    def const(self, array, base="const"):
        """An initializer holding ``array`` (one per array object); returns its name."""
        array = np.asarray(array)
        key = id(array)
        hit = self._consts.get(key)
        if hit is not None and hit[0] is array:
            return hit[1]
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        self._consts[key] = (array, name)
        return name

    def ints(self, values, base="ints"):
        return self.const(np.asarray(list(values), dtype=np.int64), base)

    def scalar(self, value, dtype):
        return self.const(np.asarray(value, dtype=dtype), "scalar")

    def op(self, op_type, inputs, outputs=1, **attrs):
        """Append one ONNX node; returns its output name (or names when ``outputs`` > 1)."""
        names = [self.fresh(f"{op_type.lower()}_out") for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names,
                                                name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op_type, x, axes, keepdims):
        """ReduceSum/Mean/Max/Min/LogSumExp over ``axes``: axes are an attribute before
        opset 18 (ReduceSum: 13), an input after."""
        if not axes:
            return self.op("Identity", [x])
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=[int(a) for a in axes], keepdims=int(keepdims))

    # ---------------------------------------------------------------- batch-dependent shapes
    def batch_size(self):
        """A 1-element int64 value holding the run-time batch size."""
        if self._batch is None:
            shape = self.op("Shape", [self.input_name])
            self._batch = self.op("Slice", [shape, self.ints([0]), self.ints([1])])
        return self._batch

    def shape_arg(self, node, first, second, infer=False):
        """An int64 shape for ``first`` (first trace) / ``second`` (second trace): entries
        that differ are a·batch, computed at run time (or -1 with ``infer``, for Reshape,
        when only one entry differs)."""
        first, second = [int(v) for v in first], [int(v) for v in second]
        if len(first) != len(second):
            raise node.error(f"its shape argument has a different rank for different "
                             f"batch sizes ({first} and {second}).")
        diff = [i for i, (a, b) in enumerate(zip(first, second)) if a != b]
        if not diff:
            return self.ints(first, "shape")
        if infer and len(diff) == 1 and -1 not in first:
            return self.ints([-1 if i == diff[0] else v for i, v in enumerate(first)], "shape")
        b1, b2 = self.first.batch, self.second.batch
        parts, run = [], []
        for i, (v1, v2) in enumerate(zip(first, second)):
            if i not in diff:
                run.append(v1)
                continue
            a, rest = divmod(v2 - v1, b2 - b1)
            if rest or a <= 0 or v1 != a * b1:
                raise node.error(f"its shape argument {tuple(first)} depends on the batch "
                                 f"size in a way ONNX export cannot express (entry {i}).")
            if run:
                parts.append(self.ints(run, "shape"))
                run = []
            batch = self.batch_size()
            parts.append(batch if a == 1 else self.op("Mul", [batch, self.ints([a])]))
        if run:
            parts.append(self.ints(run, "shape"))
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, axis=0)

    def reshape(self, node, value, first, second):
        """Reshape ``value`` to the traced shapes ``first``/``second`` (batch-aware)."""
        return self.op("Reshape", [value, self.shape_arg(node, first, second, infer=True)])


def elem_type(onnx, dtype):
    """The ONNX TensorProto element type of a NumPy dtype."""
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
