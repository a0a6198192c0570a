"""The converted-folder format: file names, column names and the Arrow schema of new data files.

A converted folder holds

* data files ``<prefix>.<NNNNNN>.pq``: one row per event, row groups of ~100 events;
* ``indexfile.pq``: one row per event (``file_index``, ``index_within_file``, ...);
* ``feature_indices.yaml``: feature group -> column indices of ``data_encoded``;
* ``filelist.pq`` / ``filelist.csv``: data file names and events per file;
* ``manifest.json``: feature configuration, package version, counts, schema version.

The names are those the original converter wrote, so existing folders load unchanged. See
``resources/docs/parquet_format.md``.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

import numpy as np
import pyarrow as pa

from ...core.errors import InputError

#: version of the layout this package writes (stored in ``manifest.json``)
SCHEMA_VERSION = 1

INDEX_FILE = "indexfile.pq"
FEATURE_INDICES_FILE = "feature_indices.yaml"
FILELIST_PQ = "filelist.pq"
FILELIST_CSV = "filelist.csv"
MANIFEST_FILE = "manifest.json"
WEIGHT_FILE = "weightfile.pq"
#: parquet files in a folder that are not data files
AUX_FILES = frozenset({INDEX_FILE, FILELIST_PQ, WEIGHT_FILE})

#: per-DOM feature matrix column (unnormalised)
FEATURES_COLUMN = "data_encoded"
ID_COLUMNS = ("run_id", "event_id")
DOM_KEY_COLUMNS = ("string_list", "om_list")
SUMMARY_COLUMNS = ("nch", "totcharge")
#: target columns, in the order of the 6-vector (prod_x, prod_y, prod_z, decay_x, decay_y, decay_z)
TARGET_COLUMNS = (
    "llp_prod_x",
    "llp_prod_y",
    "llp_prod_z",
    "llp_decay_x",
    "llp_decay_y",
    "llp_decay_z",
)
#: further truth columns written when truth exists
EXTRA_TRUTH_COLUMNS = ("llp_gap_length", "llp_fractional_energy", "llp_energy")
#: truth dict key (simulator) -> data column
TRUTH_KEYS = {
    "prod_x": "llp_prod_x",
    "prod_y": "llp_prod_y",
    "prod_z": "llp_prod_z",
    "decay_x": "llp_decay_x",
    "decay_y": "llp_decay_y",
    "decay_z": "llp_decay_z",
    "gap_length": "llp_gap_length",
    "fractional_energy": "llp_fractional_energy",
    "llp_energy": "llp_energy",
}
INDEX_COLUMNS = (
    "file_index",
    "index_within_file",
    "rowgroup_index_within_file",
    "event_id",
    "run_id",
    "muon_energy",
    "muon_zenith",
    "muon_length",
)
#: muon dict key -> index column
MUON_KEYS = {"muon_energy": "muon_energy", "zenith": "muon_zenith", "muon_length": "muon_length"}

DEFAULT_EVENTS_PER_FILE = 1000
DEFAULT_ROW_GROUP_SIZE = 100

_DATA_FILE_RE = re.compile(r"^(?P<prefix>.+)\.(?P<number>\d{6})\.pq$")


class DatasetFormatError(InputError):
    """A converted folder or data file does not follow the format; the message names it."""


def data_file_name(prefix: str, number: int) -> str:
    """``<prefix>.<NNNNNN>.pq``, the name of data file ``number``."""
    return f"{prefix}.{number:06d}.pq"


def is_data_file(path: str) -> bool:
    """True for ``*.pq`` files that are not one of the folder's auxiliary files."""
    name = os.path.basename(path)
    return name.endswith(".pq") and name not in AUX_FILES


def feature_dim(feature_indices: Mapping) -> int:
    """Number of feature columns ``D`` of ``data_encoded`` that the groups of
    ``feature_indices`` (group -> column index or indices) cover: the largest index + 1."""
    return 1 + max(int(np.max(np.atleast_1d(v), initial=-1)) for v in feature_indices.values())


def _list(item: pa.DataType, size: int = -1) -> pa.DataType:
    return pa.list_(pa.field("element", item, nullable=False), size)


def features_type(dim: int) -> pa.DataType:
    """Arrow type of ``data_encoded`` in new files: ``list<fixed_size_list<float32, D>>`` with
    non-null children (no definition levels to decode for them: ~15 % faster reads)."""
    return _list(_list(pa.float32(), dim))


def data_schema(dim: int, with_truth: bool) -> pa.Schema:
    """Arrow schema of a data file this package writes (every field non-null; NaN marks a
    missing truth value)."""
    fields = [
        ("run_id", pa.int64()),
        ("event_id", pa.int64()),
        (FEATURES_COLUMN, features_type(dim)),
        ("string_list", _list(pa.int32())),
        ("om_list", _list(pa.int32())),
        ("nch", pa.int64()),
        ("totcharge", pa.float64()),
    ]
    if with_truth:
        fields += [(c, pa.float64()) for c in TARGET_COLUMNS + EXTRA_TRUTH_COLUMNS]
    return pa.schema([pa.field(n, t, nullable=False) for n, t in fields])


def index_schema() -> pa.Schema:
    """Arrow schema of ``indexfile.pq``."""
    ints = ("file_index", "index_within_file", "rowgroup_index_within_file", "event_id", "run_id")
    return pa.schema(
        [pa.field(c, pa.int64()) for c in ints]
        + [pa.field(c, pa.float64()) for c in ("muon_energy", "muon_zenith", "muon_length")]
    )
