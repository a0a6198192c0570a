"""Continuous muon energy loss ``dE/dx = a + b E`` with the total ``b`` (constants in
:mod:`.constants`; :mod:`.losses` splits off the stochastic part)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .constants import MUON_LOSS_A, MUON_LOSS_B
from .losses import continuous_energy, continuous_range

_CRIT = MUON_LOSS_A / MUON_LOSS_B  # GeV, where ionisation and radiative losses are equal


def energy_after(e0: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Energy (GeV) after ``x`` metres for a muon starting with ``e0`` GeV; 0 once stopped.

    ``E(x) = (E0 + a/b) exp(-b x) - a/b``.
    """
    return continuous_energy(e0, x)


def muon_range(e0: ArrayLike) -> np.ndarray:
    """Distance (m) until a muon of ``e0`` GeV stops: ``ln(1 + E0 b / a) / b``."""
    return continuous_range(e0)


def relative_light_yield(e: ArrayLike) -> np.ndarray:
    """Light yield relative to a minimum-ionising muon: ``(a + b E) / a``."""
    return 1.0 + np.asarray(e) / _CRIT
