"""Per-event reconstruction status codes, shared by features, the flow summary and the writers."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """Why an event was (not) reconstructed. Stored as an integer in every output."""

    OK = 0
    #: the pulse key is absent from the frame
    PULSES_MISSING = 1
    #: the pulse map exists but holds no pulse
    NO_PULSES = 2
    #: every pulse was removed by cleaning (non-finite time/charge, charge <= 0)
    NO_DOMS_AFTER_CLEANING = 3
    #: a pulse's OMKey is not in the current geometry
    UNKNOWN_OMKEY = 4
    #: the network input or output was not finite
    NONFINITE = 5
    #: the event was not processed (no geometry seen yet, or skipped by If/SubEventStream)
    SKIPPED = 6
    #: an unexpected error while reconstructing this event (logged with its traceback)
    ERROR = 7
    #: a hit module has several PMTs (``pmt != 0``) and multi-PMT modules are refused
    MULTI_PMT_REFUSED = 8

    @property
    def failed(self) -> bool:
        return self is not Status.OK
