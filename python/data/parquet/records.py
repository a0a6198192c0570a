"""One converted event as a plain record, and a data file's Arrow table built from records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
import pyarrow as pa

from .format import FEATURES_COLUMN, MUON_KEYS, TRUTH_KEYS, data_schema


@dataclass
class ConvertedEvent:
    """One event as a data file row holds it.

    ``features``: float32 ``[n_doms, D]`` unnormalised per-DOM features; ``string``/``om``:
    int32 ``[n_doms]`` DOM keys of the rows; ``truth``: simulator truth (keys as
    :data:`~.format.TRUTH_KEYS`, metres) or None in an unlabeled folder; ``muon``: keys
    ``muon_energy`` [GeV], ``zenith`` [rad], ``muon_length`` [m] (missing keys are stored as NaN);
    ``totcharge``: total charge [PE].
    """

    run_id: int
    event_id: int
    features: np.ndarray
    string: np.ndarray
    om: np.ndarray
    truth: Optional[Mapping] = None
    muon: Mapping = field(default_factory=dict)
    totcharge: float = float("nan")

    @property
    def n_doms(self) -> int:
        """DOM rows of the event."""
        return int(self.features.shape[0])


def total_charge(features: np.ndarray, feature_indices: Mapping) -> float:
    """Total charge [PE] of an event from its ``log(1 + q)`` TotalCharge column (the first
    ``log_total_charge`` column of ``features [n_doms, D]``); NaN without such a group."""
    cols = np.atleast_1d(feature_indices.get("log_total_charge", []))
    if not cols.size:
        return float("nan")
    return float(np.expm1(features[:, cols[:1]].astype(np.float64)).sum())


def events_table(events: Sequence[ConvertedEvent], dim: int, labeled: bool) -> pa.Table:
    """Arrow table of a data file holding ``events`` (schema :func:`~.format.data_schema` plus
    the muon columns of :data:`~.format.MUON_KEYS`)."""
    lens = np.array([e.n_doms for e in events], dtype=np.int64)
    offsets = np.zeros(lens.size + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    flat = np.concatenate([e.features for e in events]).ravel()
    schema = data_schema(dim, labeled)
    ftype = schema.field(FEATURES_COLUMN).type
    rows = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), type=ftype.value_type)
    dom_type = schema.field("string_list").type
    pa_offsets = pa.array(offsets)
    cols = {
        "run_id": pa.array([e.run_id for e in events], pa.int64()),
        "event_id": pa.array([e.event_id for e in events], pa.int64()),
        FEATURES_COLUMN: pa.ListArray.from_arrays(pa_offsets, rows, type=ftype),
        "string_list": pa.ListArray.from_arrays(
            pa_offsets, pa.array(np.concatenate([e.string for e in events])), type=dom_type
        ),
        "om_list": pa.ListArray.from_arrays(
            pa_offsets, pa.array(np.concatenate([e.om for e in events])), type=dom_type
        ),
        "nch": pa.array(lens),
        "totcharge": pa.array([e.totcharge for e in events], pa.float64()),
    }
    if labeled:
        for key, col in TRUTH_KEYS.items():
            cols[col] = pa.array([float(_truth(e).get(key, np.nan)) for e in events], pa.float64())
    for key, col in MUON_KEYS.items():
        cols[col] = pa.array([float(e.muon.get(key, np.nan)) for e in events], pa.float64())
        schema = schema.append(pa.field(col, pa.float64(), nullable=False))
    return pa.table([cols[f.name] for f in schema], schema=schema)


def _truth(event: ConvertedEvent) -> Mapping:
    if event.truth is None:
        raise ValueError(f"event run {event.run_id} id {event.event_id}: no truth")
    return event.truth
