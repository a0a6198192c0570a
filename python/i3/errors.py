"""Errors of the IceTray part: configuration errors always stop the tray."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The input cannot be processed as configured (output clash, no geometry, a frame key of the
    wrong type); stops the tray whatever ``OnError`` says."""


class ReconstructionError(RuntimeError):
    """An unexpected error while computing features or reconstructing a batch."""
