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
