"""Converted parquet data: format, seed-compatible dataset, packed loader."""

from __future__ import annotations

from .dataset import (
    LLPDataset,
    LLPSubset,
    UnlabeledLLPDataset,
    llp_collate_fn,
    llp_collate_unlabeled_fn,
)
from .format import DatasetFormatError
from .loader import PackedLoader
from .loader_config import LoaderConfig
from .normalization import Normalization, compute_normalization
from .reader import ConvertedFolder, DecodedFile, read_data_file
from .simulated import write_simulated_folder
from .split import Split, split_files, split_train_val
from .writer import ConvertedFolderWriter

__all__ = [
    "ConvertedFolder",
    "ConvertedFolderWriter",
    "DatasetFormatError",
    "DecodedFile",
    "LLPDataset",
    "LLPSubset",
    "LoaderConfig",
    "Normalization",
    "PackedLoader",
    "Split",
    "UnlabeledLLPDataset",
    "compute_normalization",
    "llp_collate_fn",
    "llp_collate_unlabeled_fn",
    "read_data_file",
    "split_files",
    "split_train_val",
    "write_simulated_folder",
]
