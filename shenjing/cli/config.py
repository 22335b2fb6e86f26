"""YAML run configs: a whole training run described in one file, for ``shenjing train FILE``.

    seed: 0
    epochs: 20
    batch_size: 32
    data: {name: digits, reshape: [1, 8, 8]}      # or: digits / {npz: my_data.npz}
    model:                                        # or: {zoo: lenet5, args: {num_classes: 10}}
      layers:
        - Conv2D: {filters: 16, kernel_size: 3, padding: same, activation: relu}
        - Flatten: {}
        - Dense: {units: 10}
    optimizer: {name: adam, lr: 0.001}            # or: adam
    loss: {name: SparseCategoricalCrossentropy, from_logits: true}
    metrics: [accuracy]
    callbacks:
      - EarlyStopping: {monitor: val_loss, patience: 3, restore_best_weights: true}
    validation_split: 0.1

Every section is checked before anything trains; a mistake names the key and what it
allows (``config key 'model.layers[1]': unknown layer 'Dnse'; allowed: ...``).
"""
from __future__ import annotations

import os

import numpy as np

import shenjing as sj

from ..recipes.registry import Recipe

KEYS = ("name", "seed", "epochs", "batch_size", "lr", "data", "model", "optimizer", "loss",
        "metrics", "callbacks", "validation_split")
DATA_KEYS = ("name", "npz", "reshape", "limit", "test_size")


class ConfigError(ValueError):
    """A run config that cannot be used; the message names the key and the allowed values."""


def _fail(key, message):
    raise ConfigError(f"config key {key!r}: {message}")


def load(path) -> dict:
    """Read and check a YAML (or JSON) config file; returns the dict."""
    try:
        import yaml  # noqa: PLC0415  (optional: pip install shenjing[yaml])
    except ImportError:
        raise ConfigError("YAML configs need PyYAML: pip install 'shenjing[yaml]'.") from None
    with open(path, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a mapping of keys ({', '.join(KEYS)}), "
                          f"got {type(config).__name__}.")
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        _fail(unknown[0], f"unknown key; allowed keys: {', '.join(KEYS)}")
    for key in ("data", "model", "loss"):
        if key not in config:
            _fail(key, "missing; a config needs data, model and loss")
    config.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    return config


