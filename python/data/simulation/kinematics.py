"""What the simulator draws before any light: muon energy, direction, LLP gap and vertices.

Angles follow IceCube: ``zenith``/``azimuth`` point back to where the muon came from; the
direction of travel is ``d = -(sin z cos a, sin z sin a, cos z)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .config import SimulationConfig
from .volume import InstrumentedVolume


def direction_of_travel(zenith: ArrayLike, azimuth: ArrayLike) -> np.ndarray:
    """Unit vector(s) ``[..., 3]`` of travel for IceCube zenith/azimuth (radians)."""
    z, a = np.asarray(zenith), np.asarray(azimuth)
    return -np.stack([np.sin(z) * np.cos(a), np.sin(z) * np.sin(a), np.cos(z)], -1)


def muon_energy(rng: np.random.Generator, cfg: SimulationConfig) -> float:
    """One energy (GeV) from ``(E + offset)^-gamma`` on ``[energy_min, energy_max]``."""
    off, g = cfg.energy_offset, cfg.spectral_index
    lo, hi = cfg.energy_min + off, cfg.energy_max + off
    u = rng.uniform()
    if hi <= lo:
        return float(cfg.energy_min)
    if abs(g - 1) < 1e-9:
        x = lo * (hi / lo) ** u
    else:
        x = (lo ** (1 - g) + u * (hi ** (1 - g) - lo ** (1 - g))) ** (1 / (1 - g))
    return float(x - off)


def directions(
    rng: np.random.Generator, cfg: SimulationConfig, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(zenith [n], azimuth [n])``: ``cos(zenith)`` uniform in the configured range."""
    zenith = np.arccos(rng.uniform(cfg.cos_zenith_min, cfg.cos_zenith_max, n))
    return zenith, rng.uniform(0.0, 2 * math.pi, n)


def gap_lengths(rng: np.random.Generator, cfg: SimulationConfig, n: int) -> np.ndarray:
    """``n`` gap lengths (m): ``exp(-L / decay_length)`` truncated to ``[gap_min, gap_max]``,
    or uniform there when ``decay_length`` is ``None``."""
    lo, hi = cfg.gap_min, cfg.gap_max
    u = rng.uniform(size=n)
    if cfg.decay_length is None or hi <= lo:
        return lo + u * (hi - lo)
    lam = cfg.decay_length
    return lo - lam * np.log1p(-u * -np.expm1(-(hi - lo) / lam))


def signal_vertices(rng: np.random.Generator, cfg: SimulationConfig,
                    volume: InstrumentedVolume
                    ) -> tuple[np.ndarray, np.ndarray, float, float, float]:  # fmt: skip
    """``(prod [3], decay [3], zenith, azimuth, gap)``: the production vertex uniform in
    ``volume``, direction and gap drawn, kept when the decay vertex lies in ``volume`` too."""
    while True:
        m = 32
        prod = volume.sample(rng, m)
        zen, azi = directions(rng, cfg, m)
        length = gap_lengths(rng, cfg, m)
        decay = prod + length[:, None] * direction_of_travel(zen, azi)
        ok = np.flatnonzero(volume.contains(decay))
        if ok.size:
            i = ok[0]
            return prod[i], decay[i], float(zen[i]), float(azi[i]), float(length[i])
