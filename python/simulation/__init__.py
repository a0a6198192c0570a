"""Simulated IceCube-like LLP gap events (see resources/docs/simulation.md)."""
