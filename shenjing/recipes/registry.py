"""The recipe registry and ``run``: seed, build, fit, evaluate, save weights, report."""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import time
from collections.abc import Callable

import shenjing as sj

DEFAULT = "digits-mlp"
"""The recipe ``shenjing demo`` (and ``make demo``) trains."""

_RECIPES: dict[str, Recipe] = {}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named recipe: ``build(lr)`` returns ``(compiled model, ((x, y), (x_test, y_test)))``;
    the other fields are its default settings.  ``build`` may also name ``epochs``,
    ``batch_size`` and options of its own (see ``run``), give a DataLoader as ``x`` with
    ``y=None``, and return a third item: a list of callbacks for ``fit``."""

    name: str
    description: str
    build: Callable
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0


def register(name, description, *, epochs, batch_size, lr, seed=0):
    """Decorator adding ``build(lr)`` to the registry under ``name``."""
    def wrap(build):
        if name in _RECIPES:
            raise ValueError(f"a recipe named {name!r} is already registered.")
        _RECIPES[name] = Recipe(name, description, build, epochs, batch_size, lr, seed)
        return build
    return wrap


def names() -> list[str]:
    """The registered recipe names, sorted."""
    return sorted(_RECIPES)


def describe() -> dict[str, str]:
    """Recipe name → one-line description."""
    return {n: _RECIPES[n].description for n in names()}


def get(name) -> Recipe:
    """The recipe called ``name``; a KeyError lists the valid names."""
    try:
        return _RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; valid recipes: {', '.join(names())}") from None


def _check_positive(value, what, kind=int):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or value <= 0 or (kind is int and not isinstance(value, int))):
        raise ValueError(f"{what} must be a positive {kind.__name__}, got {value!r}.")


def run(name, epochs=None, seed=None, batch_size=None, lr=None, out=None, verbose=1,
        options=None) -> dict:
    """Train recipe ``name`` and save its weights; returns the JSON-ready summary
    ``{"recipe", "epochs", "seed", "seconds", "test_accuracy", "test_loss", "weights"}``.

    Settings left as None take the recipe's defaults; ``out`` defaults to ``runs/NAME``.
    ``seconds`` is the wall time of training plus the test evaluation.  ``options``: extra
    keyword arguments for recipes that take them (``{"synthetic": True, "limit": 256}``).
    """
    recipe = get(name)
    _check_positive(epochs, "epochs")
    _check_positive(batch_size, "batch_size")
    _check_positive(lr, "lr", float)
    epochs = recipe.epochs if epochs is None else epochs
    seed = recipe.seed if seed is None else seed
    batch_size = recipe.batch_size if batch_size is None else batch_size
    lr = recipe.lr if lr is None else lr
    out = os.path.join("runs", name) if out is None else os.fspath(out)

    sj.manual_seed(seed)
    kwargs = _build_kwargs(recipe, options, epochs=epochs, batch_size=batch_size)
    model, ((x_train, y_train), (x_test, y_test)), *callbacks = recipe.build(lr, **kwargs)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, verbose=verbose,
                        batch_size=batch_size if y_train is not None else None,  # None: a loader
                        callbacks=callbacks[0] if callbacks else None)
    test = model.evaluate(x_test, y_test, batch_size=256, return_dict=True)
    seconds = time.perf_counter() - start

    weights = model.save_weights(os.path.join(out, "weights.npz"))
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump({"params": history.params, "history": history.history}, f, indent=1)
    return {"recipe": name, "epochs": epochs, "seed": seed, "seconds": round(seconds, 3),
            "test_accuracy": test.get("accuracy"), "test_loss": test["loss"],
            "weights": weights}


def _build_kwargs(recipe, options, **settings) -> dict:
    """``options`` plus the ``settings`` that ``recipe.build`` names in its signature.

    A recipe may take ``epochs``/``batch_size`` (to build a DataLoader or a schedule) and its
    own options; an option it does not take is an error that lists the ones it does.
    """
    params = inspect.signature(recipe.build).parameters
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(params) - {"lr"})
    if unknown:
        takes = sorted(set(params) - {"lr", "epochs", "batch_size"})
        raise ValueError(f"recipe {recipe.name!r} does not take {', '.join(unknown)}; it takes "
                         f"{', '.join(takes) or 'no options'}.")
    return {**{k: v for k, v in settings.items() if k in params}, **options}
