"""ONNX converters for shenjing's neural-network ops: convolutions, pooling, normalisation,
the fused recurrent scans, embedding lookup and attention.

    shenjing op                          ONNX (opset 17)
    Conv2d (conv1d: reshaped to 2-D)     Conv (pads, strides, dilations, group)
    ConvTranspose2d                      ConvTranspose (pads, output_padding, group)
    MaxPool2d  AvgPool2d                 MaxPool  AveragePool (count_include_pad)
    Normalize, fixed statistics          x·scale + shift, folded from the running statistics
      (BatchNormalization in eval)
    Normalize over trailing axes         LayerNormalization
    Normalize, other layouts (group /    ReduceMean, Sub, Mul, Sqrt, Reciprocal
      instance norm)
    SimpleRNNScan LSTMScan GRUScan       RNN  LSTM (gates i,o,f,c)  GRU (gates z,r,h,
                                         linear_before_reset=1), time-major between
                                         Transposes; go_backwards: direction="reverse"
    EmbeddingLookup                      Gather
    Attention (scaled dot product)       MatMul, Softmax, MatMul (heads split by Reshape)
"""
from __future__ import annotations

import math

import numpy as np

from ..ops import attention as att
from ..ops import conv, norm
from ..ops import recurrent as rec
from ..ops.embedding import EmbeddingLookup
from ..ops.pool import AvgPool2d, MaxPool2d

INT_MIN = np.iinfo(np.int64).min


# ---------------------------------------------------------------- convolution, pooling
def _conv(g, node):
    geo, groups = node.options["geo"], int(node.options["groups"])
    attrs = dict(kernel_shape=[geo.kh, geo.kw], strides=[geo.sh, geo.sw],
                 dilations=[geo.dh, geo.dw], pads=[geo.top, geo.left, geo.bottom, geo.right],
                 group=groups)
    inputs = [node.input(i) for i in range(len(node.inputs))]
    if node.fn is conv.Conv2d:
        return g.op("Conv", inputs, **attrs)
    h, w = node.shape(0)[2:]
    out_pad = [geo.h - ((h - 1) * geo.sh - geo.top - geo.bottom + geo.dh * (geo.kh - 1) + 1),
               geo.w - ((w - 1) * geo.sw - geo.left - geo.right + geo.dw * (geo.kw - 1) + 1)]
    return g.op("ConvTranspose", inputs, output_padding=out_pad, **attrs)


def _pool(g, node):
    o = node.options
    (kh, kw), (sh, sw), (ph, pw) = o["kernel"], o["stride"], o["padding"]
    h, w = node.shape(0)[2:]
    floor = ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw],
                 ceil_mode=int(tuple(o["out"]) != floor))
    if node.fn is MaxPool2d:
        return g.op("MaxPool", [node.input(0)], **attrs)
    return g.op("AveragePool", [node.input(0)], count_include_pad=int(o["include_pad"]),
                **attrs)


# ---------------------------------------------------------------- normalisation
def _affine_params(g, node):
    """(γ, β) as constant arrays (None where absent)."""
    flags, k = node.options["affine"], 1
    out = []
    for present in flags:
        if not present:
            out.append(None)
            continue
        if node.is_input(k):
            raise node.error("its scale/offset are computed from the input; ONNX export "
                             "supports weights only.")
        out.append(node.constant(k))
        k += 1
    return out


def _normalize(g, node):
    o = node.options
    w, b = _affine_params(g, node)
    if o.get("stats") is not None:
        return _fixed_stats(g, node, w, b)
    view, axes, x_shape = tuple(o["view"]), tuple(o["axes"]), node.shape(0)
    if len(view) == 2 and axes == (1,) and tuple(o["pshape"]) == (1, view[1]):
        return _layer_norm(g, node, w, b, view[1], x_shape)
    return _generic_norm(g, node, w, b)


