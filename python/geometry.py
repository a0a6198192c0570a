"""Public name ``llp_gap_reco.geometry``; the code lives in :mod:`llp_gap_reco.core.geometry`."""

from __future__ import annotations

from .core.geometry import Geometry, UnknownOMKeyError

__all__ = ["Geometry", "UnknownOMKeyError"]
