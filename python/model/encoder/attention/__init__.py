"""Attention within each event of a packed batch, with interchangeable backends."""

from __future__ import annotations

from .base import AttentionBackend
from .bucketed import BucketedAttention, BucketPolicy
from .dispatch import BACKENDS, get_backend, select_backend
from .padded import PaddedAttention
from .xformers_backend import XformersAttention

__all__ = [
    "BACKENDS",
    "AttentionBackend",
    "BucketPolicy",
    "BucketedAttention",
    "PaddedAttention",
    "XformersAttention",
    "get_backend",
    "select_backend",
]
