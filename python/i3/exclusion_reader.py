"""Reads the DOM exclusions configured in the feature config from an I3 frame.

``BadDomsList``-like keys are ``I3VectorOMKey``; ``SaturationWindows``/``CalibrationErrata``-like
keys are ``I3TimeWindowSeriesMap``. Objects that live in G/C/D frames (bad-DOM lists) are read once
and reused until the next non-event frame arrives (:meth:`ExclusionReader.new_frame`); objects of
Q and P frames are read per event. A configured key that the frame lacks is normal (logged once per
key at info level); a key of another type stops the run with a clear error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from icecube import dataclasses, icetray

from ..data.features.exclusions import Exclusions
from .errors import ConfigurationError

logger = logging.getLogger(__name__)

_EVENT_STOPS = (icetray.I3Frame.Physics, icetray.I3Frame.DAQ)


def omkey_rows(keys: Iterable[icetray.OMKey]) -> np.ndarray:
    """int64 ``[K, 3]`` (string, om, pmt) of an iterable of OMKeys."""
    rows = [(k.string, k.om, k.pmt) for k in keys]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def window_rows(windows: dataclasses.I3TimeWindowSeriesMap) -> np.ndarray:
    """float64 ``[W, 5]`` (string, om, pmt, start, stop) of an ``I3TimeWindowSeriesMap``."""
    rows = [
        (k.string, k.om, k.pmt, w.start, w.stop) for k, series in windows.items() for w in series
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def read_exclusion(obj: Any, key: str) -> tuple[str, np.ndarray]:
    """``("doms", int64 [K, 3])`` or ``("windows", float64 [W, 5])`` of one frame object."""
    if isinstance(obj, dataclasses.I3TimeWindowSeriesMap):
        return "windows", window_rows(obj)
    if isinstance(obj, dataclasses.I3VectorOMKey):
        return "doms", omkey_rows(obj)
    raise ConfigurationError(
        f"DOM exclusion key {key!r} holds a {type(obj).__name__}; expected an I3VectorOMKey "
        "(excluded DOMs) or an I3TimeWindowSeriesMap (excluded time windows). Fix "
        "dom_exclusions in the feature config or the module's DOMExclusions parameter."
    )


class ExclusionReader:
    """Per-event :class:`Exclusions` from the configured frame keys, with a cache for keys of
    G/C/D frames."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self._cache: dict[str, tuple[str, np.ndarray]] = {}
        self._reported_missing: set[str] = set()
        self.n_missing: dict[str, int] = {}

    def new_frame(self, frame: icetray.I3Frame) -> None:
        """Called for every frame that is not Q or P: a new G/C/D frame replaces cached lists."""
        if frame.Stop not in _EVENT_STOPS:
            self._cache.clear()

    def read(self, frame: icetray.I3Frame) -> Exclusions:
        parts, missing = [], []
        for key in self.keys:
            if key not in frame:
                missing.append(key)
                self.n_missing[key] = self.n_missing.get(key, 0) + 1
                if key not in self._reported_missing:
                    self._reported_missing.add(key)
                    logger.info(
                        "DOM exclusion key %r is not in the frame (first seen in a %s "
                        "frame); no exclusion from it where it is absent",
                        key,
                        frame.Stop.id,
                    )
                continue
            cached = self._cache.get(key)
            if cached is None:
                cached = read_exclusion(frame[key], key)
                if frame.get_stop(key) not in _EVENT_STOPS:
                    self._cache[key] = cached
            parts.append(cached)
        return Exclusions.combine(parts, tuple(missing))