def _entry(spec, key):
    """``Name`` or ``{Name: {args}}`` or ``{name: Name, **args}`` → (name, args)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and "name" in spec:
        return spec["name"], {k: v for k, v in spec.items() if k != "name"}
    if isinstance(spec, dict) and len(spec) == 1:
        (name, args), = spec.items()
        if args is None:
            args = {}
        if not isinstance(args, dict):
            _fail(key, f"arguments of {name!r} must be a mapping, got {args!r}")
        return name, args
    _fail(key, f"expected a name or {{Name: {{arguments}}}}, got {spec!r}")


def _make(cls, args, key):
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        _fail(key, f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())}) "
                   f"failed: {e}")


def _build_named(item, allowed, kind, key):
    """``item`` (``Name`` or ``{Name: {arguments}}``) built from the classes in ``allowed``."""
    name, args = _entry(item, key)
    if name not in allowed:
        _fail(key, f"unknown {kind} {name!r}; allowed: {', '.join(sorted(allowed))}")
    return _make(allowed[name], args, key)


def _classes(namespace, base):
    """Public classes in ``namespace`` that subclass ``base``, by name."""
    return {n: getattr(namespace, n) for n in dir(namespace) if not n.startswith("_")
            and isinstance(getattr(namespace, n), type) and issubclass(getattr(namespace, n),
                                                                      base)}


def build_model(spec, key="model"):
    """A model from ``{zoo: NAME, args: {...}}`` or ``{layers: [...]}`` (Sequential)."""
    if not isinstance(spec, dict) or not ({"zoo", "layers"} & set(spec)):
        _fail(key, "expected {zoo: NAME, args: {...}} or {layers: [{Layer: {args}}, ...]}")
    if "zoo" in spec:
        name = spec["zoo"]
        if name not in sj.models.MODELS:
            _fail(f"{key}.zoo", f"unknown model {name!r}; allowed: "
                                f"{', '.join(sorted(sj.models.MODELS))}")
        net = _make(lambda **a: sj.models.get(name, **a), spec.get("args") or {}, key)
        return net if isinstance(net, sj.Model) else sj.Sequential([net])
    layers = spec["layers"]
    if not isinstance(layers, list) or not layers:
        _fail(f"{key}.layers", "expected a non-empty list of layers")
    allowed = _classes(sj.nn, sj.nn.Module)
    return sj.Sequential([_build_named(item, allowed, "layer", f"{key}.layers[{i}]")
                          for i, item in enumerate(layers)])


def build_optimizer(spec, lr=None, key="optimizer"):
    name, args = _entry(spec or "adam", key)
    if lr is not None:
        args = {**args, "lr": lr}
    try:
        return sj.optim.get(name, **args)
    except (TypeError, ValueError) as e:
        _fail(key, str(e))


def build_loss(spec, key="loss"):
    name, args = _entry(spec, key)
    if not args:
        try:
            return sj.losses.get(name)
        except (TypeError, ValueError) as e:
            _fail(key, str(e))
    return _build_named(spec, _classes(sj.losses, sj.losses.Loss), "loss class", key)


def build_callbacks(specs, key="callbacks"):
    if specs is None:
        return []
    if not isinstance(specs, list):
        _fail(key, "expected a list of {Callback: {arguments}}")
    allowed = _classes(sj.callbacks, sj.callbacks.Callback)
    return [_build_named(item, allowed, "callback", f"{key}[{i}]")
            for i, item in enumerate(specs)]


def load_data(spec, key="data"):
    """``((x, y), (x_test, y_test))`` from a data set name or ``{npz: PATH}`` (arrays
    ``x_train, y_train, x_test, y_test``), reshaped per sample and limited if asked."""
    name, args = (spec, {}) if isinstance(spec, str) else (None, dict(spec or {}))
    unknown = sorted(set(args) - set(DATA_KEYS))
    if unknown:
        _fail(f"{key}.{unknown[0]}", f"unknown key; allowed: {', '.join(DATA_KEYS)}")
    name = args.pop("name", name)
    if "npz" in args:
        splits = _npz(args.pop("npz"), key)
    else:
        datasets = sj.data.datasets.DATASETS
        if name not in datasets:
            _fail(f"{key}.name", f"unknown data set {name!r}; allowed: "
                                 f"{', '.join(sorted(datasets))}, or {{npz: PATH}}")
        extra = {"test_size": args.pop("test_size")} if "test_size" in args else {}
        splits = datasets[name](**extra)
    (x, y), (xt, yt) = splits
    if "reshape" in args:
        shape = tuple(args["reshape"])
        try:
            x, xt = x.reshape(len(x), *shape), xt.reshape(len(xt), *shape)
        except ValueError:
            _fail(f"{key}.reshape", f"cannot reshape samples of shape {x.shape[1:]} to {shape}")
    if args.get("limit"):
        x, y = x[:args["limit"]], y[:args["limit"]]
    return (x, y), (xt, yt)


def _npz(path, key):
    needed = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path) as f:
            missing = [k for k in needed if k not in f.files]
            if missing:
                _fail(f"{key}.npz", f"{path} lacks arrays {missing}; it needs {list(needed)}")
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except OSError as e:
        _fail(f"{key}.npz", f"cannot read {path}: {e}")


def to_recipe(config) -> Recipe:
    """A ``Recipe`` whose build makes the config's model, data and callbacks; checks every
    section now, so a typo fails before any training."""
    for key in ("epochs", "batch_size"):
        if key in config and (not isinstance(config[key], int) or config[key] <= 0):
            _fail(key, f"expected a positive int, got {config[key]!r}")
    metrics = config.get("metrics") or []
    if not isinstance(metrics, list):
        _fail("metrics", f"expected a list of metric names, got {metrics!r}")
    build_model(config["model"])      # checked now, built again fresh (after seeding) in build
    build_loss(config["loss"])
    build_optimizer(config.get("optimizer"), config.get("lr"))
    build_callbacks(config.get("callbacks"))

    def build(lr):
        model = build_model(config["model"])
        model.compile(optimizer=build_optimizer(config.get("optimizer"), lr),
                      loss=build_loss(config["loss"]), metrics=metrics)
        return model, load_data(config["data"]), build_callbacks(config.get("callbacks"))

    lr = config.get("lr") or _entry(config.get("optimizer") or "adam", "optimizer")[1].get("lr")
    return Recipe(str(config["name"]), "from a config file", build,
                  epochs=config.get("epochs", 10), batch_size=config.get("batch_size", 32),
                  lr=float(lr) if lr is not None else None, seed=config.get("seed", 0),
                  fit_options={k: config[k] for k in ("validation_split",) if k in config})
