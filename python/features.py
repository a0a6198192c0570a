"""Public name ``llp_gap_reco.features`` (per-DOM features); the code lives in
:mod:`llp_gap_reco.data.features`."""

from __future__ import annotations

from .data.features import (
    DEFAULT_CONFIG,
    FEATURE_CLASSES,
    GROUPS,
    BatchFeatures,
    EventFeatures,
    FeatureExtractor,
    load_config,
)

__all__ = [
    "DEFAULT_CONFIG",
    "FEATURE_CLASSES",
    "GROUPS",
    "BatchFeatures",
    "EventFeatures",
    "FeatureExtractor",
    "load_config",
]
