"""Public name ``llp_gap_reco.dataset`` (the seed-compatible dataset and the converted parquet
folders); the code lives in :mod:`llp_gap_reco.data.parquet`."""

from __future__ import annotations

from .data.parquet import (
    ConvertedFolder,
    ConvertedFolderWriter,
    DatasetFormatError,
    DecodedFile,
    LLPDataset,
    LLPSubset,
    LoaderConfig,
    Normalization,
    PackedLoader,
    UnlabeledLLPDataset,
    compute_normalization,
    llp_collate_fn,
    llp_collate_unlabeled_fn,
    read_data_file,
    split_files,
    write_simulated_folder,
)

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
    "UnlabeledLLPDataset",
    "compute_normalization",
    "llp_collate_fn",
    "llp_collate_unlabeled_fn",
    "read_data_file",
    "split_files",
    "write_simulated_folder",
]
