"""The conditional 6D normalizing flow and its posterior summaries."""

from .conditional_flow import ConditionalFlow
from .summary import PosteriorSummary, summarize

__all__ = ["ConditionalFlow", "PosteriorSummary", "summarize"]
