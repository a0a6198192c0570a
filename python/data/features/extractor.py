"""Per-DOM feature matrices from pulse arrays, for one event or many at once.

The pulses array is ``float64 [N, 6]``: ``string, om, pmt, time [ns], charge [PE], width [ns]``,
the layout of ``numpy.asarray(I3RecoPulseSeriesMap)``. Pulses of all PMTs of a DOM are pooled.
Cleaning removes pulses with a non-finite string/om/time/charge or charge <= 0 and counts them.
Rows come out in OMKey order (geometry row order). The batched path has no Python loop over
pulses, DOMs or events.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.geometry import Geometry, UnknownOMKeyError
from ...core.status import Status
from . import convention as conv
from .config import ConfigLike, load_config
from .segments import DomPulses

logger = logging.getLogger(__name__)

POSITION_NAMES = ["x", "y", "z"]


@dataclass
class EventFeatures:
    """One event's features; ``features`` is empty ``[0, D]`` unless ``status`` is OK."""

    features: np.ndarray  # float32 [n_doms, D]
    string: np.ndarray  # int32 [n_doms]
    om: np.ndarray  # int32 [n_doms]
    status: Status
    n_excluded: int  # pulses removed by cleaning


@dataclass
class BatchFeatures:
    """Features of B events, packed: event ``b`` owns ``seqlens[b]`` consecutive rows."""

    features: np.ndarray  # float32 [N_rows, D]
    seqlens: np.ndarray  # int64 [B]
    string: np.ndarray  # int32 [N_rows]
    om: np.ndarray  # int32 [N_rows]
    status: np.ndarray  # int8 [B], values of Status
    n_excluded: np.ndarray  # int64 [B]

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[B+1]`` row offsets."""
        return np.concatenate([[0], np.cumsum(self.seqlens)])

    def event(self, b: int) -> EventFeatures:
        lo, hi = self.offsets[b], self.offsets[b + 1]
        return EventFeatures(
            self.features[lo:hi],
            self.string[lo:hi],
            self.om[lo:hi],
            Status(int(self.status[b])),
            int(self.n_excluded[b]),
        )


def _as_pulses(pulses: Any) -> np.ndarray:
    p = np.asarray(pulses, dtype=np.float64)
    if p.size == 0:
        return p.reshape(0, 6)
    if p.ndim != 2 or p.shape[1] != 6:
        raise ValueError(
            f"pulses must be float64 [N, 6] (string, om, pmt, time, charge, width), "
            f"got shape {p.shape}"
        )
    return p


class FeatureExtractor:
    """Computes the per-DOM feature matrix configured by ``config`` (see :mod:`.config`).

    Attributes:
        names: column names, e.g. ``["x", "y", "z", "TotalCharge", "ChargeUntilT_10", ...]``.
        feature_indices: group -> column indices in the convention's layout (``package``:
            every group of ``definitions.GROUPS``; ``original``: see :mod:`.convention`).
        convention: ``"package"`` or ``"original"``: how the charge columns are stored.
        dim: number of columns ``D``.
        pulse_key: the frame key holding the pulses.
        config: normalised plain dict; ``FeatureExtractor(extractor.config)`` is equivalent.
    """

    def __init__(self, config: ConfigLike = None) -> None:
        self._config, self._features, self.modifier = load_config(config)
        self.pulse_key: str = self._config["pulse_key"]
        self.convention: str = self._config["convention"]
        self.names: list[str] = list(POSITION_NAMES)
        for f in self._features:
            self.names += f.names
        self.feature_indices = conv.feature_indices(self._features, self.convention)
        self.dim = len(self.names)

    @property
    def config(self) -> dict[str, Any]:
        """The normalised configuration (a fresh plain dict, YAML-serialisable)."""
        return copy.deepcopy(self._config)

    def __repr__(self) -> str:
        return (
            f"FeatureExtractor(pulse_key={self.pulse_key!r}, convention={self.convention!r}, "
            f"names={self.names})"
        )

    # ------------------------------------------------------------------ one event
    def extract(self, pulses: Any, geometry: Geometry) -> EventFeatures:
        """One event; a bad event gets a status (never an exception)."""
        p = _as_pulses(pulses)
        return self.batch_features(p, np.array([0, p.shape[0]]), geometry).event(0)

    def event_features(self, pulses: Any, geometry: Geometry) -> np.ndarray:
        """float32 ``[n_doms, D]``, rows in OMKey order; ``[0, D]`` for an event without a
        usable pulse. Raises :class:`UnknownOMKeyError` naming DOMs not in ``geometry``."""
        p = _as_pulses(pulses)
        ev = self.extract(p, geometry)
        if ev.status == Status.UNKNOWN_OMKEY:
            idx = geometry.index(p[:, 0], p[:, 1])
            bad = idx < 0
            raise UnknownOMKeyError(
                zip(p[bad, 0].astype(np.int64).tolist(), p[bad, 1].astype(np.int64).tolist()),
                f"in geometry from {geometry.source}",
            )
        return ev.features

    # ------------------------------------------------------------------ many events
    def batch_features(self, pulses: Any, event_offsets: Any, geometry: Geometry) -> BatchFeatures:
        """Features of B events whose pulses are concatenated.

        Args:
            pulses: float64 ``[N, 6]``, event ``b`` owns rows ``event_offsets[b]:[b+1]``.
            event_offsets: int64 ``[B+1]``, starting at 0, ending at ``N``, non-decreasing.
            geometry: DOM positions; pulses on DOMs it lacks give status UNKNOWN_OMKEY.
        """
        p = _as_pulses(pulses)
        offsets = np.asarray(event_offsets, dtype=np.int64)
        n = p.shape[0]
        if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets[0] != 0 or offsets[-1] != n:
            raise ValueError(
                f"event_offsets must be [B+1] from 0 to N={n}, got shape {offsets.shape} "
                f"({offsets[:1].tolist()} ... {offsets[-1:].tolist()})"
            )
        counts = np.diff(offsets)
        if (counts < 0).any():
            raise ValueError(f"event_offsets decrease at event {int(np.argmax(counts < 0))}")
        b = counts.shape[0]
        ev = np.repeat(np.arange(b), counts)
        t, q = p[:, 3], p[:, 4]
        row = geometry.index(p[:, 0], p[:, 1])
        with np.errstate(invalid="ignore"):
            good = np.isfinite(t) & (q > 0) & np.isfinite(q)
        good &= np.isfinite(p[:, 0]) & np.isfinite(p[:, 1])

        status = np.full(b, Status.OK, dtype=np.int8)
        status[counts == 0] = Status.NO_PULSES
        if good.all():  # the common case: nothing to clean
            n_excluded = np.zeros(b, dtype=np.int64)
        else:
            n_excluded = np.bincount(ev[~good], minlength=b).astype(np.int64)
            status[(counts > 0) & (n_excluded == counts)] = Status.NO_DOMS_AFTER_CLEANING
        unknown = good & (row < 0)
        if unknown.any():
            status[np.unique(ev[unknown])] = Status.UNKNOWN_OMKEY
        keep = good & (status == Status.OK)[ev] if (status != Status.OK).any() else good
        if not keep.all():
            ev, row, t, q = ev[keep], row[keep], t[keep], q[keep]
        if self.modifier and t.shape[0]:
            qt = np.bincount(ev, q * t, minlength=b)
            qs = np.bincount(ev, q, minlength=b)
            with np.errstate(invalid="ignore", divide="ignore"):
                t = t - (qt / qs)[ev]
        segkey = ev * max(len(geometry), 1) + row
        if not _is_sorted(segkey, t, q):
            order = np.lexsort((q, t, segkey))
            segkey, t, q = segkey[order], t[order], q[order]
        new_dom = np.empty(segkey.shape[0], dtype=bool)
        new_dom[:1] = True
        np.not_equal(segkey[1:], segkey[:-1], out=new_dom[1:])
        starts = np.flatnonzero(new_dom)
        dom_row = segkey[starts] % max(len(geometry), 1)
        seqlens = np.bincount(segkey[starts] // max(len(geometry), 1), minlength=b).astype(np.int64)

        out = np.empty((starts.shape[0], self.dim), dtype=np.float32)
        out[:, :3] = geometry.pos[dom_row]
        if starts.shape[0]:
            doms = DomPulses(t, q, starts)
            col = 3
            for f in self._features:
                block = conv.finish_block(f, f.compute(doms), self.convention)
                out[:, col : col + block.shape[1]] = block
                col += block.shape[1]
        if n_excluded.any():
            logger.debug("cleaning removed %d pulses", int(n_excluded.sum()))
        return BatchFeatures(
            out, seqlens, geometry.string[dom_row], geometry.om[dom_row], status, n_excluded
        )


def _is_sorted(segkey: np.ndarray, t: np.ndarray, q: np.ndarray) -> bool:
    """Whether ``(segkey, t, q)`` is already in lexicographic order (no sort needed)."""
    if segkey.shape[0] < 2:
        return True
    ds = np.diff(segkey)
    if (ds < 0).any():
        return False
    same = ds == 0
    dt = np.diff(t)
    if (same & (dt < 0)).any():
        return False
    tie = same & (dt == 0)
    return not (tie.any() and (tie & (np.diff(q) < 0)).any())
