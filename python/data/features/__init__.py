"""Per-DOM summary statistics: the model input (see resources/docs/features.md)."""

from __future__ import annotations

from .config import DEFAULT_CONFIG, load_config
from .definitions import FEATURE_CLASSES, GROUPS
from .extractor import BatchFeatures, EventFeatures, FeatureExtractor

__all__ = [
    "DEFAULT_CONFIG",
    "FEATURE_CLASSES",
    "GROUPS",
    "BatchFeatures",
    "EventFeatures",
    "FeatureExtractor",
    "load_config",
]
