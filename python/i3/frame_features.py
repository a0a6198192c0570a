"""Per-DOM features of one P frame: the one code path shared by reconstruction and conversion."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..core.status import Status

logger = logging.getLogger(__name__)


@dataclass
class FrameFeatures:
    """``features`` float32 [n_doms, D] (None unless ``status`` is OK), DOM keys, status."""

    features: Optional[np.ndarray]
    string: Optional[np.ndarray]
    om: Optional[np.ndarray]
    status: Status
    n_doms: int


def frame_features(access: Any, frame: Any, pulse_key: str, geometry: Any,
                   extractor: Any) -> FrameFeatures:
    """Read ``pulse_key`` through ``access`` and compute the features; never raises for a bad
    event (missing key, empty map, nothing left after cleaning, unknown DOM): the status says."""
    try:
        pulses = access.pulses(frame, pulse_key)
        if pulses is None:
            return FrameFeatures(None, None, None, Status.PULSES_MISSING, 0)
        ev = extractor.extract(pulses, geometry)
    except Exception:
        logger.exception("feature extraction failed for one event; marking it ERROR")
        return FrameFeatures(None, None, None, Status.ERROR, 0)
    status = Status(int(ev.status))
    n = int(ev.features.shape[0])
    if status is not Status.OK:
        return FrameFeatures(None, None, None, status, n)
    return FrameFeatures(ev.features, ev.string, ev.om, status, n)
