"""What a model file holds besides the architecture: how the layers were built, the compile
settings with the optimizer's state, and the training state (epoch, seed, callbacks, random
streams).  Each part is a ``doc_*`` function writing JSON (arrays through an ``Encoder``)
and an ``apply_*`` function reading it back into a model.

    enc = Encoder(tensors)
    doc = {"compile": doc_compile(model, enc), "training": doc_training(model, enc)}
    ...
    apply_compile(new_model, doc["compile"], Decoder(tensors))
"""
from __future__ import annotations

import numbers

import numpy as np


# ---------------------------------------------------------------- how layers were built
def _plain_shape(shape):
    if isinstance(shape, (list, tuple)):
        return type(shape)(_plain_shape(s) for s in shape)
    return int(shape) if isinstance(shape, numbers.Integral) else shape


def doc_structure(model, enc) -> dict:
    """``{"shapes": {path: {"class", "shape"}}, "trainable": {path: bool}, "training": bool}``:
    the input shape each lazily built layer was built from, where ``trainable`` changes down
    the tree, and the mode (training or evaluation) the model was in."""
    shapes = {}
    for path, m in model.named_modules():
        if "_build_input_shape" in m.__dict__:
            shapes[path] = {"class": type(m).__qualname__,
                            "shape": enc(_plain_shape(m._build_input_shape), f"shapes/{path}")}
    trainable = {}
    _trainable_changes(model, "", True, trainable, set())
    return {"shapes": shapes, "trainable": trainable, "training": bool(model.training)}


def _trainable_changes(module, prefix, parent, out, seen):
    seen.add(id(module))
    if module.trainable != parent:
        out[prefix] = module.trainable
    for name, child in module.named_children():
        if id(child) not in seen:
            _trainable_changes(child, f"{prefix}.{name}" if prefix else name,
                               module.trainable, out, seen)


def build_lazy(model, shapes, dec) -> None:
    """Build every unbuilt layer whose path (and class) has a saved input shape; repeated
    until none is left, since building a layer may create new sub-layers."""
    done = False
    while not done:
        done = True
        for path, m in list(model.named_modules()):
            entry = shapes.get(path)
            if not m.built and entry and entry.get("class") == type(m).__qualname__:
                m._build(dec(entry["shape"]))
                done = False


def apply_structure(model, doc, dec) -> None:
    build_lazy(model, doc.get("shapes", {}), dec)
    changes = doc.get("trainable", {})
    for path, m in model.named_modules():
        if path in changes:
            m.trainable = changes[path]
    model.train(bool(doc.get("training", True)))


# ---------------------------------------------------------------- compile and optimizer
def doc_compile(model, enc, include_optimizer=True):
    """The compile arguments (``mixed_precision`` as its policy: ``"float16"`` or None), the
    optimizer (class and configuration) and, when it is bound and ``include_optimizer``, its
    parameter groups (by weight name) and its state, and the loss scaler's state
    (``GradScaler.state_dict``: scale, growth tracker, factors) when it scales."""
    args = getattr(model, "_compile_args", None) or {}
    opt = model.optimizer
    mp = getattr(model, "mixed_precision", None)
    doc = {"loss": enc(args.get("loss"), "compile/loss"),
           "metrics": enc(args.get("metrics"), "compile/metrics"),
           "loss_weights": args.get("loss_weights"),
           "mixed_precision": getattr(mp, "policy", None),
           "optimizer": enc(opt, "optimizer") if opt is not None else None}
    if include_optimizer and mp is not None and mp.scaler.is_enabled():
        doc["loss_scaler"] = mp.scaler.state_dict()  # plain numbers: JSON as it is
    if include_optimizer and opt is not None and opt.param_groups:
        names = {id(p): n for n, p in model.named_parameters()}
        groups = []
        for g in opt.param_groups:
            if any(id(p) not in names for p in g["params"]):
                raise ValueError(f"the optimizer of {type(model).__name__} '{model.name}' "
                                 "updates parameters that are not part of the model, so its "
                                 "state cannot be saved with it; pass include_optimizer=False.")
            groups.append([names[id(p)] for p in g["params"]])
        doc.update(groups=groups, bind=bool(getattr(model, "_bind_optimizer", True)),
                   state=enc(opt.state_dict(), "optimizer"))
    return doc


def apply_compile(model, doc, dec) -> None:
    """``model.compile(...)`` as saved, then the loss scaler's state and the optimizer's
    groups and state.  Files from before mixed precision (no such key) compile without it."""
    try:
        opt = dec(doc["optimizer"]) if doc.get("optimizer") is not None else "rmsprop"
        options = {"mixed_precision": doc["mixed_precision"]} if doc.get(
            "mixed_precision") else {}
        model.compile(optimizer=opt, loss=dec(doc.get("loss")), metrics=dec(doc.get("metrics")),
                      loss_weights=doc.get("loss_weights"), **options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the model was restored but cannot be compiled as saved ({e}); load "
                         "it with compile=False, or pass the custom losses/metrics in "
                         "custom_objects.") from e
    if doc.get("loss_scaler"):
        model.mixed_precision.scaler.load_state_dict(doc["loss_scaler"])
    if "groups" not in doc:
        return
    named = dict(model.named_parameters())
    unknown = [n for g in doc["groups"] for n in g if n not in named]
    if unknown:
        raise ValueError(f"the optimizer state refers to weights the model lacks: {unknown}.")
    model.optimizer.bind([{"params": [named[n] for n in g]} for g in doc["groups"]])
    model.optimizer.load_state_dict(dec(doc["state"]))
    model._bind_optimizer = bool(doc.get("bind", True))


# ---------------------------------------------------------------- training state
def _generators(model):
    for path, m in model.named_modules():
        g = m.__dict__.get("_generator")
        if isinstance(g, np.random.Generator):
            yield path, g


def doc_training(model, enc) -> dict:
    """Epochs trained, the run seed, the callbacks' states (from the current or last fit)
    and the states of layers' own generators (``Dropout(seed=...)``)."""
    callbacks = model._current_callback_states() if hasattr(
        model, "_current_callback_states") else []
    return {"epoch": int(getattr(model, "epoch", 0)),
            "seed": getattr(model, "_seed", None),
            "callbacks": [{"class_name": c["class_name"],
                           "state": enc(c["state"], f"callbacks/{i}")}
                          for i, c in enumerate(callbacks)],
            "generators": {p: g.bit_generator.state for p, g in _generators(model)}}


def apply_training(model, doc, dec) -> None:
    model.epoch = int(doc.get("epoch", 0))
    model._seed = doc.get("seed")
    model._callback_states = model._resume_states = [
        {"class_name": c["class_name"], "state": dec(c["state"])}
        for c in doc.get("callbacks", [])]
    states = doc.get("generators", {})
    for path, g in _generators(model):
        if path in states:
            g.bit_generator.state = states[path]

