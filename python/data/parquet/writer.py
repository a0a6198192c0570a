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
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import ArrayLike

from ...core.atomic import atomic_write, atomic_write_json
from ...core.status import Status
from ...core.version import __version__
from ..features import BatchFeatures, EventFeatures, FeatureExtractor
from .folder_files import write_folder_files
from .format import (
    DEFAULT_EVENTS_PER_FILE,
    DEFAULT_ROW_GROUP_SIZE,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    data_file_name,
    feature_dim,
)
from .progress import resume_manifest
from .records import ConvertedEvent, events_table, total_charge

logger = logging.getLogger(__name__)

#: parquet codec of data files: LZ4 reads ~20% faster than snappy for these files, similar size
DATA_COMPRESSION = "lz4"


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
        indices: Mapping[str, Any] = feature_indices
        self.feature_indices = {
            g: (np.atleast_1d(v).astype(int).tolist() if np.ndim(v) else int(v))
            for g, v in indices.items()
        }
        self.dim = feature_dim(self.feature_indices)
        self.events_per_file = int(events_per_file)
        self.row_group_size = int(row_group_size)
        self.prefix = prefix
        self.compression = compression
        self.labeled = labeled
        self.source = dict(source or {})
        self.files: list[dict] = []  # {"name", "n_events"} of complete data files
        self.n_input_events = 0  # events offered to add(), written or not
        self.skipped: Counter[str] = Counter()  # status name -> events not written
        self.complete = False
        self._buffer: list[ConvertedEvent] = []
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
        """Continue from the folder's manifest when it has one (see :mod:`.progress`)."""
        man = resume_manifest(self.out_dir, self._params(), resume)
        if man is None:
            return
        self.files = list(man["files"])
        self.n_input_events = int(man["n_input_events"])
        self.skipped = Counter(man.get("skipped_by_status", {}))
        self.labeled = man.get("labeled", self.labeled)
        self.complete = bool(man.get("complete"))

    # -- adding events -----------------------------------------------------------------------
    def add(
        self,
        run_id: int,
        event_id: int,
        features: np.ndarray,
        string: ArrayLike,
        om: ArrayLike,
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
            totcharge = total_charge(features, self.feature_indices)
        self._buffer.append(
            ConvertedEvent(
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
        self,
        run_id: int,
        event_id: int,
        event_features: EventFeatures,
        truth: Optional[Mapping] = None,
        muon: Optional[Mapping] = None,
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

    def add_batch(
        self,
        run_id: Sequence[int],
        event_id: Sequence[int],
        batch: BatchFeatures,
        truths: Optional[Sequence[Optional[Mapping]]] = None,
        muons: Optional[Sequence[Optional[Mapping]]] = None,
    ) -> None:
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
                status=Status(int(batch.status[b])),
            )

    # -- writing -----------------------------------------------------------------------------
    def _flush(self) -> None:
        if not self._buffer:
            return
        name = data_file_name(self.prefix, len(self.files))
        table = events_table(self._buffer, self.dim, bool(self.labeled))
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

    def close(self) -> dict:
        """Write the last (partial) data file and the folder files; return the manifest."""
        if not self.complete:
            self._flush()
            write_folder_files(self.out_dir, self.files, self.row_group_size, self.feature_indices)
            self.complete = True
            self._write_manifest()
        self._closed = True
        with open(os.path.join(self.out_dir, MANIFEST_FILE)) as fh:
            return json.load(fh)

    def __enter__(self) -> ConvertedFolderWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # keep complete files and the progress manifest for a resume
            self._closed = True
