"""Import PyTorch weights: ``load_torch_state_dict(model, state_dict)`` copies a torch
``state_dict`` (or a ``torch.nn.Module``) into a shenjing model of the same architecture.

Both sides are cut into *units*: on the torch side, the tensors of one module (the keys
sharing a prefix; a stacked ``nn.LSTM(num_layers=2)`` gives one unit per layer), on the
shenjing side the layers that hold weights, in definition order (a ``Bidirectional`` is one
unit).  Units pair up by name when both sides use the same module names (``layer1.0.conv1``
as torchvision's ResNets; shenjing's ``Sequential`` index ``layers.0`` counts as ``0``), else
in order.  Each pair is converted by its shenjing layer type:

    shenjing layer                      torch module        tensors (shenjing ← torch)
    Dense                               Linear              kernel ← weight.T (transposed:
                                                              (in, out) vs (out, in)); bias ← bias
    Linear                              Linear              weight ← weight; bias ← bias
    Conv1D/2D, Conv1D/2DTranspose       Conv*d, ConvTrans*  kernel ← weight (same layout); bias
    BatchNormalization (Keras)          BatchNorm*d         gamma ← weight, beta ← bias,
                                                            moving_mean ← running_mean,
                                                            moving_variance ← running_var
                                                            (num_batches_tracked skipped)
    BatchNorm1d/2d                      BatchNorm*d         same names (+ num_batches_tracked)
    LayerNormalization, GroupNormalization  LayerNorm, GroupNorm  gamma ← weight, beta ← bias
    LayerNorm, GroupNorm                LayerNorm, GroupNorm  weight, bias
    Embedding                           Embedding           embeddings ← weight
    SimpleRNN / LSTM / GRU              RNN / LSTM / GRU    weight_ih ← weight_ih_l{k},
                                                            weight_hh ← weight_hh_l{k},
                                                            bias_ih, bias_hh likewise (torch's
                                                            gate order kept: LSTM i,f,g,o;
                                                            GRU r,z,n — no reordering)
    Bidirectional(...)                  bidirectional RNN   forward ← *_l{k}, backward ←
                                                            *_l{k}_reverse
    MultiheadAttention                  MultiheadAttention  in_proj_weight, in_proj_bias (or
                                                            q/k/v_proj_weight); out_proj.*
    any other layer                     any                 tensors of the same names

Every pair is checked before anything is written (names present, shapes after the
transform); on any mismatch nothing changes and the error names both sides with their
shapes.  Returns an ``ImportReport``: a list of ``(torch_name, shenjing_name, transform)``.

    import torch
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    model = sj.Sequential([sj.nn.Dense(32, activation="relu"), sj.nn.Dense(10)])
    model(np.zeros((1, 64), "float32"))       # build the weights first
    report = sj.io.load_torch_state_dict(model, net.state_dict())
    print(report)            # 0.weight -> layers.0.kernel (transpose), ...

torch itself is never imported: values may be torch tensors (``.detach().cpu().numpy()``)
or anything ``np.asarray`` takes.
"""
from __future__ import annotations

import re
from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import array_module
from ..nn.bidirectional import Bidirectional
from ..nn.conv import _Conv
from ..nn.core import Dense
from ..nn.embedding import Embedding
from ..nn.normalization import BatchNormalization, GroupNormalization, LayerNormalization
from ..nn.recurrent import RNN

__all__ = ["load_torch_state_dict", "ImportReport", "Mapping"]

Mapping = namedtuple("Mapping", ["torch_name", "shenjing_name", "transform"])
_RNN_KEY = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")
_KERAS_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
               "moving_variance": "running_var"}
_RENAMES = [  # (shenjing type, {shenjing attribute: (torch leaf, transform)})
    (Dense, {"kernel": ("weight", "transpose"), "bias": ("bias", "copy")}),
    (_Conv, {"kernel": ("weight", "copy"), "bias": ("bias", "copy")}),
    (BatchNormalization, {k: (v, "copy") for k, v in _KERAS_NORM.items()}),
    (LayerNormalization, {"gamma": ("weight", "copy"), "beta": ("bias", "copy")}),
    (GroupNormalization, {"gamma": ("weight", "copy"), "beta": ("bias", "copy")}),
    (Embedding, {"embeddings": ("weight", "copy")}),
]
_TRANSFORMS = {"copy": lambda a: a, "transpose": lambda a: a.T}
_OPTIONAL_TORCH = ("num_batches_tracked",)  # torch bookkeeping a Keras layer does not keep


