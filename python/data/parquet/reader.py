"""Decode converted data files into flat arrays, once per file, and check them.

A decoded file is ``features [N_rows, D]`` (all DOM rows of all events, event after event) plus
``offsets [E+1]`` (event ``i`` owns rows ``offsets[i]:offsets[i+1]``), ids and optional targets.
Both ``data_encoded`` layouts decode: ``list<list<double>>`` (older files) and
``list<fixed_size_list<float32, D>>`` (files this package writes).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...core.yaml_file import read_yaml
from .format import (
    FEATURE_INDICES_FILE,
    FEATURES_COLUMN,
    FILELIST_PQ,
    INDEX_FILE,
    MANIFEST_FILE,
    TARGET_COLUMNS,
    DatasetFormatError,
    is_data_file,
)

logger = logging.getLogger(__name__)

#: how a reader treats events with zero DOMs, non-finite features or (when targets are read)
#: non-finite targets: "raise" an error naming file and event, or "skip" them and count
BAD_EVENT_POLICIES = ("raise", "skip")


@dataclass
class DecodedFile:
    """All events of one data file as flat arrays (see module docstring)."""

    path: str
    features: np.ndarray  # [N_rows, D] float32 (new files) or float64 (older files)
    offsets: np.ndarray  # [E+1] int64
    run_id: np.ndarray  # [E] int64
    event_id: np.ndarray  # [E] int64
    index_within_file: np.ndarray  # [E] int64, row of each event in the file
    targets: Optional[np.ndarray]  # [E, 6] float64 metres, or None
    row_group_sizes: np.ndarray  # [G] int64, events per row group of the file as read
    skipped: dict = field(default_factory=dict)  # reason -> number of events dropped

    @property
    def n_events(self) -> int:
        return int(self.run_id.shape[0])

    @property
    def seqlens(self) -> np.ndarray:
        return np.diff(self.offsets)

    def select(self, keep: np.ndarray) -> DecodedFile:
        """The events where ``keep [E]`` is True (vectorised; row groups become one block)."""
        rows = np.repeat(keep, self.seqlens)
        lens = self.seqlens[keep]
        offsets = np.zeros(lens.shape[0] + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        kept_per_group = np.add.reduceat(keep, _starts(self.row_group_sizes)) if keep.size else []
        return DecodedFile(
            self.path,
            self.features[rows],
            offsets,
            self.run_id[keep],
            self.event_id[keep],
            self.index_within_file[keep],
            None if self.targets is None else self.targets[keep],
            np.asarray(kept_per_group, dtype=np.int64),
            dict(self.skipped),
        )


def _starts(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _event_of_rows(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.searchsorted(offsets, rows, side="right") - 1


def decode_features(
    column: Union[pa.Array, pa.ChunkedArray],
    path: str,
    dim: Optional[int] = None,
    n_doms: Optional[np.ndarray] = None,
):
    """``data_encoded`` -> ``(features [N_rows, D], offsets [E+1] int64)``.

    Layouts: ``list<list<double>>`` and ``list<fixed_size_list<float, D>>`` (a list of per-DOM
    rows), or ``list<float>`` holding each event's rows one after the other (row-major), which
    needs ``dim`` or the per-event DOM counts ``n_doms`` (the ``nch`` column).
    Raises :class:`DatasetFormatError` naming ``path`` and the event for a null event, a DOM row
    whose length differs from ``D`` or an unsupported type.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        raise DatasetFormatError(
            f"{path}: column {FEATURES_COLUMN!r} has type {arr.type}, "
            "expected a list of per-DOM rows"
        )
    if arr.null_count:
        bad = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DatasetFormatError(f"{path}: event at row {bad} has a null {FEATURES_COLUMN!r}")
    outer = arr.offsets.to_numpy().astype(np.int64)
    outer = outer - outer[0]
    inner = arr.flatten()
    itype = inner.type
    if pa.types.is_fixed_size_list(itype):
        d = itype.list_size
        if inner.null_count:
            raise DatasetFormatError(f"{path}: a DOM row of {FEATURES_COLUMN!r} is null")
        values = inner.flatten()
    elif pa.types.is_list(itype) or pa.types.is_large_list(itype):
        if inner.null_count:
            row = int(np.flatnonzero(inner.is_null().to_numpy(zero_copy_only=False))[0])
            ev = int(_event_of_rows(outer, np.array([row]))[0])
            raise DatasetFormatError(f"{path}: event at row {ev} has a null DOM row")
        lens = np.diff(inner.offsets.to_numpy().astype(np.int64))
        d = int(lens[0]) if lens.size else (dim or 0)
        bad = np.flatnonzero(lens != d)
        if bad.size:
            ev = int(_event_of_rows(outer, bad[:1])[0])
            raise DatasetFormatError(
                f"{path}: event at row {ev} has a DOM row of length {int(lens[bad[0]])}, "
                f"expected {d} features"
            )
        values = inner.flatten()
    elif pa.types.is_floating(itype) or pa.types.is_integer(itype):
        return _decode_flat(inner, outer, path, dim, n_doms)
    else:
        raise DatasetFormatError(
            f"{path}: column {FEATURES_COLUMN!r} has type {arr.type}, "
            "expected list<list<double>> or list<fixed_size_list<float, D>>"
        )
    if dim is not None and d != dim and outer[-1] > 0:
        raise DatasetFormatError(
            f"{path}: {FEATURES_COLUMN!r} has {d} features per DOM, "
            f"expected {dim} (feature_indices.yaml / manifest)"
        )
    if not pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    flat = values.to_numpy(zero_copy_only=False)  # nulls become NaN and are caught below
    return flat.reshape(-1, d if d else (dim or 0)), outer