def _fixed_stats(g, node, w, b):
    """Evaluation-mode batch norm: y = x·scale + shift, folded exactly as the op does."""
    o = node.options
    if node.varies("stats"):
        raise node.error("its normalisation statistics change with the batch or the data.")
    dt = node.inputs[0].data.dtype
    mean, var = (np.asarray(s, dtype=dt) for s in o["stats"])
    pshape, view, x_shape = tuple(o["pshape"]), tuple(o["view"]), node.shape(0)
    inv = 1 / np.sqrt(var + dt.type(o["eps"]))
    scale = inv if w is None else inv * w.reshape(pshape)
    shift = -mean * scale if b is None else b.reshape(pshape) - mean * scale
    scale, shift = (np.broadcast_to(a, np.broadcast_shapes(a.shape, pshape)) for a in
                    (scale, shift))
    per_channel = (len(x_shape) >= 2 and view[:2] == x_shape[:2]
                   and all(d == 1 for i, d in enumerate(scale.shape) if i != 1))
    if per_channel:  # (1, C, 1, ...) broadcasts against x itself: no reshapes
        shape = (1, x_shape[1]) + (1,) * (len(x_shape) - 2)
        y = g.op("Mul", [node.input(0), g.const(scale.reshape(shape).astype(dt), "bn_scale")])
        return g.op("Add", [y, g.const(shift.reshape(shape).astype(dt), "bn_shift")])
    xv = g.reshape(node, node.input(0), view, node.options2["view"])
    y = g.op("Add", [g.op("Mul", [xv, g.const(scale.astype(dt), "norm_scale")]),
                     g.const(shift.astype(dt), "norm_shift")])
    return g.reshape(node, y, x_shape, node.inputs2[0].shape)


def _layer_norm(g, node, w, b, size, x_shape):
    """Normalisation over the trailing axes of x: LayerNormalization (opset 17)."""
    dt = node.inputs[0].data.dtype
    if w is not None:
        k = w.ndim
    else:
        k = next(k for k in range(1, len(x_shape) + 1) if math.prod(x_shape[-k:]) == size)
    normalized = x_shape[len(x_shape) - k:]
    scale = np.ones(normalized, dt) if w is None else w.reshape(normalized)
    inputs = [node.input(0), g.const(scale, "ln_scale")]
    if b is not None:
        inputs.append(g.const(b.reshape(normalized), "ln_bias"))
    return g.op("LayerNormalization", inputs, axis=-k, epsilon=float(node.options["eps"]))


def _generic_norm(g, node, w, b):
    """Group / instance normalisation: statistics over ``axes`` of x reshaped to ``view``."""
    o = node.options
    dt = node.inputs[0].data.dtype
    axes, pshape = [int(a) for a in o["axes"]], tuple(o["pshape"])
    xv = g.reshape(node, node.input(0), o["view"], node.options2["view"])
    mean = g.reduce("ReduceMean", xv, axes, True)
    d = g.op("Sub", [xv, mean])
    var = g.reduce("ReduceMean", g.op("Mul", [d, d]), axes, True)
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.scalar(o["eps"], dt)])])])
    y = g.op("Mul", [d, inv])
    if w is not None:
        y = g.op("Mul", [y, g.const(w.reshape(pshape), "norm_weight")])
    if b is not None:
        y = g.op("Add", [y, g.const(b.reshape(pshape), "norm_bias")])
    return g.reshape(node, y, node.shape(0), node.inputs2[0].shape)


# ---------------------------------------------------------------- recurrent scans
_SCANS = {rec.SimpleRNNScan: ("RNN", (0,)), rec.LSTMScan: ("LSTM", (0, 3, 1, 2)),
          rec.GRUScan: ("GRU", (1, 0, 2))}  # shenjing (torch) gate blocks in ONNX order
_ACTS = {"tanh": ("Tanh", None), "sigmoid": ("Sigmoid", None), "relu": ("Relu", None),
         "hard_sigmoid": ("HardSigmoid", (1 / 6, 0.5)), "linear": ("Affine", (1.0, 0.0))}


def _reorder(a, order, hidden):
    return np.concatenate([a[i * hidden:(i + 1) * hidden] for i in order], axis=0)


def _scan_activations(kind, acts):
    """ONNX ``activations`` (+ alpha/beta) for shenjing's (activation[, recurrent])."""
    act, recurrent = acts[0], acts[-1]
    names = {"RNN": [act], "GRU": [recurrent, act], "LSTM": [recurrent, act, act]}[kind]
    attrs = {"activations": [_ACTS[n][0] for n in names]}
    params = [_ACTS[n][1] for n in names if _ACTS[n][1] is not None]
    if params:
        attrs["activation_alpha"] = [float(a) for a, _ in params]
        attrs["activation_beta"] = [float(b) for _, b in params]
    return attrs


def _scan_weights(g, node, order, n_states):
    ks = range(n_states + 1, len(node.inputs))
    if any(node.is_input(k) for k in ks):
        raise node.error("its weights are computed from the input; ONNX export supports "
                         "weights only.")
    w_ih, w_hh, *biases = (node.constant(k) for k in ks)
    hidden = w_hh.shape[1]
    bias = (np.concatenate([_reorder(b, order, hidden) for b in biases]) if biases
            else np.zeros(2 * w_ih.shape[0], w_ih.dtype))
    return hidden, [g.const(_reorder(w_ih, order, hidden)[None], "W"),
                    g.const(_reorder(w_hh, order, hidden)[None], "R"), g.const(bias[None], "B")]


