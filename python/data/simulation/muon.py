"""Continuous muon energy loss ``dE/dx = a + b E`` (constants in :mod:`.constants`)."""

from __future__ import annotations

import numpy as np

from .constants import MUON_LOSS_A, MUON_LOSS_B

_CRIT = MUON_LOSS_A / MUON_LOSS_B  # GeV, where ionisation and radiative losses are equal


def energy_after(e0, x):
    """Energy (GeV) after ``x`` metres for a muon starting with ``e0`` GeV; 0 once stopped.

    ``E(x) = (E0 + a/b) exp(-b x) - a/b``.
    """
    return np.maximum((np.asarray(e0) + _CRIT) * np.exp(-MUON_LOSS_B * np.asarray(x)) - _CRIT, 0.0)


def muon_range(e0):
    """Distance (m) until a muon of ``e0`` GeV stops: ``ln(1 + E0 b / a) / b``."""
    return np.log1p(np.asarray(e0) / _CRIT) / MUON_LOSS_B


def relative_light_yield(e):
    """Light yield relative to a minimum-ionising muon: ``(a + b E) / a``."""
    return 1.0 + np.asarray(e) / _CRIT
