"""Read one converted data file: its columns decoded into a :class:`DecodedFile`, checked.

A decoded file is ``features [N_rows, D]`` (all DOM rows of all events, event after event) plus
``offsets [E+1]`` (event ``i`` owns rows ``offsets[i]:offsets[i+1]``), ids and optional targets.
Both ``data_encoded`` layouts decode: ``list<list<double>>`` (older files) and
``list<fixed_size_list<float32, D>>`` (files this package writes); see :mod:`.columns`.

:class:`ConvertedFolder` (:mod:`.folder`) and :func:`resolve_files` are importable from here too.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .columns import decode_features
from .decoded import DecodedFile, event_of_rows
from .folder import ConvertedFolder, resolve_files
from .format import FEATURES_COLUMN, TARGET_COLUMNS, DatasetFormatError
from .index import check_ids

__all__ = [
    "BAD_EVENT_POLICIES",
    "ConvertedFolder",
    "DecodedFile",
    "read_data_file",
    "resolve_files",
]

logger = logging.getLogger(__name__)

#: how a reader treats events with zero DOMs, non-finite features or (when targets are read)
#: non-finite targets: "raise" an error naming file and event, or "skip" them and count
BAD_EVENT_POLICIES = ("raise", "skip")


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
    """``f`` checked for zero-DOM and non-finite events: raise, or drop and count them."""
    reasons = {"zero DOMs": f.seqlens == 0}
    nonfinite = np.zeros(f.n_events, dtype=bool)
    # a float64 sum of float features is finite iff every value is: one pass, no temporary
    if not np.isfinite(f.features.sum(dtype=np.float64)):
        bad_rows = np.flatnonzero(~np.isfinite(f.features).all(axis=1))
        nonfinite[event_of_rows(f.offsets, bad_rows)] = True
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
