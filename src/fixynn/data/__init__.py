"""Datasets: a registry of named datasets with real loaders and fixed train/test splits."""

from fixynn.data.registry import (
    data_home,
    dataset_info,
    is_available,
    list_datasets,
    load_dataset,
)
from fixynn.data.types import Dataset, DatasetInfo

__all__ = [
    "Dataset",
    "DatasetInfo",
    "data_home",
    "dataset_info",
    "is_available",
    "list_datasets",
    "load_dataset",
]
