"""Named training recipes: a model, its data and its settings, runnable in one call.

    import shenjing.recipes as recipes
    recipes.names()                                  # ['digits-mlp', 'iris-mlp']
    result = recipes.run("iris-mlp", epochs=5, out="runs/iris")
    result["test_accuracy"]

The command line runs the same thing: ``shenjing train iris-mlp --epochs 5``.
"""
from . import classic  # noqa: F401  (registers the recipes)
from . import cnn  # noqa: F401  (digits-cnn, mnist1d-cnn/-mlp, cifar10-resnet20)
from . import sequence  # noqa: F401  (mnist1d-gru, adding-problem, char-lm, seq2seq-reverse)
from .registry import DEFAULT, Recipe, data, describe, get, names, options, register, run

__all__ = ["DEFAULT", "Recipe", "data", "describe", "get", "names", "options", "register", "run"]
