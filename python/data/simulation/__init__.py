"""Simulated IceCube-like LLP gap events (see resources/docs/simulation.md)."""

from __future__ import annotations

from .config import SimulationConfig
from .events import KINDS, TRUTH_KEYS, SimulatedEvent, SimulatedEvents, Simulator, simulate
from .kinematics import direction_of_travel
from .volume import Cylinder, InstrumentedVolume

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
