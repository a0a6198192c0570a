"""Posterior reconstruction of long-lived-particle (LLP) production and decay vertices.

Standalone the package imports as ``llp_gap_reco``; inside an icetray build as
``icecube.llp_gap_reco``. Only :mod:`.i3` imports ``icecube``.
"""

from __future__ import annotations

from typing import Any

from .core.version import __version__

__all__ = ["__version__", "LLPGapReco"]


def __getattr__(name: str) -> Any:
    # The I3Module needs icecube; import it only when asked for, so the rest of the package
    # works without IceTray.
    if name == "LLPGapReco":
        from .i3.module import LLPGapReco

        return LLPGapReco
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