class ImportReport(list):
    """The tensors copied, as ``Mapping(torch_name, shenjing_name, transform)``; with
    ``strict=False`` also ``skipped_torch`` and ``skipped_shenjing`` (names not loaded)."""

    def __init__(self, items=(), skipped_torch=(), skipped_shenjing=()):
        super().__init__(items)
        self.skipped_torch, self.skipped_shenjing = list(skipped_torch), list(skipped_shenjing)

    def __str__(self):
        width = max((len(m.torch_name) for m in self), default=10)
        lines = [f"{m.torch_name:<{width}} -> {m.shenjing_name} ({m.transform})" for m in self]
        if self.skipped_torch:
            lines.append("not loaded (torch): " + ", ".join(self.skipped_torch))
        if self.skipped_shenjing:
            lines.append("not loaded (shenjing): " + ", ".join(self.skipped_shenjing))
        return "\n".join(lines)


def _as_numpy(value):
    """A torch tensor (any device) or array-like as a NumPy array, without importing torch."""
    if hasattr(value, "detach"):
        value = value.detach()
        value = value.cpu() if hasattr(value, "cpu") else value
        return np.asarray(value.numpy())
    return np.asarray(value)


# ---------------------------------------------------------------- torch side
class _TorchUnit:
    """The tensors of one torch module: leaf name → (full key, array)."""

    def __init__(self, name, leaves):
        self.name, self.leaves = name, leaves

    def describe(self):
        return f"torch '{self.name or '<root>'}' ({', '.join(self.leaves)})"


def _torch_units(state):
    groups = OrderedDict()
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, OrderedDict())[leaf] = (key, _as_numpy(value))
    units = []
    for prefix, leaves in groups.items():
        layers = OrderedDict()
        for leaf, item in leaves.items():
            m = _RNN_KEY.match(leaf)
            k = int(m.group(3)) if m else 0
            name = f"{m.group(1)}_{m.group(2)}{m.group(4) or ''}" if m else leaf
            layers.setdefault(k, OrderedDict())[name] = item
        if len(layers) == 1:
            units.append(_TorchUnit(prefix, next(iter(layers.values()))))
        else:
            units += [_TorchUnit(f"{prefix}[layer {k}]", v) for k, v in layers.items()]
    return units


# ---------------------------------------------------------------- shenjing side
def _own_tensors(module):
    params = list(module.named_parameters(recurse=False))
    return OrderedDict(params + list(module.named_buffers(recurse=False)))


def _shenjing_units(model):
    """(path, layer, {attribute path: tensor}) for each layer holding weights, in order."""
    units, inside = [], set()
    for path, m in model.named_modules():
        if not m.built:
            raise ValueError(f"{type(m).__name__} '{m.name}' is not built yet, so its weights "
                             "do not exist: call the model once on a batch (model(x[:1])) "
                             "before loading torch weights.")
        if id(m) in inside:
            continue
        if isinstance(m, Bidirectional):
            inside.update(id(s) for s in m.modules() if s is not m)
            tensors = OrderedDict((f"{side}.{k}", v) for side in ("forward_layer",
                                                                  "backward_layer")
                                  for k, v in _own_tensors(getattr(m, side)).items())
            units.append((path, m, tensors))
        elif _own_tensors(m):
            units.append((path, m, _own_tensors(m)))
    return units


def _alias(path):
    """A shenjing module path as torch would name it (Sequential's ``layers.3`` → ``3``)."""
    return re.sub(r"(^|\.)layers\.(\d+)", r"\1\2", path)


def _expected(layer, tensors):
    """{shenjing attribute: (torch leaf, transform)} for the layer's tensors."""
    if isinstance(layer, Bidirectional):
        return {a: (a.split(".", 1)[1] + ("_reverse" if a.startswith("backward") else ""),
                    "copy") for a in tensors}
    if isinstance(layer, RNN):
        return {a: (a, "copy") for a in tensors}
    rename = next((r for cls, r in _RENAMES if isinstance(layer, cls)), {})
    return {a: rename.get(a, (a, "copy")) for a in tensors}


