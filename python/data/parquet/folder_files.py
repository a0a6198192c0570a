"""The folder-level files a writer leaves next to its data files: ``indexfile.pq``,
``filelist.pq`` / ``filelist.csv`` and ``feature_indices.yaml`` (all written atomically)."""

from __future__ import annotations

import os
from typing import Mapping, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ...core.atomic import atomic_write, atomic_write_text
from .format import (
    FEATURE_INDICES_FILE,
    FILELIST_CSV,
    FILELIST_PQ,
    INDEX_FILE,
    MUON_KEYS,
    index_schema,
)

#: muon columns also stored in the data files, so the index file can be rebuilt from them
MUON_COLUMNS = tuple(MUON_KEYS.values())


def write_folder_files(
    out_dir: str, files: Sequence[Mapping], row_group_size: int, feature_indices: Mapping
) -> None:
    """Write the index, the file lists and ``feature_indices.yaml`` of ``out_dir`` from its data
    files ``files`` (``{"name", "n_events"}`` in ``file_index`` order, written with
    ``row_group_size`` events per row group)."""
    index_cols: dict[str, list[np.ndarray]] = {c: [] for c in index_schema().names}
    for i, f in enumerate(files):
        t = pq.read_table(
            os.path.join(out_dir, f["name"]), columns=["run_id", "event_id", *MUON_COLUMNS]
        )
        n = t.num_rows
        pos = np.arange(n, dtype=np.int64)
        index_cols["file_index"].append(np.full(n, i, dtype=np.int64))
        index_cols["index_within_file"].append(pos)
        index_cols["rowgroup_index_within_file"].append(pos // row_group_size)
        for c in ("run_id", "event_id", *MUON_COLUMNS):
            index_cols[c].append(t.column(c).to_numpy())
    schema = index_schema()
    index = pa.table(
        {
            c: pa.array(np.concatenate(v) if v else [], schema.field(c).type)
            for c, v in index_cols.items()
        },
        schema=schema,
    )
    atomic_write(os.path.join(out_dir, INDEX_FILE), lambda tmp: pq.write_table(index, tmp))
    filelist = pa.table(
        {
            "filename": [f["name"] for f in files],
            "effective_num_i3_files_per_pq": pa.array([np.nan] * len(files), pa.float64()),
            "num_events_per_file": pa.array([f["n_events"] for f in files], pa.int64()),
        }
    )
    atomic_write(os.path.join(out_dir, FILELIST_PQ), lambda tmp: pq.write_table(filelist, tmp))
    atomic_write(os.path.join(out_dir, FILELIST_CSV), lambda tmp: _csv(filelist, tmp))
    atomic_write_text(
        os.path.join(out_dir, FEATURE_INDICES_FILE), yaml.safe_dump(dict(feature_indices))
    )


def _csv(table: pa.Table, path: Union[str, os.PathLike]) -> None:
    """``filelist.csv`` as pandas ``to_csv`` writes it (leading unnamed index column)."""
    cols = table.column_names
    with open(path, "w") as fh:
        fh.write("," + ",".join(cols) + "\n")
        rows = zip(*[table.column(c).to_pylist() for c in cols])
        for i, row in enumerate(rows):
            fh.write(f"{i}," + ",".join("" if v != v else str(v) for v in row) + "\n")