def _decode_flat(values: pa.Array, outer: np.ndarray, path: str, dim, n_doms):
    lens = np.diff(outer)
    if dim is None:
        if n_doms is None or not n_doms.sum():
            raise DatasetFormatError(f"{path}: flat {FEATURES_COLUMN!r} needs the feature count")
        has = n_doms > 0  # the most common values-per-DOM (a bad event cannot shift it)
        dim = int(np.bincount(np.rint(lens[has] / n_doms[has]).astype(np.int64)).argmax())
    bad = np.flatnonzero(lens % dim if n_doms is None else lens != n_doms * dim)
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(
            f"{path}: event at row {i} has {int(lens[i])} feature values, not a multiple of "
            f"{dim} features" + ("" if n_doms is None else f" x {int(n_doms[i])} DOMs (nch)")
        )
    if not pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    flat = values.to_numpy(zero_copy_only=False)
    return flat.reshape(-1, dim), outer // dim


def read_data_file(
    path: str,
    dim: Optional[int] = None,
    targets: bool = False,
    bad_events: str = "raise",
    expected_ids: Optional[tuple[np.ndarray, np.ndarray]] = None,
    metadata: Optional[pq.FileMetaData] = None,
) -> DecodedFile:
    """Decode one data file (see :class:`DecodedFile`).

    ``targets``: read the six ``llp_prod_*/llp_decay_*`` columns (error when absent). Events with
    zero DOMs, non-finite features or non-finite targets raise :class:`DatasetFormatError` naming
    file and event (``bad_events="raise"``) or are dropped and counted in ``.skipped``.
    ``expected_ids``: ``(run_id, event_id)`` from the index file, checked before any skipping.
    ``metadata``: the file's parquet footer, when already read.
    """
    if bad_events not in BAD_EVENT_POLICIES:
        raise ValueError(f"bad_events must be one of {BAD_EVENT_POLICIES}, got {bad_events!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path}")
    try:
        pf = pq.ParquetFile(path, metadata=metadata)
        names = set(pf.schema_arrow.names)
        wanted = ["run_id", "event_id", FEATURES_COLUMN] + (list(TARGET_COLUMNS) if targets else [])
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DatasetFormatError(
                f"{path}: missing column(s) {missing}"
                + (
                    " (an unlabeled folder? use targets=False)"
                    if set(missing) & set(TARGET_COLUMNS)
                    else ""
                )
            )
        ftype = pf.schema_arrow.field(FEATURES_COLUMN).type
        flat = pa.types.is_list(ftype) and pa.types.is_floating(ftype.value_type)
        if flat and "nch" in names:
            wanted.append("nch")
        table = pf.read(columns=wanted)
        sizes = np.array(
            [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)],
            dtype=np.int64,
        )
    except DatasetFormatError:
        raise
    except (OSError, pa.ArrowException) as err:
        raise DatasetFormatError(f"{path}: unreadable parquet file ({err})") from err
    n_doms = (
        table.column("nch").to_numpy().astype(np.int64) if "nch" in table.column_names else None
    )
    features, offsets = decode_features(table.column(FEATURES_COLUMN), path, dim, n_doms)
    n = table.num_rows
    ids = [table.column(c).to_numpy().astype(np.int64) for c in ("run_id", "event_id")]
    tg = (
        np.stack(
            [
                table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                for c in TARGET_COLUMNS
            ],
            axis=1,
        )
        if targets
        else None
    )
    decoded = DecodedFile(
        path, features, offsets, ids[0], ids[1], np.arange(n, dtype=np.int64), tg, sizes
    )
    if expected_ids is not None:
        check_ids(decoded, expected_ids)
    return _check_events(decoded, bad_events)


