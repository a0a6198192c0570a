"""Expected photoelectrons and direct arrival times at DOMs from muon tracks and cascades.

Track light (continuous losses): for a track ``[s0, s1]`` on the line ``origin + s d`` the
direct light reaches a DOM from the Cherenkov point ``s_c = s_perp - rho / tan(theta_c)``,
clamped into the track (``s_e``); a smooth (logistic) window of width
``WINDOW_WIDTH_A + WINDOW_WIDTH_B * rho`` lets light from a track end reach DOMs whose Cherenkov
point lies outside it (scattering):

    mu = Y * eff * acc * (a + b_cont E(s_e)) / a * window * exp(-dist / L_att) / max(rho, rho_min)

Cascade light (each stochastic loss of energy ``E_k`` at ``x_k``), a point source with the
angular profile ``A`` of electromagnetic cascades around the muon direction:

    mu = Y / (pi a) * eff * acc * E_k * A(cos theta) * exp(-r / L_att) / max(r, rho_min)^2

(``Y / (pi a)`` makes a uniform line of cascades as bright as the same ``dE/dx`` on the track).
``L_att`` and the Pandel parameters come from :class:`~.ice.IceModel` along each photon path;
``acc`` is the DOM angular acceptance; both angular profiles fade into isotropy over the
path's effective scattering length (``w = exp(-dist / lambda)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import numpy as np

from .constants import (
    C_ICE,
    C_VACUUM,
    CASCADE_ANGULAR,
    LIGHT_YIELD_PE_M,
    MIN_PERPENDICULAR_DISTANCE,
    MUON_LOSS_A,
    N_PHASE,
    WINDOW_WIDTH_A,
    WINDOW_WIDTH_B,
)
from .ice import IceModel
from .losses import Track

TAN_THETA_C = math.tan(math.acos(1.0 / N_PHASE))
COS_THETA_C = 1.0 / N_PHASE
#: track-DOM pairs whose light window is below this get no light
MIN_WINDOW = 1e-4
#: PE per GeV per m^2 of a cascade at 1 m (see the module docstring)
CASCADE_YIELD = LIGHT_YIELD_PE_M / (math.pi * MUON_LOSS_A)


def _cascade_profile_raw(cos_t: np.ndarray) -> np.ndarray:
    a, b, c, d = CASCADE_ANGULAR
    return a * np.exp(b * np.abs(cos_t - COS_THETA_C) ** c) + d


_X = np.linspace(-1.0, 1.0, 20001)
_CASCADE_NORM = float(np.trapezoid(_cascade_profile_raw(_X), _X) / 2.0)


def cascade_profile(cos_t: np.ndarray) -> np.ndarray:
    """Angular profile of cascade light (mean 1 over the sphere) at ``cos`` of the angle to
    the cascade axis."""
    return _cascade_profile_raw(cos_t) / _CASCADE_NORM


def dom_acceptance(cos_eta: np.ndarray) -> np.ndarray:
    """Relative DOM acceptance (mean 1 over the sphere) for photons travelling with vertical
    direction cosine ``cos_eta`` (+1: straight up into the down-facing PMT):
    ``1 + 1.5 x - x^3 / 2`` (the nominal IceCube DOM curve ``0.34 (1 + 1.5 x - x^3 / 2)`` of
    photonics/ppc, D. Chirkin, NIM A 725 (2013) 141, normalised)."""
    x = np.minimum(np.maximum(cos_eta, -1.0), 1.0)
    return 1.0 + 1.5 * x - 0.5 * x**3


@dataclass
class Light:
    """Per (source, DOM) pair, flat ``[n_pairs]``: DOM row ``dom``, expected PE ``mu``, direct
    time ``t`` (ns), photon path ``dist`` (m), Pandel ``lam``/``lam_a`` (m) and the emission
    point's track coordinate ``s`` (m)."""

    dom: np.ndarray
    mu: np.ndarray
    t: np.ndarray
    dist: np.ndarray
    lam: np.ndarray
    lam_a: np.ndarray
    s: np.ndarray


def _ice_and_acceptance(
    ice: IceModel,
    acceptance: bool,
    z_emit: np.ndarray,
    z_dom: np.ndarray,
    vec: np.ndarray,
    dist: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Union[float, np.ndarray]]:
    """``(attenuation length, Pandel lambda, lambda_a, fade, acceptance)`` of photon paths from
    depth ``z_emit`` to DOMs at depth ``z_dom`` (m), vertical component ``vec`` (m) of length
    ``dist`` (m)."""
    att, lam, lam_a = ice.propagation(z_emit, z_dom)
    fade = np.exp(-dist / lam)
    acc: Union[float, np.ndarray] = 1.0
    if acceptance:
        acc = fade * dom_acceptance(vec / np.maximum(dist, 1e-9)) + (1.0 - fade)
    return att, lam, lam_a, fade, acc


