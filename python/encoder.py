"""Public name ``llp_gap_reco.encoder`` (the seed-compatible transformer encoder); the code lives in
:mod:`llp_gap_reco.model.encoder`."""

from __future__ import annotations

from .model.encoder import (
    BACKENDS,
    DEFAULT_SETTINGS,
    SETTINGS_SPEC,
    BucketPolicy,
    LLPTransformerModel,
    resolve_settings,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_SETTINGS",
    "SETTINGS_SPEC",
    "BucketPolicy",
    "LLPTransformerModel",
    "resolve_settings",
]