def _scan(g, node):
    kind, order = _SCANS[node.fn]
    o, n_states = node.options, node.fn.n_states
    if o["mask"] is not None:
        raise node.error("masked sequences (Embedding(mask_zero=True) or mask=) do not "
                         "export to ONNX; export the model without masking.")
    if o["rec_mask"] is not None:
        raise node.error("recurrent dropout is active (training mode).")
    if any(a not in _ACTS for a in o["acts"]):
        raise node.error(f"activations {o['acts']} have no ONNX equivalent.")
    hidden, weights = _scan_weights(g, node, order, n_states)
    inputs = [g.op("Transpose", [node.input(0)], perm=[1, 0, 2]), *weights, ""]
    for k in range(1, n_states + 1):  # initial states: omitted when zero (ONNX's default)
        if not node.is_input(k) and not np.any(node.inputs[k].data):
            inputs.append("")
        else:
            inputs.append(g.op("Unsqueeze", [node.input(k), g.ints([0])]))
    while inputs[-1] == "":
        inputs.pop()
    attrs = _scan_activations(kind, o["acts"])
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    outs = g.op(kind, inputs, outputs=1 + n_states, hidden_size=hidden,
                direction="reverse" if o["reverse"] else "forward", **attrs)
    y = g.op("Squeeze", [outs[0], g.ints([1])])  # (T, B, H)
    if o["reverse"]:  # ONNX returns time order, shenjing processing order
        y = g.op("Slice", [y, g.ints([-1]), g.ints([INT_MIN]), g.ints([0]), g.ints([-1])])
    parts = [g.op("Transpose", [y], perm=[1, 0, 2])]
    parts += [g.op("Transpose", [s], perm=[1, 0, 2]) for s in outs[1:]]
    return g.op("Concat", parts, axis=1)  # (B, T + S, H), as the op packs it


# ---------------------------------------------------------------- embedding, attention
def _embedding(g, node):
    ids = g.lookup_array(node.options["ids"], node.options2["ids"])
    if ids is None:
        if node.varies("ids"):
            raise node.error("its token ids are not the model input and change with the "
                             "batch: only lookups of the model input export.")
        ids = g.const(np.asarray(node.options["ids"], dtype=np.int64), "ids")
    elif g.first.x.data.dtype.kind not in "iu":
        ids = g.op("Cast", [ids], to=g.onnx.TensorProto.INT64)
    return g.op("Gather", [node.input(0), ids], axis=0)


def _split_heads(g, node, heads):
    """The (B, T, n·H·D) inputs as q, k, v of shape (B, H, T, D)."""
    out = []
    for i, n in enumerate(att._PARTS[len(node.inputs)]):
        (b, t, f), b2 = node.shape(i), node.inputs2[i].shape[0]
        x = g.reshape(node, node.input(i), (b, t, n, heads, f // (n * heads)),
                      (b2, t, n, heads, f // (n * heads)))
        for part in range(n):
            one = g.op("Gather", [x, g.const(np.asarray(part, np.int64), "part")], axis=2)
            out.append(g.op("Transpose", [one], perm=[0, 2, 1, 3]))
    return out


def _attention(g, node):
    o = node.options
    if o["dropout"]:
        raise node.error("attention dropout is active (training mode).")
    heads, dt = o["heads"], node.inputs[0].data.dtype
    if heads is None:
        q, k, v = (node.input(i) for i in range(3))
    else:
        q, k, v = _split_heads(g, node, heads)
    nd = len(node.shape(1)) if heads is None else 4
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    q = g.op("Mul", [q, g.scalar(o["scale"], dt)])
    s = g.op("MatMul", [q, g.op("Transpose", [k], perm=perm)])
    if o["bias"] is not None:
        if node.varies("bias"):
            raise node.error("its attention mask changes with the batch or the data; only "
                             "constant masks (causal, fixed) export.")
        s = g.op("Add", [s, g.const(np.asarray(o["bias"], dtype=dt), "attn_bias")])
    y = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
    if heads is None:
        return y
    y = g.op("Transpose", [y], perm=[0, 2, 1, 3])
    return g.reshape(node, y, node.shape(), node.output2.shape)


CONVERTERS = {
    conv.Conv2d: _conv, conv.ConvTranspose2d: _conv, MaxPool2d: _pool, AvgPool2d: _pool,
    norm.Normalize: _normalize, rec.SimpleRNNScan: _scan, rec.LSTMScan: _scan,
    rec.GRUScan: _scan, EmbeddingLookup: _embedding, att.Attention: _attention,
}
DEPENDS_ON_OPTION = {EmbeddingLookup: "ids"}  # ops whose input-dependent data is an option
