"""Ready-made data sets, returned as NumPy arrays ``(x_train, y_train), (x_test, y_test)``."""
from .sklearn_sets import DATASETS, load_digits, load_iris

__all__ = ["DATASETS", "load_digits", "load_iris"]
