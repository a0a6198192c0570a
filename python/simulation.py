"""Public name ``llp_gap_reco.simulation`` (the built-in simulator); the code lives in
:mod:`llp_gap_reco.data.simulation`."""

from __future__ import annotations

from .data.simulation import (
    KINDS,
    TRUTH_KEYS,
    Cylinder,
    InstrumentedVolume,
    SimulatedEvent,
    SimulatedEvents,
    SimulationConfig,
    Simulator,
    direction_of_travel,
    simulate,
)

__all__ = [
    "KINDS",
    "TRUTH_KEYS",
    "Cylinder",
    "InstrumentedVolume",
    "SimulatedEvent",
    "SimulatedEvents",
    "SimulationConfig",
    "Simulator",
    "direction_of_travel",
    "simulate",
]
