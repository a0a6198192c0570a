"""Public name ``llp_gap_reco.flow`` (the conditional normalizing flow); the code lives in
:mod:`llp_gap_reco.model.flow`."""

from __future__ import annotations

from .model.flow import (
    ConditionalFlow,
    PosteriorSummary,
    summarize,
)

__all__ = [
    "ConditionalFlow",
    "PosteriorSummary",
    "summarize",
]
