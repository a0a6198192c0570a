"""Simulated events and the seedable generator :func:`simulate`.

Signal: a down-going muon enters the generation cylinder with energy E (power law); at the
production vertex it hands a fraction f of its energy to an LLP, which flies dark for the gap
length and decays at the decay vertex into a muon pair; both vertices lie in the instrumented
volume. Light comes from the muon before production (E, minus losses), the muon after it
((1-f) E_prod) and the pair (f E_prod split by the decay asymmetry). Background: a muon
through the instrumented volume with no LLP (LLP truth NaN).

Angles follow IceCube: ``zenith``/``azimuth`` point back to where the muon came from, the
direction of travel is ``d = -(sin z cos a, sin z sin a, cos z)``; ``decay = prod + L d``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ...core.geometry import DEEPCORE, Geometry
from . import constants as K
from .light import Segment, expected_light
from .muon import energy_after, muon_range
from .pulses import dark_noise, pandel_delay, photons_to_pulses
from .volume import Cylinder, InstrumentedVolume

logger = logging.getLogger(__name__)

KINDS = ("signal", "background")

TRUTH_KEYS = (
    "prod_x",
    "prod_y",
    "prod_z",
    "decay_x",
    "decay_y",
    "decay_z",
    "zenith",
    "azimuth",
    "gap_length",
    "fractional_energy",
    "llp_energy",
    "muon_energy",
    "muon_length",
)


@dataclass
class SimulatedEvent:
    """One event. ``pulses``: float64 ``[N, 6]`` (string, om, pmt, time ns, charge PE, width ns)
    sorted by (string, om, pmt, time). ``truth``: :data:`TRUTH_KEYS` (metres, radians, GeV;
    ``muon_energy`` at the generation cylinder, ``muon_length`` the muon's metres inside it)."""

    pulses: np.ndarray
    truth: dict[str, float]
    run_id: int
    event_id: int
    kind: str = "signal"
    decay_asymmetry: float = math.nan

    def llp_info(self) -> dict[str, float]:
        """The I3 ``LLPInfo`` map: prod_x/y/z, zenith, azimuth, length, fractional_energy,
        llp_energy, decay_asymmetry."""
        t = self.truth
        return {
            "prod_x": t["prod_x"],
            "prod_y": t["prod_y"],
            "prod_z": t["prod_z"],
            "zenith": t["zenith"],
            "azimuth": t["azimuth"],
            "length": t["gap_length"],
            "fractional_energy": t["fractional_energy"],
            "llp_energy": t["llp_energy"],
            "decay_asymmetry": self.decay_asymmetry,
        }

    @property
    def n_hit_doms(self) -> int:
        p = self.pulses
        return int(np.unique(p[:, 0] * 1000 + p[:, 1]).size) if p.shape[0] else 0


def direction_of_travel(zenith, azimuth) -> np.ndarray:
    """Unit vector(s) ``[..., 3]`` of travel for IceCube zenith/azimuth (radians)."""
    z, a = np.asarray(zenith), np.asarray(azimuth)
    return -np.stack([np.sin(z) * np.cos(a), np.sin(z) * np.sin(a), np.cos(z)], -1)


class Simulator:
    """Per-geometry state (volumes, DOM efficiencies); :meth:`event` makes one event."""

    def __init__(self, geometry: Optional[Geometry] = None):
        self.geometry = geometry if geometry is not None else Geometry.icecube86_like()
        self.volume = InstrumentedVolume.from_geometry(self.geometry)
        self.cylinder = Cylinder(
            self.volume.radius + K.GENERATION_MARGIN,
            self.volume.z_min - K.GENERATION_MARGIN,
            self.volume.z_max + K.GENERATION_MARGIN,
        )
        self.efficiency = np.where(self.geometry.dom_type == DEEPCORE, K.HQE_EFFICIENCY, 1.0)

    # -------------------------------------------------------------- kinematics
    def _direction(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        zenith = np.arccos(rng.uniform(K.COS_ZENITH_MIN, 1.0, n))
        return zenith, rng.uniform(0.0, 2 * math.pi, n)

    def _muon_energy(self, rng: np.random.Generator) -> float:
        g, lo, hi = K.MUON_SPECTRAL_INDEX, K.MUON_E_MIN, K.MUON_E_MAX
        u = rng.uniform()
        if abs(g - 1) < 1e-9:
            return float(lo * (hi / lo) ** u)
        return float((lo ** (1 - g) + u * (hi ** (1 - g) - lo ** (1 - g))) ** (1 / (1 - g)))

    def _signal_vertices(self, rng: np.random.Generator):
        while True:
            m = 32
            prod = self.volume.sample(rng, m)
            zen, azi = self._direction(rng, m)
            length = rng.uniform(*K.GAP_LENGTH_RANGE, m)
            decay = prod + length[:, None] * direction_of_travel(zen, azi)
            ok = np.flatnonzero(self.volume.contains(decay))
            if ok.size:
                i = ok[0]
                return prod[i], decay[i], float(zen[i]), float(azi[i]), float(length[i])

    # -------------------------------------------------------------- one event
    def event(
        self, rng: np.random.Generator, kind: str, run_id: int, event_id: int
    ) -> SimulatedEvent:
        """One event of ``kind`` drawn with ``rng`` (see the module docstring)."""
        nan = math.nan
        if kind == "signal":
            prod, decay, zen, azi, gap = self._signal_vertices(rng)
            origin = prod
        else:
            origin = self.volume.sample(rng, 1)[0]
            zen, azi = (float(v[0]) for v in self._direction(rng, 1))
        d = direction_of_travel(zen, azi)
        s_in, s_out = self.cylinder.intersect(origin, d)
        e0 = self._muon_energy(rng)
        # time: the particle front passes the point closest to the origin at T_CLOSEST_APPROACH
        t_origin = K.T_CLOSEST_APPROACH_NS + float(origin @ d) / K.C_VACUUM
        if kind == "signal":
            f = float(rng.uniform(*K.FRACTIONAL_ENERGY_RANGE))
            asym = float(rng.uniform(-1.0, 1.0))
            e_prod = float(energy_after(e0, -s_in))
            while e_prod <= 0:  # only on geometries far larger than IceCube: redraw the energy
                e0 = self._muon_energy(rng)
                e_prod = float(energy_after(e0, -s_in))
            e_llp, e_mu_after = f * e_prod, (1 - f) * e_prod
            e_pair = (0.5 * (1 + asym) * e_llp, 0.5 * (1 - asym) * e_llp)
            mu_stop = min(s_out, float(muon_range(e_mu_after)))
            segments = [Segment(s_in, 0.0, e0), Segment(0.0, mu_stop, e_mu_after)] + [
                Segment(gap, min(s_out, gap + float(muon_range(e))), e) for e in e_pair
            ]
            truth = dict(
                prod_x=prod[0], prod_y=prod[1], prod_z=prod[2],
                decay_x=decay[0], decay_y=decay[1], decay_z=decay[2],
                gap_length=gap, fractional_energy=f, llp_energy=e_llp,
            )  # fmt: skip
        else:
            asym = nan
            mu_stop = min(s_out, s_in + float(muon_range(e0)))
            segments = [Segment(s_in, mu_stop, e0)]
            truth = dict(
                prod_x=nan, prod_y=nan, prod_z=nan, decay_x=nan, decay_y=nan, decay_z=nan,
                gap_length=nan, fractional_energy=nan, llp_energy=nan,
            )  # fmt: skip
        truth.update(zenith=zen, azimuth=azi, muon_energy=e0, muon_length=mu_stop - s_in)
        truth = {k: float(truth[k]) for k in TRUTH_KEYS}

        mu, t_direct, dist = expected_light(
            self.geometry.pos, self.efficiency, origin, d, t_origin, segments
        )
        n_pe = rng.poisson(mu.ravel())
        idx = np.repeat(np.arange(n_pe.shape[0]), n_pe)
        n_doms = len(self.geometry)
        t = t_direct.ravel()[idx] + pandel_delay(rng, dist.ravel()[idx])
        dom = idx % n_doms
        t0 = K.T_CLOSEST_APPROACH_NS
        lo, hi = t0 + K.READOUT_START_NS, t0 + K.READOUT_END_NS
        noise_dom, noise_t = dark_noise(rng, n_doms, lo, hi)
        dom = np.concatenate([dom, noise_dom])
        t = np.concatenate([t, noise_t])
        inside = (t >= lo) & (t < hi)
        pulses = photons_to_pulses(
            rng, dom[inside], t[inside], self.geometry.string, self.geometry.om
        )
        return SimulatedEvent(pulses, truth, int(run_id), int(event_id), kind, asym)


class SimulatedEvents:
    """Lazy, re-iterable sequence of ``n_events`` simulated events (see :func:`simulate`)."""

    def __init__(self, n_events, seed, geometry, kind, run_id, first_event_id):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        self.n_events, self.seed, self.kind = int(n_events), int(seed), kind
        self.run_id, self.first_event_id = int(run_id), int(first_event_id)
        self.simulator = Simulator(geometry)

    def __len__(self) -> int:
        return self.n_events

    def __iter__(self) -> Iterator[SimulatedEvent]:
        kind_code = KINDS.index(self.kind)
        for i in range(self.n_events):
            event_id = self.first_event_id + i
            ss = np.random.SeedSequence([self.seed, self.run_id, kind_code, event_id])
            yield self.simulator.event(np.random.default_rng(ss), self.kind, self.run_id, event_id)


def simulate(
    n_events: int,
    seed: int = 0,
    geometry: Optional[Geometry] = None,
    kind: str = "signal",
    run_id: int = 0,
    first_event_id: int = 0,
) -> SimulatedEvents:
    """``n_events`` IceCube-like LLP gap events (``kind="signal"``) or plain muons
    (``kind="background"``) on ``geometry`` (default: :meth:`Geometry.icecube86_like`).

    Event ``event_id`` depends only on ``(seed, run_id, kind, event_id)``, so any chunking
    (``first_event_id``) reproduces the same events. Event ids run from ``first_event_id``.
    """
    return SimulatedEvents(n_events, seed, geometry, kind, run_id, first_event_id)
