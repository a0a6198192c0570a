"""Per-DOM features of one P frame: the one code path shared by reconstruction and conversion.

Order: read the pulses (map, mask or union), remove the pulses of excluded DOMs / time windows
(:mod:`llp_gap_reco.data.features.exclusions`), then compute the features (cleaning, pooling the
PMTs of multi-PMT modules per ``(string, om)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..core.status import Status
from ..data.features.exclusions import apply_exclusions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExclusionSettings:
    """Frame keys of the DOM exclusions and whether only pulses inside windows are removed."""

    keys: tuple[str, ...] = ()
    partial: bool = False

    @classmethod
    def from_config(cls, config: dict) -> ExclusionSettings:
        """From a normalised feature config (its ``dom_exclusions``)."""
        ex = config.get("dom_exclusions") or {}
        return cls(tuple(ex.get("exclusions") or ()), bool(ex.get("partial_exclusion", False)))

    def override(self, keys: Optional[Sequence[str]], partial: Optional[bool]) -> ExclusionSettings:
        return ExclusionSettings(
            self.keys if keys is None else tuple(keys),
            self.partial if partial is None else bool(partial),
        )


#: no DOM exclusion
NO_EXCLUSIONS = ExclusionSettings()


@dataclass
class FrameFeatures:
    """``features`` float32 [n_doms, D] (None unless ``status`` is OK), DOM keys, status.

    ``n_doms`` counts the modules that enter the encoder (after exclusions), ``n_doms_excluded``
    the hit modules that the exclusions removed entirely.
    """

    features: Optional[np.ndarray]
    string: Optional[np.ndarray]
    om: Optional[np.ndarray]
    status: Status
    n_doms: int
    n_doms_excluded: int = 0


#: what to do with pulses of PMTs other than 0 (IceCube Upgrade mDOMs, D-Eggs)
MULTI_PMT = ("sum", "refuse")


def frame_features(
    access: Any,
    frame: Any,
    pulse_key: str,
    geometry: Any,
    extractor: Any,
    exclusions: ExclusionSettings = NO_EXCLUSIONS,
    multi_pmt: str = "sum",
) -> FrameFeatures:
    """Read ``pulse_key`` through ``access``, apply the exclusions, compute the features.

    Pulses of all PMTs of a module are pooled into one row per ``(string, om)``
    (``multi_pmt="sum"``), or an event with a pulse on ``pmt != 0`` gets the status
    ``MULTI_PMT_REFUSED`` (``"refuse"``). Bad events get a status (missing key, empty map,
    everything excluded or cleaned away, unknown DOM); anything else that goes wrong raises.
    """
    pulses = access.pulses(frame, pulse_key)
    if pulses is None:
        return FrameFeatures(None, None, None, Status.PULSES_MISSING, 0)
    if multi_pmt == "refuse" and (pulses[:, 2] != 0).any():
        return FrameFeatures(None, None, None, Status.MULTI_PMT_REFUSED, 0)
    n_excluded = 0
    if exclusions.keys and pulses.shape[0]:
        excl = access.exclusions(frame, exclusions.keys)
        pulses, n_excluded = apply_exclusions(pulses, excl, exclusions.partial)
        if pulses.shape[0] == 0:  # every hit DOM excluded
            return FrameFeatures(None, None, None, Status.NO_DOMS_AFTER_CLEANING, 0, n_excluded)
    ev = extractor.extract(pulses, geometry)
    status = Status(int(ev.status))
    n = int(ev.features.shape[0])
    if status is not Status.OK:
        return FrameFeatures(None, None, None, status, n, n_excluded)
    return FrameFeatures(ev.features, ev.string, ev.om, status, n, n_excluded)
