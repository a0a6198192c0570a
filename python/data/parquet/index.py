"""The folder's ``indexfile.pq``: one row per event (``file_index``, ``index_within_file``, ids,
muon summary), and the check that a decoded data file holds the events the index lists for it."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .decoded import DecodedFile
from .format import INDEX_FILE, DatasetFormatError


def read_index(path: str) -> dict:
    """``indexfile.pq`` -> dict of numpy columns."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"index file not found: {path}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise DatasetFormatError(f"{path}: unreadable index file ({err})") from err
    need = ("file_index", "index_within_file", "event_id", "run_id")
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise DatasetFormatError(f"{path}: index file lacks column(s) {missing}")
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}


class IndexByFile:
    """The index rows of each data file, in file order (one sort, then O(1) slices)."""

    def __init__(self, index: dict, index_path: str) -> None:
        self.index_path = index_path
        fi, pos = index["file_index"].astype(np.int64), index["index_within_file"].astype(np.int64)
        order = np.lexsort((pos, fi))
        self.pos = pos[order]
        self.run_id = index["run_id"][order].astype(np.int64)
        self.event_id = index["event_id"][order].astype(np.int64)
        self.starts = np.searchsorted(fi[order], np.arange(int(fi.max(initial=-1)) + 2))

    def ids(self, file_index: int, path: str = "") -> tuple[np.ndarray, np.ndarray]:
        """``(run_id, event_id)`` of data file ``file_index`` (empty when the index lists none)."""
        lo, hi = (
            (self.starts[file_index], self.starts[file_index + 1])
            if file_index + 1 < self.starts.size
            else (0, 0)
        )
        if not np.array_equal(self.pos[lo:hi], np.arange(hi - lo)):
            raise DatasetFormatError(
                f"{self.index_path}: index_within_file of file_index {file_index} ({path}) "
                f"is not 0..{hi - lo - 1}"
            )
        return self.run_id[lo:hi], self.event_id[lo:hi]


def check_ids(decoded: DecodedFile, expected: tuple[np.ndarray, np.ndarray]) -> None:
    """Raise :class:`DatasetFormatError` when the index file's ids disagree with a data file."""
    run, event = expected
    if run.shape[0] != decoded.n_events:
        raise DatasetFormatError(
            f"{decoded.path}: holds {decoded.n_events} events, {INDEX_FILE} lists {run.shape[0]} "
            "for it (index and data files disagree)"
        )
    bad = np.flatnonzero((run != decoded.run_id) | (event != decoded.event_id))
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(
            f"{decoded.path}: event at row {i} is run_id {decoded.run_id[i]}, event_id "
            f"{decoded.event_id[i]}; {INDEX_FILE} says run_id {run[i]}, event_id {event[i]} "
            f"({bad.size} mismatch(es); index and data files disagree)"
        )
