"""Data layer: per-DOM features from pulses, the built-in simulator, converted parquet folders.

Imports only :mod:`llp_gap_reco.core`.
"""
