"""Data: datasets, the DataLoader and ready-made data sets.

    (x, y), _ = sj.data.load_digits()
    loader = sj.data.DataLoader(sj.data.TensorDataset(x, y), batch_size=64, shuffle=True)
"""
from . import datasets
from .dataset import Dataset, Subset, TensorDataset, random_split
from .datasets import DATASETS, load_digits, load_iris
from .loader import DataLoader, default_collate

__all__ = ["DATASETS", "DataLoader", "Dataset", "Subset", "TensorDataset", "datasets",
           "default_collate", "load_digits", "load_iris", "random_split"]
from . import transforms
from .datasets import (load_cifar10, load_cifar100, load_fashion_mnist, load_mnist, load_mnist1d,
                       read_idx, synthetic_cifar10)
from .download import ChecksumError, DownloadError, data_home, download, extract_archive
from .transforms import TransformDataset

__all__ += ["ChecksumError", "DownloadError", "TransformDataset", "data_home", "download",
            "extract_archive", "load_cifar10", "load_cifar100", "load_fashion_mnist", "load_mnist",
            "load_mnist1d", "read_idx", "synthetic_cifar10", "transforms"]
