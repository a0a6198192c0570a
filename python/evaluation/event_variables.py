"""Per-event variables that classify events, for coverage and resolution in bins of each.

``n_doms``: hit DOMs (rows of the event). ``gap_length``: true |decay - production| [m].
``cos_zenith``: cosine of the true muon zenith (column ``muon_zenith`` of the data files, or of
``indexfile.pq``). ``total_charge``: the event's total charge [PE], the data files' ``totcharge``
column (the sum over DOMs of the raw charge); for files without it, the sum over DOMs of
``expm1`` of the first ``log_total_charge`` feature column (the stored ``log(1 + q)``).
Variables a folder lacks are NaN and left out of the bins.
"""

from __future__ import annotations

import logging
import os
from typing import Optional, Sequence, Union

import numpy as np
import pyarrow.parquet as pq

from ..data.parquet import ConvertedFolder
from ..data.parquet.format import FEATURES_COLUMN
from .resolution import gap_length

logger = logging.getLogger(__name__)

#: the variables of ``coverage.conditional`` in report.json, in report order
VARIABLES = ("n_doms", "gap_length", "cos_zenith", "total_charge")


def _data_files(
    data: Union[str, os.PathLike, Sequence],
) -> tuple[list[str], Optional[ConvertedFolder]]:
    """Data files in reading order and their converted folder (None when unknown)."""
    if isinstance(data, (str, os.PathLike)):
        folder = ConvertedFolder(os.fspath(data))
        return list(folder.files), folder
    files = [os.fspath(f) for f in data]
    try:
        return files, ConvertedFolder(os.path.dirname(os.path.abspath(files[0])))
    except (FileNotFoundError, OSError, ValueError):
        return files, None


def _zenith_from_index(folder: Optional[ConvertedFolder], cols: dict) -> None:
    """Fill ``cols["muon_zenith"]`` from ``indexfile.pq`` where the data files lack it."""
    if folder is None or not folder.has_index() or np.isfinite(cols["muon_zenith"]).any():
        return
    index = folder.index
    if "muon_zenith" not in index:
        return
    ids = np.stack([index["run_id"], index["event_id"]], 1).astype(np.int64)
    rows = _match(ids, np.stack([cols["run_id"], cols["event_id"]], 1).astype(np.int64))
    zen = np.asarray(index["muon_zenith"], np.float64)
    cols["muon_zenith"] = np.where(rows >= 0, zen[np.maximum(rows, 0)], np.nan)


def _total_charge_from_features(pf: pq.ParquetFile, feature_indices: dict) -> np.ndarray:
    col = np.atleast_1d(feature_indices.get("log_total_charge", []))
    if FEATURES_COLUMN not in pf.schema_arrow.names or not col.size:
        return np.full(pf.metadata.num_rows, np.nan)
    rows = pf.read(columns=[FEATURES_COLUMN]).column(FEATURES_COLUMN).to_pylist()
    return np.array(
        [
            np.expm1(np.asarray(r, np.float64)[:, int(col[0])]).sum() if len(r) else np.nan
            for r in rows
        ]
    )


def _read_file(path: str, feature_indices: dict) -> dict[str, np.ndarray]:
    pf = pq.ParquetFile(path)
    names = set(pf.schema_arrow.names)
    want = ["run_id", "event_id"] + [c for c in ("totcharge", "muon_zenith") if c in names]
    t = pf.read(columns=want)
    out = {c: t.column(c).to_numpy(zero_copy_only=False) for c in want}
    if "totcharge" not in out:
        out["totcharge"] = _total_charge_from_features(pf, feature_indices)
    if "muon_zenith" not in out:
        out["muon_zenith"] = np.full(t.num_rows, np.nan)
    return out


def _match(all_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each ``(run_id, event_id)`` of ``ids [N, 2]`` in ``all_ids [M, 2]``: by key when
    the folder's keys are unique, else as the ordered subsequence the reader kept (it reads in
    file order and only drops bad events). ``-1`` where nothing matches."""
    keys = {tuple(k): i for i, k in enumerate(all_ids.tolist())}
    if len(keys) == len(all_ids):
        return np.array([keys.get(tuple(k), -1) for k in ids.tolist()], dtype=np.int64)
    rows, j = np.full(len(ids), -1, dtype=np.int64), 0
    for i, k in enumerate(ids.tolist()):
        while j < len(all_ids) and tuple(all_ids[j]) != tuple(k):
            j += 1
        if j == len(all_ids):
            break
        rows[i], j = j, j + 1
    return rows


def event_variables(
    data: Union[str, os.PathLike, Sequence],
    run_id: np.ndarray,
    event_id: np.ndarray,
    n_doms: np.ndarray,
    truth: np.ndarray,
) -> dict[str, np.ndarray]:
    """``{name: [N] float64}`` for :data:`VARIABLES` of the events ``(run_id, event_id)`` of the
    converted folder (or list of data files) ``data``; ``truth [N, 6]`` in metres."""
    files, folder = _data_files(data)
    feature_indices = dict(folder.feature_indices) if folder is not None else {}
    parts = [_read_file(f, feature_indices) for f in files]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    _zenith_from_index(folder, cols)
    all_ids = np.stack([cols["run_id"], cols["event_id"]], 1).astype(np.int64)
    rows = _match(all_ids, np.stack([run_id, event_id], 1).astype(np.int64))
    if (rows < 0).any():
        logger.warning(
            "%d evaluated event(s) not found in %s: their charge and zenith are NaN",
            int((rows < 0).sum()),
            data,
        )

    def pick(name: str) -> np.ndarray:
        v = np.full(len(rows), np.nan)
        v[rows >= 0] = np.asarray(cols[name], np.float64)[rows[rows >= 0]]
        return v

    return {
        "n_doms": np.asarray(n_doms, np.float64),
        "gap_length": gap_length(np.asarray(truth, np.float64)),
        "cos_zenith": np.cos(pick("muon_zenith")),
        "total_charge": pick("totcharge"),
    }
