"""The transformer encoder over packed per-DOM rows (seed-compatible ``LLPTransformerModel``)."""

from __future__ import annotations

from .attention import BACKENDS, BucketPolicy
from .model import LLPTransformerModel
from .settings import DEFAULT_SETTINGS, SETTINGS_SPEC, resolve_settings

__all__ = [
    "BACKENDS",
    "DEFAULT_SETTINGS",
    "SETTINGS_SPEC",
    "BucketPolicy",
    "LLPTransformerModel",
    "resolve_settings",
]
