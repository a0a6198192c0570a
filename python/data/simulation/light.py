"""Expected photoelectrons and direct arrival times at every DOM from emitting track segments.

A segment is a stretch ``[s0, s1]`` (metres along the track ``origin + s * d``) on which a muon
of energy ``e0`` (at ``s0``, then continuous losses) emits Cherenkov light. For each DOM the
direct light comes from the Cherenkov point ``s_c = s_perp - rho / tan(theta_c)``; its
emission point is clamped into the segment, and a smooth (logistic) window of width
``WINDOW_WIDTH_A + WINDOW_WIDTH_B * rho`` lets light from a segment end reach DOMs whose
Cherenkov point lies outside it (scattering).

    mu = Y * eff * yield(E(s_e)) * window * exp(-dist / L_att) / max(rho, rho_min)
    t  = t_track(s_e) + dist / c_ice
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .constants import (
    ATTENUATION_LENGTH,
    C_ICE,
    C_VACUUM,
    LIGHT_YIELD_PE_M,
    MIN_PERPENDICULAR_DISTANCE,
    N_PHASE,
    WINDOW_WIDTH_A,
    WINDOW_WIDTH_B,
)
from .muon import energy_after, relative_light_yield

TAN_THETA_C = math.tan(math.acos(1.0 / N_PHASE))


@dataclass
class Segment:
    """Light-emitting stretch ``[s0, s1]`` (m) with energy ``e0`` (GeV) at ``s0``."""

    s0: float
    s1: float
    e0: float


def expected_light(
    dom_pos: np.ndarray,
    efficiency: np.ndarray,
    origin: np.ndarray,
    direction: np.ndarray,
    t_origin: float,
    segments: list[Segment],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (segment, DOM): expected PE, direct arrival time (ns), photon path length (m).

    Args:
        dom_pos: ``[n, 3]`` DOM positions, m; efficiency: ``[n]`` relative DOM efficiency.
        origin, direction: track point at ``s = 0`` and unit direction of travel.
        t_origin: time (ns) at which the particle front passes ``origin``.
    Returns:
        ``mu, t_direct, dist``, each ``[n_segments, n]``.
    """
    rel = dom_pos - origin
    s_perp = rel @ direction
    rho = np.sqrt(np.maximum((rel * rel).sum(1) - s_perp**2, 0.0))
    s_c = s_perp - rho / TAN_THETA_C
    seg = np.array([(g.s0, g.s1, g.e0) for g in segments], dtype=np.float64).reshape(-1, 3)
    s0, s1, e0 = seg[:, :1], seg[:, 1:2], seg[:, 2:]
    s_e = np.clip(s_c[None], s0, s1)
    dist = np.sqrt(rho[None] ** 2 + (s_perp[None] - s_e) ** 2)
    width = WINDOW_WIDTH_A + WINDOW_WIDTH_B * rho[None]
    # logistic approximation of the normal CDF: 1 / (1 + exp(-1.702 x))
    window = 1.0 / (1.0 + np.exp(-1.702 * (s1 - s_c[None]) / width)) - 1.0 / (
        1.0 + np.exp(-1.702 * (s0 - s_c[None]) / width)
    )
    window = np.where(s1 > s0, np.maximum(window, 0.0), 0.0)
    energy = energy_after(e0, s_e - s0)
    mu = (
        LIGHT_YIELD_PE_M
        * efficiency[None]
        * np.where(energy > 0, relative_light_yield(energy), 0.0)
        * window
        * np.exp(-dist / ATTENUATION_LENGTH)
        / np.maximum(rho[None], MIN_PERPENDICULAR_DISTANCE)
    )
    t_direct = t_origin + s_e / C_VACUUM + dist / C_ICE
    return mu, t_direct, dist
