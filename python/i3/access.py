"""Frame access for the batching engine, on real IceTray frames."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from icecube import dataclasses, icetray

from ..core.geometry import Geometry
from ..data.features.exclusions import Exclusions
from .errors import ConfigurationError
from .exclusion_reader import ExclusionReader
from .outputs import write_result
from .results import EventResult


def pulses_array(frame: icetray.I3Frame, key: str) -> Optional[np.ndarray]:
    """``float64 [N, 6]`` (string, om, pmt, time, charge, width) of a pulse map, mask or union;
    None when ``key`` is not in the frame; ``[0, 6]`` for an empty map."""
    if key not in frame:
        return None
    try:
        pulses = dataclasses.I3RecoPulseSeriesMap.from_frame(frame, key)
    except TypeError:  # raised by from_frame for any other type
        raise ConfigurationError(
            f"pulse key {key!r} holds a {frame.type_name(key)}, not an I3RecoPulseSeriesMap, "
            "mask or union; choose another Pulses key"
        ) from None
    try:
        return np.asarray(pulses, dtype=np.float64).reshape(-1, 6)
    except BufferError:  # numpy.asarray of an empty map
        return np.zeros((0, 6))


class I3FrameAccess:
    """:class:`~llp_gap_reco.i3.engine.FrameAccess` for ``icetray.I3Frame``."""

    def __init__(self, geometry_key: str = "I3Geometry") -> None:
        self.geometry_key = geometry_key
        self._readers: dict[tuple[str, ...], ExclusionReader] = {}

    def stop(self, frame: icetray.I3Frame) -> str:
        return frame.Stop.id  # one letter: G, C, D, Q, P, I, ...

    def geometry(self, frame: icetray.I3Frame) -> Geometry:
        return Geometry.from_i3geometry(frame[self.geometry_key])

    def pulses(self, frame: icetray.I3Frame, key: str) -> Optional[np.ndarray]:
        return pulses_array(frame, key)

    def exclusions(self, frame: icetray.I3Frame, keys: Sequence[str]) -> Exclusions:
        reader = self._readers.get(tuple(keys))
        if reader is None:
            reader = self._readers[tuple(keys)] = ExclusionReader(keys)
        return reader.read(frame)

    def new_frame(self, frame: icetray.I3Frame) -> None:
        for reader in self._readers.values():
            reader.new_frame(frame)

    def sub_event_stream(self, frame: icetray.I3Frame) -> Optional[str]:
        if "I3EventHeader" not in frame:
            return None
        return frame["I3EventHeader"].sub_event_stream

    def has_key(self, frame: icetray.I3Frame, key: str) -> bool:
        return key in frame

    def write(self, frame: icetray.I3Frame, output_name: str, result: EventResult) -> None:
        write_result(frame, output_name, result)
