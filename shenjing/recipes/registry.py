"""The recipe registry and ``run``: seed, build, fit, evaluate, save weights, report."""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import time
from collections.abc import Callable

import shenjing as sj

DEFAULT = "digits-cnn"
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
    fit_options: dict = dataclasses.field(default_factory=dict)


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


def options(name) -> list[str]:
    """The recipe's own options (``--option KEY=VALUE`` on the command line)."""
    params = inspect.signature(get(name).build).parameters
    return [f"{p}={params[p].default!r}" if params[p].default is not inspect.Parameter.empty
            else p for p in params if p not in ("lr", "epochs", "batch_size")]


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
        options=None, callbacks=None, resume=None, run_info=None, distributed=False,
        device=None) -> dict:
    """Train recipe ``name`` (a registered name or a ``Recipe``) and save the model; returns
    the JSON-ready summary ``{"recipe", "epochs", "seed", "seconds", "test_accuracy",
    "test_loss", "model", "history", ...}`` (plus the recipe's own report, if it makes one).

    Settings left as None take the recipe's defaults; ``out`` defaults to ``runs/NAME``, where
    ``model.safetensors`` (``sj.load_model`` reads it), ``history.json`` and ``run.json`` (what
    ran, so ``shenjing evaluate`` finds the data again) are written.  ``seconds`` is the wall
    time of training plus the test evaluation.  ``options``: extra keyword arguments for
    recipes that take them (``{"synthetic": True, "limit": 256}``).  ``callbacks``: more
    callbacks for ``fit`` (TensorBoard, ModelCheckpoint).  ``resume``: a file written by
    ``model.save``/``ModelCheckpoint``; training continues from its epoch with its weights
    and optimizer state.  ``run_info``: more fields for run.json.  ``distributed``: train
    data-parallel over the MPI ranks (``mpirun -n N``); only rank 0 writes files.
    ``device``: where to train and evaluate (``"cpu"``, ``"cuda"``; default: the CPU).
    """
    recipe = name if isinstance(name, Recipe) else get(name)
    _check_positive(epochs, "epochs")
    _check_positive(batch_size, "batch_size")
    _check_positive(lr, "lr", float)
    epochs = recipe.epochs if epochs is None else epochs
    seed = recipe.seed if seed is None else seed
    batch_size = recipe.batch_size if batch_size is None else batch_size
    lr = recipe.lr if lr is None else lr
    out = os.path.join("runs", recipe.name) if out is None else os.fspath(out)

    sj.manual_seed(seed)
    kwargs = _build_kwargs(recipe, options, epochs=epochs, batch_size=batch_size)
    model, ((x_train, y_train), (x_test, y_test)), *own = recipe.build(lr, **kwargs)
    initial_epoch = 0
    if resume is not None:
        model = sj.load_model(resume)
        initial_epoch = int(getattr(model, "epoch", 0) or 0)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, verbose=verbose,
                        batch_size=batch_size if y_train is not None else None,  # None: a loader
                        callbacks=[*(own[0] if own else ()), *(callbacks or ())],
                        initial_epoch=initial_epoch, distributed=distributed, device=device,
                        **recipe.fit_options)
    test = model.evaluate(x_test, y_test, batch_size=256, return_dict=True, device=device)
    seconds = time.perf_counter() - start
    result = {"recipe": recipe.name, "epochs": epochs, "seed": seed,
              "seconds": round(seconds, 3), "test_accuracy": test.get("accuracy"),
              "test_loss": test["loss"]}
    if distributed and sj.distributed.rank() != 0:
        return result  # rank 0 writes the run's files
    return _save_run(model, history, test, out, result, options=options,
                     run_info={**_input_spec(x_train), **(run_info or {})})


def _input_spec(x):
    """Per-sample input shape and dtype of an array or of a loader's first batch (what
    ``shenjing export`` needs to build an example input)."""
    if not hasattr(x, "shape"):
        try:
            x = next(iter(x))[0]
        except (StopIteration, TypeError, IndexError):
            return {}
    return {"input_shape": list(x.shape[1:]), "input_dtype": str(getattr(x, "dtype", ""))}


def _save_run(model, history, test, out, result, options=None, run_info=None) -> dict:
    """Write model.safetensors, history.json and run.json into ``out``; finish ``result``."""
    os.makedirs(out, exist_ok=True)
    result["model"] = model.save(os.path.join(out, "model.safetensors")) or \
        os.path.join(out, "model.safetensors")
    result["history"] = os.path.join(out, "history.json")
    with open(result["history"], "w") as f:
        json.dump({"params": history.params, "history": history.history}, f, indent=1)
    extra = {k: v for k, v in test.items() if k not in ("loss", "accuracy")}
    report = getattr(model, "recipe_report", None) or {}
    result.update({f"test_{k}": _plain(v) for k, v in extra.items()})
    result.update({k: _plain(v) for k, v in report.items()})
    options = {k: v for k, v in (options or {}).items() if v is not None}
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump({"recipe": result["recipe"], "options": options, "seed": result["seed"],
                   "test_accuracy": result["test_accuracy"],
                   "test_loss": result["test_loss"], **(run_info or {})}, f, indent=1)
    return result


def _plain(value):
    """A JSON-friendly copy of a metric or report value."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value if isinstance(value, (int, float, str, bool, list, dict, type(None))) \
        else str(value)


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


def data(name, options=None):
    """The ``((x, y), (x_test, y_test))`` splits recipe ``name`` trains and tests on (the
    model it builds is dropped): what ``shenjing evaluate`` uses for a saved run."""
    recipe = name if isinstance(name, Recipe) else get(name)
    kwargs = _build_kwargs(recipe, options, epochs=recipe.epochs, batch_size=recipe.batch_size)
    return recipe.build(recipe.lr, **kwargs)[1]
