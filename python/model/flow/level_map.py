"""Calibrated HDR levels: which of the flow's own highest-density regions holds a nominal level.

A width correction (the base temperature) scales every posterior; it cannot change the shape of
the coverage curve, so a flow whose 68% regions hold 70% of validation truths may hold only 88%
in its 90% regions at the same width. The level map fixes the levels instead (quantile
recalibration of the HDR rank, as in Kuleshov, Fenner & Ermon, ICML 2018, for 1D intervals):
with ``r`` the HDR rank of a truth (the posterior mass of the region of higher density than the
truth; the truth is inside the flow's ``beta`` HDR iff ``r <= beta``), the map ``g`` is the
empirical quantile function of ``r`` on validation events, and the calibrated ``alpha`` region is
the flow's ``g(alpha)`` HDR. It holds ``alpha`` of the validation truths at every level, and the
calibrated rank of a truth is ``G(r) = g^-1(r)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

#: nominal levels of a fitted map: 0, 0.025, ..., 1
GRID_POINTS = 41
#: the knots are made strictly increasing by at most this (so that the map can be inverted)
_SPREAD = 1e-9


class LevelMap:
    """Piecewise-linear ``g``: the raw HDR level ``raw [K + 1]`` (0 first, 1 last, increasing) at
    the equally spaced nominal levels ``0, 1/K, ..., 1``."""

    def __init__(self, raw: Sequence[float]) -> None:
        r = np.asarray(raw, dtype=np.float64).ravel()
        if r.size < 2 or not np.isfinite(r).all():
            raise ValueError(f"level map: needs at least 2 finite levels, got {r.size}")
        if r[0] != 0.0 or r[-1] != 1.0 or not bool((np.diff(r) > 0).all()):
            raise ValueError("level map: levels must rise strictly from 0 to 1")
        self.raw = r
        self.nominal = np.linspace(0.0, 1.0, r.size)

    @classmethod
    def fit(cls, rank: ArrayLike, points: int = GRID_POINTS) -> LevelMap:
        """The map under which the HDR ranks ``rank [N]`` (validation truths, in ``[0, 1]``)
        become uniform: ``g(alpha)`` = the ``alpha`` quantile of ``rank``."""
        r = np.asarray(rank, dtype=np.float64).ravel()
        r = r[np.isfinite(r)]
        if r.size == 0:
            raise ValueError("level map: no finite ranks to fit")
        nominal = np.linspace(0.0, 1.0, points)
        raw = np.maximum.accumulate(np.clip(np.quantile(r, nominal), 0.0, 1.0))
        raw[0], raw[-1] = 0.0, 1.0
        i = np.arange(points)  # ties (discrete ranks) spread apart, 0 and 1 kept
        return cls((raw + _SPREAD * i) / (1.0 + _SPREAD * (points - 1)))

    def raw_level(self, nominal: Union[float, ArrayLike]) -> np.ndarray:
        """The flow's HDR level ``g(nominal)`` that holds ``nominal`` (same shape)."""
        return np.interp(np.asarray(nominal, dtype=np.float64), self.nominal, self.raw)

    def calibrated_rank(self, rank: Union[float, ArrayLike]) -> np.ndarray:
        """``G(rank) = g^-1(rank)``: the truth is inside the calibrated ``alpha`` region iff
        ``G(rank) <= alpha``; NaN stays NaN."""
        return np.interp(np.asarray(rank, dtype=np.float64), self.raw, self.nominal)

    def config(self) -> list[float]:
        """Plain data that rebuilds the map: ``LevelMap(config)``."""
        return [float(v) for v in self.raw]


def hdr_levels(flow: Any, nominal: Sequence[float] = (0.68, 0.90)) -> list[float]:
    """The HDR levels of ``flow``'s density that hold the ``nominal`` levels: its level map's
    values, or ``nominal`` itself for a flow without one."""
    level_map = getattr(flow, "level_map", None)
    if level_map is None:
        return [float(a) for a in nominal]
    return [float(v) for v in level_map.raw_level(list(nominal))]


def calibrated_rank(flow: Any, rank: ArrayLike) -> np.ndarray:
    """HDR ranks ``rank`` under ``flow``'s level map (unchanged without one): the truth is
    inside the ``alpha`` region the flow reports iff the calibrated rank is ``<= alpha``."""
    level_map = getattr(flow, "level_map", None)
    r = np.asarray(rank, dtype=np.float64)
    return r if level_map is None else level_map.calibrated_rank(r)