def _check_events(f: DecodedFile, bad_events: str) -> DecodedFile:
    reasons = {"zero DOMs": f.seqlens == 0}
    nonfinite = np.zeros(f.n_events, dtype=bool)
    # a float64 sum of float features is finite iff every value is: one pass, no temporary
    if not np.isfinite(f.features.sum(dtype=np.float64)):
        bad_rows = np.flatnonzero(~np.isfinite(f.features).all(axis=1))
        nonfinite[_event_of_rows(f.offsets, bad_rows)] = True
    reasons["non-finite features"] = nonfinite
    if f.targets is not None:
        reasons["non-finite targets"] = ~np.isfinite(f.targets).all(axis=1)
    bad = np.zeros(f.n_events, dtype=bool)
    for reason, mask in reasons.items():
        if not mask.any():
            continue
        if bad_events == "raise":
            i = int(np.flatnonzero(mask)[0])
            raise DatasetFormatError(
                f"{f.path}: event at row {i} (run_id {f.run_id[i]}, event_id {f.event_id[i]}) "
                f"has {reason} ({int(mask.sum())} such event(s) in the file; "
                "pass bad_events='skip' to drop them)"
            )
        bad |= mask
    if not bad.any():
        return f
    out = f.select(~bad)
    out.skipped = {r: int(m.sum()) for r, m in reasons.items() if m.any()}
    logger.warning("%s: skipped %d bad event(s): %s", f.path, int(bad.sum()), out.skipped)
    return out


def load_feature_indices(path: str) -> dict:
    """``feature_indices.yaml`` -> ``{group: int | list[int]}`` in file order."""
    fi = read_yaml(path, "feature indices file")
    if not isinstance(fi, dict) or not fi:
        raise DatasetFormatError(f"{path}: expected a mapping group -> column indices")
    return fi


def feature_dim(feature_indices: dict) -> int:
    """Number of feature columns the groups of ``feature_indices`` cover (max index + 1)."""
    return 1 + max(int(np.max(np.atleast_1d(v), initial=-1)) for v in feature_indices.values())


class ConvertedFolder:
    """A converted folder: its data files (in ``file_index`` order), index, features, manifest.

    ``files`` come from ``filelist.pq`` (names resolved inside the folder, since older lists hold
    absolute paths from the machine that wrote them), or sorted data files when it is absent.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"converted folder not found: {path}")
        self.path = path
        self.manifest = self._read_manifest()
        self.feature_indices = load_feature_indices(os.path.join(path, FEATURE_INDICES_FILE))
        self.files = self._list_files()
        self._index: Optional[dict] = None
        self._positions: Optional[dict] = None
        self._by_file: Optional[IndexByFile] = None

    def _read_manifest(self) -> dict:
        p = os.path.join(self.path, MANIFEST_FILE)
        if not os.path.exists(p):
            return {}
        with open(p) as fh:
            return json.load(fh)

    def _list_files(self) -> list[str]:
        p = os.path.join(self.path, FILELIST_PQ)
        if os.path.exists(p):
            names = pq.read_table(p, columns=["filename"]).column("filename").to_pylist()
            files = [os.path.join(self.path, os.path.basename(n)) for n in names]
        else:
            files = sorted(
                os.path.join(self.path, n) for n in os.listdir(self.path) if is_data_file(n)
            )
        if not files:
            raise DatasetFormatError(f"{self.path}: no data files")
        return files

    @property
    def dim(self) -> int:
        return int(self.manifest.get("dim") or feature_dim(self.feature_indices))

    @property
    def labeled(self) -> Optional[bool]:
        """From the manifest; None for folders without one."""
        return self.manifest.get("labeled")

    @property
    def index(self) -> dict:
        """``indexfile.pq`` as numpy columns (read once)."""
        if self._index is None:
            self._index = read_index(os.path.join(self.path, INDEX_FILE))
        return self._index

    def has_index(self) -> bool:
        return os.path.exists(os.path.join(self.path, INDEX_FILE))

    def file_index_of(self, path: str) -> int:
        if self._positions is None:
            self._positions = {os.path.basename(f): i for i, f in enumerate(self.files)}
        i = self._positions.get(os.path.basename(path))
        if i is None:
            raise DatasetFormatError(f"{path}: not listed in the filelist of {self.path}")
        return i

    def expected_ids(self, path: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """``(run_id, event_id)`` that ``indexfile.pq`` lists for a data file, in file order;
        None when the folder has no index file."""
        if not self.has_index():
            return None
        if self._by_file is None:
            self._by_file = IndexByFile(self.index, os.path.join(self.path, INDEX_FILE))
        return self._by_file.ids(self.file_index_of(path), path)


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


def resolve_files(
    folder_or_files: Union[str, Sequence[str]],
) -> tuple[list[str], Optional[ConvertedFolder]]:
    """A folder, or a list of data files (of one folder): ``(files, folder or None)``."""
    if isinstance(folder_or_files, (str, os.PathLike)):
        folder = ConvertedFolder(os.fspath(folder_or_files))
        return list(folder.files), folder
    files = [os.fspath(f) for f in folder_or_files]
    if not files:
        raise ValueError("no data files given")
    for f in files:
        if not os.path.exists(f):
            raise FileNotFoundError(f"data file not found: {f}")
    dirs = {os.path.dirname(os.path.abspath(f)) for f in files}
    folder = None
    if len(dirs) == 1:
        d = dirs.pop()
        if os.path.exists(os.path.join(d, FEATURE_INDICES_FILE)):
            folder = ConvertedFolder(d)
    return files, folder
