"""Public name ``llp_gap_reco.bundle`` (the model bundle); the code lives in
:mod:`llp_gap_reco.model.bundle`."""

from __future__ import annotations

from .model.bundle import (
    BUNDLE_FORMAT,
    FORMAT_VERSION,
    BundleError,
    ModelBundle,
    bundle_from_dict,
    load_bundle,
    save_bundle,
    validate_bundle_dict,
)

__all__ = [
    "BUNDLE_FORMAT",
    "FORMAT_VERSION",
    "BundleError",
    "ModelBundle",
    "bundle_from_dict",
    "load_bundle",
    "save_bundle",
    "validate_bundle_dict",
]
