"""Simulated IceCube-like LLP gap events (see resources/docs/simulation.md)."""

from __future__ import annotations

from .events import (
    KINDS,
    TRUTH_KEYS,
    SimulatedEvent,
    SimulatedEvents,
    Simulator,
    direction_of_travel,
    simulate,
)
from .volume import Cylinder, InstrumentedVolume

__all__ = [
    "KINDS",
    "TRUTH_KEYS",
    "Cylinder",
    "InstrumentedVolume",
    "SimulatedEvent",
    "SimulatedEvents",
    "Simulator",
    "direction_of_travel",
    "simulate",
]