def track_light(dom_pos: np.ndarray, efficiency: np.ndarray, origin: np.ndarray,
                direction: np.ndarray, t_origin: float, tracks: list[Track],
                ice: IceModel, acceptance: bool) -> Light:  # fmt: skip
    """Continuous-loss light of ``tracks`` at DOMs ``dom_pos [n, 3]`` (efficiency ``[n]``)."""
    rel = dom_pos - origin
    s_perp = rel @ direction
    rho = np.sqrt(np.maximum(np.einsum("ij,ij->i", rel, rel) - s_perp**2, 0.0))
    s_c = s_perp - rho / TAN_THETA_C
    s0 = np.array([[t.s0] for t in tracks]).reshape(-1, 1)
    s1 = np.array([[t.s1] for t in tracks]).reshape(-1, 1)
    width = WINDOW_WIDTH_A + WINDOW_WIDTH_B * rho[None]
    # logistic approximation of the normal CDF: 1 / (1 + exp(-1.702 x))
    window = 1.0 / (1.0 + np.exp(-1.702 * (s1 - s_c[None]) / width)) - 1.0 / (
        1.0 + np.exp(-1.702 * (s0 - s_c[None]) / width)
    )
    k, j = np.nonzero((window > MIN_WINDOW) & (s1 > s0))  # pairs that see the track
    window = window[k, j]
    s_e = np.minimum(np.maximum(s_c[j], s0[k, 0]), s1[k, 0])
    dist = np.sqrt(rho[j] ** 2 + (s_perp[j] - s_e) ** 2)
    energy = np.empty_like(s_e)
    # k is sorted (row-major nonzero): each track's pairs are one slice
    bounds = np.searchsorted(k, np.arange(len(tracks) + 1))
    for i, track in enumerate(tracks):
        lo, hi = bounds[i], bounds[i + 1]
        if hi > lo:
            energy[lo:hi] = track.energy_at(s_e[lo:hi])
    b = np.array([t.b for t in tracks])[k]
    yield_rel = np.where(energy > 0, 1.0 + energy * b / MUON_LOSS_A, 0.0)
    z_emit = origin[2] + s_e * direction[2]
    z_dom = dom_pos[:, 2][j]
    att, lam, lam_a, _, acc = _ice_and_acceptance(ice, acceptance, z_emit, z_dom, z_dom - z_emit,
                                                  dist)  # fmt: skip
    mu = (LIGHT_YIELD_PE_M * efficiency[j] * acc * yield_rel * window
          * np.exp(-dist / att) / np.maximum(rho[j], MIN_PERPENDICULAR_DISTANCE))  # fmt: skip
    t = t_origin + s_e / C_VACUUM + dist / C_ICE
    return Light(j, mu, t, dist, lam, lam_a, s_e)


def cascade_light(dom_pos: np.ndarray, efficiency: np.ndarray, origin: np.ndarray,
                  direction: np.ndarray, t_origin: float, s_loss: np.ndarray,
                  e_loss: np.ndarray, ice: IceModel, acceptance: bool) -> Light:  # fmt: skip
    """Light of cascades of ``e_loss [K]`` GeV at track coordinates ``s_loss [K]``."""
    x = origin[None] + s_loss[:, None] * direction[None]  # [K, 3]
    full = np.sqrt(sum((dom_pos[None, :, i] - x[:, i, None]) ** 2 for i in range(3)))  # [K, n]
    k, j = np.nonzero(full < cascade_radius(e_loss)[:, None])
    vec = dom_pos[j] - x[k]
    dist = full[k, j]
    r = np.maximum(dist, MIN_PERPENDICULAR_DISTANCE)
    cos_t = (vec @ direction) / r
    att, lam, lam_a, fade, acc = _ice_and_acceptance(ice, acceptance, x[k, 2], dom_pos[:, 2][j],
                                                     vec[:, 2], dist)  # fmt: skip
    profile = fade * cascade_profile(cos_t) + (1.0 - fade)
    mu = (CASCADE_YIELD * efficiency[j] * acc * e_loss[k] * profile
          * np.exp(-dist / att) / r**2)  # fmt: skip
    t = t_origin + s_loss[k] / C_VACUUM + dist / C_ICE
    return Light(j, mu, t, dist, lam, lam_a, s_loss[k])


def cascade_radius(energy: np.ndarray) -> np.ndarray:
    """Distance (m) beyond which a cascade of ``energy`` GeV adds no light in the simulation:
    ``100 m * (1 + log10(E / 10 GeV))``, 100 to 400 m."""
    return np.clip(100.0 * (1.0 + np.log10(np.maximum(energy, 1e-3) / 10.0)), 100.0, 400.0)
