"""Write a converted folder from any event source (simulator, IceTray conversion).

Every file is written under a temporary name and renamed when complete. ``manifest.json`` is
rewritten (atomically) after each data file with ``complete: false`` and the number of input
events consumed so far, so an interrupted run resumes from the last complete data file
(``resume=True``); the index and file lists are rebuilt from the data files at :meth:`close`,
which also marks the manifest ``complete: true``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from typing import Mapping, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ...core.atomic import atomic_write, atomic_write_json, atomic_write_text
from ...core.status import Status
from ...core.version import __version__
from ..features import FeatureExtractor
from .format import (
    DEFAULT_EVENTS_PER_FILE,
    DEFAULT_ROW_GROUP_SIZE,
    FEATURE_INDICES_FILE,
    FILELIST_CSV,
    FILELIST_PQ,
    INDEX_FILE,
    MANIFEST_FILE,
    MUON_KEYS,
    SCHEMA_VERSION,
    TRUTH_KEYS,
    data_file_name,
    data_schema,
    index_schema,
)

logger = logging.getLogger(__name__)

#: parquet codec of data files: LZ4 reads ~20% faster than snappy for these files, similar size
DATA_COMPRESSION = "lz4"
#: muon columns also stored in the data files, so the index file can be rebuilt from them
MUON_COLUMNS = tuple(MUON_KEYS.values())


class ConvertedFolderWriter:
    """Buffer events and write ``<prefix>.<NNNNNN>.pq`` data files plus the folder's index files.

    Args:
        out_dir: folder to create (or to resume).
        feature_extractor_config: the ``FeatureExtractor.config`` the features were computed with
            (stored in the manifest).
        feature_indices: group -> columns; derived from the config when None.
        events_per_file: events per data file (the last file may hold fewer).
        row_group_size: events per parquet row group.
        prefix: data file name prefix.
        resume: continue an interrupted folder; without it a non-empty folder is refused.
        labeled: whether truth columns are written; None: decided by the first event.
        source: free-form description of the event source, stored in the manifest; a resumed
            folder must have been written with the same source.
        compression: parquet codec of the data files (lz4 decodes faster than snappy here).
    """

    def __init__(
        self,
        out_dir: str,
        feature_extractor_config: Optional[Mapping] = None,
        feature_indices: Optional[Mapping] = None,
        events_per_file: int = DEFAULT_EVENTS_PER_FILE,
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
        prefix: str = "events",
        resume: bool = False,
        labeled: Optional[bool] = None,
        source: Optional[Mapping] = None,
        compression: str = DATA_COMPRESSION,
    ) -> None:
        if events_per_file < 1 or row_group_size < 1:
            raise ValueError("events_per_file and row_group_size must be >= 1")
        if feature_indices is None:

            fx = FeatureExtractor(feature_extractor_config)
            feature_indices, feature_extractor_config = fx.feature_indices, fx.config
        self.out_dir = out_dir
        self.feature_config = (
            None if feature_extractor_config is None else dict(feature_extractor_config)
        )
        self.feature_indices = {
            g: (np.atleast_1d(v).astype(int).tolist() if np.ndim(v) else int(v))
            for g, v in feature_indices.items()
        }
        self.dim = 1 + max(int(np.max(v, initial=-1)) for v in self.feature_indices.values())
        self.events_per_file = int(events_per_file)
        self.row_group_size = int(row_group_size)
        self.prefix = prefix
        self.compression = compression
        self.labeled = labeled
        self.source = dict(source or {})
        self.files: list[dict] = []  # {"name", "n_events"} of complete data files
        self.n_input_events = 0  # events offered to add(), written or not
        self.skipped = Counter()  # status name -> events not written
        self.complete = False
        self._buffer: list[tuple] = []
        self._closed = False
        os.makedirs(out_dir, exist_ok=True)
        self._start(resume)

    # -- resume / refuse ---------------------------------------------------------------------
    def _params(self) -> dict:
        return {
            "feature_indices": self.feature_indices,
            "feature_config": self.feature_config,
            "events_per_file": self.events_per_file,
            "row_group_size": self.row_group_size,
            "prefix": self.prefix,
            "source": self.source,
        }

    def _start(self, resume: bool) -> None:
        mpath = os.path.join(self.out_dir, MANIFEST_FILE)
        existing = [n for n in os.listdir(self.out_dir) if not n.startswith(".")]
        if not existing:
            return
        if not resume:
            raise FileExistsError(
                f"{self.out_dir} is not empty ({len(existing)} entries); pass resume=True "
                "(--resume) to continue an interrupted folder, or choose an empty folder"
            )
        if not os.path.exists(mpath):
            raise FileExistsError(
                f"{self.out_dir}: cannot resume, no {MANIFEST_FILE} "
                "(not a folder this package wrote)"
            )
        with open(mpath) as fh:
            man = json.load(fh)
        mine = json.loads(json.dumps(self._params()))
        theirs = {k: man.get(k) for k in mine}
        if theirs != mine:
            diff = sorted(k for k in mine if theirs[k] != mine[k])
            raise FileExistsError(
                f"{self.out_dir}: cannot resume, the folder was written with different {diff}"
            )
        self.files = list(man["files"])
        self.n_input_events = int(man["n_input_events"])
        self.skipped = Counter(man.get("skipped_by_status", {}))
        self.labeled = man.get("labeled", self.labeled)
        self.complete = bool(man.get("complete"))
        keep = {f["name"] for f in self.files} | {MANIFEST_FILE}
        if self.complete:
            keep |= {INDEX_FILE, FILELIST_PQ, FILELIST_CSV, FEATURE_INDICES_FILE}
        for name in os.listdir(self.out_dir):
            if name not in keep and (name.endswith(".pq") or name.endswith(".tmp")):
                logger.warning("%s: removing %s left by an interrupted run", self.out_dir, name)
                os.remove(os.path.join(self.out_dir, name))
        for f in self.files:
            path = os.path.join(self.out_dir, f["name"])
            if not os.path.exists(path) or pq.ParquetFile(path).metadata.num_rows != f["n_events"]:
                raise FileExistsError(
                    f"{path}: listed as complete in {MANIFEST_FILE} but missing "
                    "or of the wrong size; remove the folder and start again"
                )
        logger.info(
            "%s: resuming after %d data file(s), %d input event(s)",
            self.out_dir,
            len(self.files),
            self.n_input_events,
        )

    # -- adding events -----------------------------------------------------------------------
    def add(
        self,
        run_id: int,
        event_id: int,
        features: np.ndarray,
        string: np.ndarray,
        om: np.ndarray,
        truth: Optional[Mapping] = None,
        muon: Optional[Mapping] = None,
        status: Status = Status.OK,
        totcharge: Optional[float] = None,
    ) -> None:
        """Buffer one event (``features`` float32 [n_doms, D] unnormalised, ``string``/``om``
        [n_doms]); ``truth`` keys as :data:`TRUTH_KEYS`; ``muon`` keys ``muon_energy``,
        ``zenith``, ``muon_length``. Events with ``status != OK`` are only counted."""
        if self.complete or self._closed:
            raise RuntimeError(f"{self.out_dir}: writer is closed")
        self.n_input_events += 1
        status = Status(int(status))
        if status is not Status.OK:
            self.skipped[status.name] += 1
            return
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.dim or features.shape[0] == 0:
            raise ValueError(
                f"event run {run_id} id {event_id}: features of shape "
                f"{features.shape}, expected [n_doms >= 1, {self.dim}]"
            )
        if self.labeled is None:
            self.labeled = truth is not None
        if self.labeled and truth is None:
            raise ValueError(f"event run {run_id} id {event_id}: no truth in a labeled folder")
        if totcharge is None:
            cols = np.atleast_1d(self.feature_indices.get("log_total_charge", []))
            totcharge = (
                float(np.expm1(features[:, cols[:1]].astype(np.float64)).sum())
                if cols.size
                else np.nan
            )
        self._buffer.append(
            (
                int(run_id),
                int(event_id),
                features,
                np.asarray(string, np.int32),
                np.asarray(om, np.int32),
                truth,
                muon or {},
                float(totcharge),
            )
        )
        if len(self._buffer) >= self.events_per_file:
            self._flush()

    def add_event_features(
        self, run_id: int, event_id: int, event_features, truth=None, muon=None
    ) -> None:
        """:meth:`add` from a ``FeatureExtractor.extract`` result (``EventFeatures``)."""
        self.add(
            run_id,
            event_id,
            event_features.features,
            event_features.string,
            event_features.om,
            truth=truth,
            muon=muon,
            status=event_features.status,
        )

    def add_batch(self, run_id, event_id, batch, truths=None, muons=None) -> None:
        """:meth:`add` every event of a ``FeatureExtractor.batch_features`` result
        (``run_id``/``event_id`` [B], ``truths``/``muons`` lists of B dicts or None)."""
        off = batch.offsets
        for b in range(len(batch.seqlens)):
            lo, hi = off[b], off[b + 1]
            self.add(
                run_id[b],
                event_id[b],
                batch.features[lo:hi],
                batch.string[lo:hi],
                batch.om[lo:hi],
                truth=None if truths is None else truths[b],
                muon=None if muons is None else muons[b],
                status=int(batch.status[b]),
            )

    # -- writing -----------------------------------------------------------------------------
    def _table(self) -> pa.Table:
        ev = self._buffer
        lens = np.array([e[2].shape[0] for e in ev], dtype=np.int64)
        offsets = np.zeros(lens.size + 1, dtype=np.int32)
        np.cumsum(lens, out=offsets[1:])
        flat = np.concatenate([e[2] for e in ev]).ravel()
        schema = data_schema(self.dim, bool(self.labeled))
        ftype = schema.field("data_encoded").type
        rows = pa.FixedSizeListArray.from_arrays(
            pa.array(flat, pa.float32()), type=ftype.value_type
        )
        dom_type = schema.field("string_list").type
        cols = {
            "run_id": pa.array([e[0] for e in ev], pa.int64()),
            "event_id": pa.array([e[1] for e in ev], pa.int64()),
            "data_encoded": pa.ListArray.from_arrays(pa.array(offsets), rows, type=ftype),
            "string_list": pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(np.concatenate([e[3] for e in ev])), type=dom_type
            ),
            "om_list": pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(np.concatenate([e[4] for e in ev])), type=dom_type
            ),
            "nch": pa.array(lens),
            "totcharge": pa.array([e[7] for e in ev], pa.float64()),
        }
        if self.labeled:
            for key, col in TRUTH_KEYS.items():
                cols[col] = pa.array([float(e[5].get(key, np.nan)) for e in ev], pa.float64())
        for key, col in MUON_KEYS.items():
            cols[col] = pa.array([float(e[6].get(key, np.nan)) for e in ev], pa.float64())
            schema = schema.append(pa.field(col, pa.float64(), nullable=False))
        return pa.table([cols[f.name] for f in schema], schema=schema)

    def _flush(self) -> None:
        if not self._buffer:
            return
        name = data_file_name(self.prefix, len(self.files))
        table = self._table()
        atomic_write(
            os.path.join(self.out_dir, name),
            lambda tmp: pq.write_table(
                table,
                tmp,
                row_group_size=self.row_group_size,
                compression=self.compression,
                # dictionaries do not pay for float features; keep them for small int columns
                use_dictionary=["string_list", "om_list"],
            ),
        )
        self.files.append({"name": name, "n_events": table.num_rows})
        self._buffer.clear()
        self._write_manifest()
        logger.debug("%s: wrote %s (%d events)", self.out_dir, name, table.num_rows)

    def _write_manifest(self) -> None:
        n = sum(f["n_events"] for f in self.files)
        man = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "complete": self.complete,
            "labeled": bool(self.labeled),
            "dim": self.dim,
            "n_events": n,
            "n_input_events": self.n_input_events,
            "skipped_by_status": dict(self.skipped),
            "files": self.files,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self._params(),
        }
        atomic_write_json(os.path.join(self.out_dir, MANIFEST_FILE), man)

    def _write_folder_files(self) -> None:
        index_cols = {c: [] for c in index_schema().names}
        for i, f in enumerate(self.files):
            t = pq.read_table(
                os.path.join(self.out_dir, f["name"]), columns=["run_id", "event_id", *MUON_COLUMNS]
            )
            n = t.num_rows
            pos = np.arange(n, dtype=np.int64)
            index_cols["file_index"].append(np.full(n, i, dtype=np.int64))
            index_cols["index_within_file"].append(pos)
            index_cols["rowgroup_index_within_file"].append(pos // self.row_group_size)
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
        atomic_write(
            os.path.join(self.out_dir, INDEX_FILE), lambda tmp: pq.write_table(index, tmp)
        )
        filelist = pa.table(
            {
                "filename": [f["name"] for f in self.files],
                "effective_num_i3_files_per_pq": pa.array([np.nan] * len(self.files), pa.float64()),
                "num_events_per_file": pa.array([f["n_events"] for f in self.files], pa.int64()),
            }
        )
        atomic_write(
            os.path.join(self.out_dir, FILELIST_PQ), lambda tmp: pq.write_table(filelist, tmp)
        )
        atomic_write(os.path.join(self.out_dir, FILELIST_CSV), lambda tmp: _csv(filelist, tmp))

        atomic_write_text(
            os.path.join(self.out_dir, FEATURE_INDICES_FILE), yaml.safe_dump(self.feature_indices)
        )

    def close(self) -> dict:
        """Write the last (partial) data file and the folder files; return the manifest."""
        if not self.complete:
            self._flush()
            self._write_folder_files()
            self.complete = True
            self._write_manifest()
        self._closed = True
        with open(os.path.join(self.out_dir, MANIFEST_FILE)) as fh:
            return json.load(fh)

    def __enter__(self) -> ConvertedFolderWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # keep complete files and the progress manifest for a resume
            self._closed = True


def _csv(table: pa.Table, path: str) -> None:
    """``filelist.csv`` as pandas ``to_csv`` writes it (leading unnamed index column)."""
    cols = table.column_names
    with open(path, "w") as fh:
        fh.write("," + ",".join(cols) + "\n")
        rows = zip(*[table.column(c).to_pylist() for c in cols])
        for i, row in enumerate(rows):
            fh.write(f"{i}," + ",".join("" if v != v else str(v) for v in row) + "\n")