# ---------------------------------------------------------------- pairing and checks
def _plan_pair(path, layer, tensors, unit):
    """The copies for one (shenjing layer, torch unit) pair, or a list of problems."""
    expected = _expected(layer, tensors)
    want = {leaf for leaf, _ in expected.values()}
    have = {leaf for leaf in unit.leaves if not (leaf in _OPTIONAL_TORCH and leaf not in want)}
    who = f"{type(layer).__name__} '{path}'"
    if want != have:
        return None, [f"{unit.describe()} does not match shenjing {who} (needs "
                      f"{', '.join(sorted(want))})"]
    plan, problems = [], []
    for attr, (leaf, transform) in expected.items():
        key, value = unit.leaves[leaf]
        target = tensors[attr]
        value = _TRANSFORMS[transform](value)
        name = f"{path}.{attr}" if path else attr
        if tuple(value.shape) != tuple(target.shape):
            how = "" if transform == "copy" else f" after {transform}"
            problems.append(f"torch '{key}' has shape {tuple(unit.leaves[leaf][1].shape)}"
                            f"{how} {tuple(value.shape)}, shenjing '{name}' ({who}) has "
                            f"shape {tuple(target.shape)}")
        plan.append((Mapping(key, name, transform), target, value))
    return plan, problems


def _pairs(sj_units, torch_units):
    """Pair by name when both sides name their modules alike, else in order."""
    by_name = {_alias(u[0]): u for u in sj_units}
    if (len(by_name) == len(sj_units) == len(torch_units)
            and all(t.name in by_name for t in torch_units)):
        return [(by_name[t.name], t) for t in torch_units], "name"
    return list(zip(sj_units, torch_units)), "order"


def _plan(model, state, strict):
    sj_units, torch_units = _shenjing_units(model), _torch_units(state)
    pairs, how = _pairs(sj_units, torch_units)
    plan, problems, used = [], [], set()
    for (path, layer, tensors), unit in pairs:
        part, bad = _plan_pair(path, layer, tensors, unit)
        if bad and not strict:
            if how == "order":
                break  # in-order pairing past a mismatch would misalign everything after
            continue
        problems += bad
        plan += part or []
        used.add(id(unit))
    if strict and len(sj_units) != len(torch_units):
        problems.append(f"the torch state has {len(torch_units)} modules with weights, the "
                        f"shenjing model {len(sj_units)} layers with weights: "
                        f"{_listing(sj_units, torch_units)}")
    return plan, problems, [t for t in torch_units if id(t) not in used], sj_units


def _listing(sj_units, torch_units):
    sj = ", ".join(f"{type(m).__name__} '{p}'" for p, m, _ in sj_units)
    return f"\n    torch: {', '.join(t.name for t in torch_units)}\n    shenjing: {sj}"


def load_torch_state_dict(model, state_dict, strict=True):
    """Copy PyTorch weights into ``model`` (built, same architecture); returns an
    ``ImportReport`` of ``(torch_name, shenjing_name, transform)``.

    ``state_dict``: a torch ``state_dict()`` (tensors or NumPy arrays) or a torch module.
    ``strict``: every weight-holding module must pair up and match (else ``ValueError``,
    model unchanged).  ``strict=False`` loads the pairs that match (in-order pairing stops
    at the first mismatch, e.g. a replaced head) and lists the rest in the report's
    ``skipped_torch`` / ``skipped_shenjing``.

    >>> report = sj.io.load_torch_state_dict(model, torch_net.state_dict())
    """
    if callable(getattr(state_dict, "state_dict", None)):
        state_dict = state_dict.state_dict()
    if not hasattr(state_dict, "items"):
        raise TypeError(f"load_torch_state_dict expects a state_dict (a mapping of names to "
                        f"tensors) or a torch module, got {type(state_dict).__name__}.")
    plan, problems, unused, sj_units = _plan(model, state_dict, strict)
    if problems:
        raise ValueError(f"cannot load the torch state_dict into {type(model).__name__} "
                         f"'{model.name}' (nothing was changed):\n  " + "\n  ".join(problems))
    for _, target, value in plan:
        target.data[...] = array_module(target.data).asarray(value, dtype=target.data.dtype)
    loaded = {m.shenjing_name for m, _, _ in plan}
    skipped_sj = [f"{p}.{a}" if p else a for p, _, ts in sj_units for a in ts
                  if (f"{p}.{a}" if p else a) not in loaded]
    skipped_torch = [key for t in unused for key, _ in t.leaves.values()]
    return ImportReport([m for m, _, _ in plan], skipped_torch, skipped_sj)

