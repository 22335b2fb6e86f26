"""Ready-made data sets, returned as NumPy arrays ``(x_train, y_train), (x_test, y_test)``."""
from .sklearn_sets import DATASETS, load_digits, load_iris

__all__ = ["DATASETS", "load_digits", "load_iris"]
from .cifar import load_cifar10, load_cifar100, synthetic_cifar10
from .mnist import load_fashion_mnist, load_mnist, read_idx
from .mnist1d import load_mnist1d

DATASETS.update({"mnist": load_mnist, "fashion_mnist": load_fashion_mnist,
                 "cifar10": load_cifar10, "cifar100": load_cifar100, "mnist1d": load_mnist1d})
__all__ += ["load_cifar10", "load_cifar100", "load_fashion_mnist", "load_mnist", "load_mnist1d",
            "read_idx", "synthetic_cifar10"]
