"""``summary(model)``: a Keras-style table of layers, output shapes and parameter counts.

    >>> model = sj.nn.Sequential([sj.nn.Dense(64, input_dim=4), sj.nn.Dense(10)])
    >>> model.summary()
    Model: "sequential"
    ...
     dense (Dense)                (None, 64)                320
     dense_1 (Dense)              (None, 10)                650
    ...
    Total params: 970 (3.79 KB)

Output shapes are those of the latest call, batch axis shown as None.  When some are unknown
and the input shape is known (``input_shape=`` here, or given to the first layer), a batch of
one zero sample is run through the model in eval mode under ``no_grad`` to find them.
"""
from __future__ import annotations

from .. import creation, dtypes
from ..autograd import no_grad
from ..tensor import Parameter


def summary(model, input_shape=None, print_fn=print):
    """Print (line by line, through ``print_fn``) the table for ``model``."""
    rows = list(model.named_children()) or [(model.name, model)]
    own = list(model.parameters(recurse=False)) if rows[0][1] is not model else []
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    if input_shape is not None and any(m.output_shape is None for _, m in rows):
        _dummy_forward(model, input_shape)

    table = [(f"{m.name} ({type(m).__name__})", _shape_str(m), _param_str(m)) for _, m in rows]
    if own:
        table.append(("(own weights)", "", str(sum(int(p.size) for p in own))))
    total, trainable, nbytes = _totals(model)
    w1 = max(29, *(len(r[0]) + 2 for r in table))
    w2 = max(26, *(len(r[1]) + 2 for r in table))
    w3 = max(10, *(len(r[2]) for r in table))
    width = w1 + w2 + w3 + 1
    lines = [f'Model: "{model.name}"', "_" * width,
             " " + "Layer (type)".ljust(w1) + "Output Shape".ljust(w2) + "Param #", "=" * width]
    for i, (a, b, c) in enumerate(table):
        lines.append(" " + a.ljust(w1) + b.ljust(w2) + c)
        if i < len(table) - 1:
            lines.append("")
    lines += ["=" * width, f"Total params: {total:,} ({_size(nbytes)})",
              f"Trainable params: {trainable:,}", f"Non-trainable params: {total - trainable:,}"]
    if any(not m.built for m in model.modules()):
        lines.append("Some layers are not built yet (shown as unbuilt): call the model on a "
                     "batch, or pass input_shape, to count all their weights.")
    lines.append("_" * width)
    for line in lines:
        print_fn(line)


def _dummy_forward(model, input_shape):
    shape = tuple(input_shape)
    if shape and shape[0] is None:  # (None, 4) → (4,)
        shape = shape[1:]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(creation.zeros((1, *shape), dtype=model.dtype))
    except Exception as e:
        raise ValueError(f"summary: running a sample of shape {shape} through "
                         f"{type(model).__name__} '{model.name}' failed: {e}") from e
    finally:
        for m, mode in modes:
            m.training = mode


def _fmt(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_fmt(s) for s in shape)
    dims = ("None", *(str(d) for d in shape[1:])) if shape else ()
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _shape_str(m):
    return _fmt(m.output_shape)


def _weights(module):
    """Unique Parameters, floating buffers (Keras counts them as non-trainable) and 8-bit
    buffers (quantized weights, ``sj.quantize``); integer counters are left out."""
    seen, out = set(), []
    for _, t, is_param in module._walk():
        if id(t) not in seen and (is_param or dtypes.is_floating(t.dtype)
                                  or t.dtype.kind in "iu" and t.dtype.itemsize == 1):
            seen.add(id(t))
            out.append(t)
    return out


def _param_str(m):
    n = sum(int(t.size) for t in _weights(m))
    if all(d.built for d in m.modules()):
        return str(n)
    return f"{n}+ (unbuilt)" if n else "(unbuilt)"


def _totals(model):
    weights = _weights(model)
    total = sum(int(t.size) for t in weights)
    trainable = sum(int(t.size) for t in weights
                    if isinstance(t, Parameter) and t.requires_grad)
    return total, trainable, sum(int(t.data.nbytes) for t in weights)


def _size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} B" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
