"""Simulated events and the seedable generator :func:`simulate`.

Signal: a down-going muon enters the generation cylinder with energy E (offset power law); at
the production vertex it hands a fraction f of its energy to an LLP, which flies dark for the
gap length and decays at the decay vertex into a muon pair; both vertices lie in the
instrumented volume grown by ``containment_padding``. Light comes from the muon before
production, the muon after it ((1-f) E_prod) and the pair (f E_prod split by the decay
asymmetry), each with its stochastic losses as cascades. Background: a muon through the
instrumented volume with no LLP (LLP truth NaN). Settings: :class:`~.config.SimulationConfig`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np

from ...core.geometry import DEEPCORE, Geometry
from . import constants as K
from .config import ConfigLike, resolve_config
from .ice import IceModel
from .kinematics import direction_of_travel, directions, muon_energy, signal_vertices
from .light import cascade_light, track_light
from .losses import LossModel, Track, propagate
from .pulses import dark_noise, pandel_delay, photons_to_pulses
from .volume import Cylinder, InstrumentedVolume

logger = logging.getLogger(__name__)

KINDS = ("signal", "background")

TRUTH_KEYS = (
    "prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z", "zenith", "azimuth",
    "gap_length", "fractional_energy", "llp_energy", "muon_energy", "muon_length",
)  # fmt: skip
_NO_LLP = ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z", "gap_length",
           "fractional_energy", "llp_energy")  # fmt: skip
_MAX_ENERGY_DRAWS = 1000


@dataclass
class SimulatedEvent:
    """One event. ``pulses``: float64 ``[N, 6]`` (string, om, pmt, time ns, charge PE, width ns)
    sorted by (string, om, pmt, time). ``truth``: :data:`TRUTH_KEYS` (metres, radians, GeV;
    ``muon_energy`` at the generation cylinder, ``muon_length`` the muon's metres inside it).
    ``losses``: float64 ``[K, 5]`` (x, y, z m, t ns, energy GeV) of every stochastic loss.
    ``noise_doms``: DOMs hit by dark noise only; ``longest_dark_m``: longest stretch (m) of the
    muon's track in the instrumented volume from which no DOM got direct light (a photon
    within :data:`~.constants.DIRECT_LIGHT_NS` of its direct time; NaN if the track misses
    the volume); ``longest_unlit_m``: the same for any detected light."""

    pulses: np.ndarray
    truth: dict[str, float]
    run_id: int
    event_id: int
    kind: str = "signal"
    decay_asymmetry: float = math.nan
    losses: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    noise_doms: int = 0
    longest_dark_m: float = math.nan
    longest_unlit_m: float = math.nan

    def llp_info(self) -> dict[str, float]:
        """The I3 ``LLPInfo`` map: prod_x/y/z, zenith, azimuth, length, fractional_energy,
        llp_energy, decay_asymmetry."""
        t = self.truth
        keys = ("prod_x", "prod_y", "prod_z", "zenith", "azimuth")
        info = {k: t[k] for k in keys}
        info.update(length=t["gap_length"], fractional_energy=t["fractional_energy"],
                    llp_energy=t["llp_energy"], decay_asymmetry=self.decay_asymmetry)  # fmt: skip
        return info

    @property
    def n_hit_doms(self) -> int:
        p = self.pulses
        return int(np.unique(p[:, 0] * 1000 + p[:, 1]).size) if p.shape[0] else 0


class Simulator:
    """Per-geometry and per-config state; :meth:`event` makes one event."""

    def __init__(self, geometry: Optional[Geometry] = None,
                 config: ConfigLike = None) -> None:  # fmt: skip
        self.geometry = geometry if geometry is not None else Geometry.icecube86_like()
        self.config = resolve_config(config)
        self.volume = InstrumentedVolume.from_geometry(self.geometry)
        self.container = self.volume.padded(self.config.containment_padding)
        m = K.GENERATION_MARGIN + self.config.containment_padding
        self.cylinder = Cylinder(self.volume.radius + m, self.volume.z_min - m,
                                 self.volume.z_max + m)  # fmt: skip
        hqe = self.geometry.dom_type == DEEPCORE
        self.efficiency = np.where(hqe, K.HQE_EFFICIENCY, 1.0)
        self.noise_rate = self.config.noise_rate_hz * np.where(hqe, K.HQE_NOISE_SCALE, 1.0)
        self.ice = IceModel(self.config.ice_model)
        self.loss_model = LossModel(self.config.v_cut) if self.config.stochastic_losses else None

    def _muons(
        self, rng: np.random.Generator, kind: str, s_in: float, s_out: float, gap: float
    ) -> tuple[list[Track], float, float, float, float, float]:
        """Tracks and truth pieces: ``(tracks, e0, f, asym, e_llp, muon end)``."""
        cfg = self.config
        for _ in range(_MAX_ENERGY_DRAWS):
            e0 = muon_energy(rng, cfg)
            if kind == "background":
                track = propagate(rng, self.loss_model, s_in, s_out, e0)
                return [track], e0, math.nan, math.nan, math.nan, track.s1
            before = propagate(rng, self.loss_model, s_in, 0.0, e0)
            e_prod = before.energy_at_end
            if before.s1 >= 0.0 and e_prod > 0:
                break
        else:
            raise RuntimeError("no muon energy in the configured range reaches the production "
                               "vertex; raise energy_min or shrink the geometry")  # fmt: skip
        f = float(rng.uniform(cfg.fractional_energy_min, cfg.fractional_energy_max))
        asym = float(rng.uniform(-1.0, 1.0))
        e_llp = f * e_prod
        after = propagate(rng, self.loss_model, 0.0, s_out, (1 - f) * e_prod)
        pair = [propagate(rng, self.loss_model, gap, s_out, 0.5 * (1 + sgn * asym) * e_llp)
                for sgn in (1.0, -1.0)]  # fmt: skip
        return [before, after] + pair, e0, f, asym, e_llp, after.s1

    def event(
        self, rng: np.random.Generator, kind: str, run_id: int, event_id: int
    ) -> SimulatedEvent:
        """One event of ``kind`` drawn with ``rng`` (see the module docstring)."""
        if kind == "signal":
            prod, decay, zen, azi, gap = signal_vertices(rng, self.config, self.container)
            origin = prod
        else:
            origin = self.volume.sample(rng, 1)[0]
            zen, azi = (float(v[0]) for v in directions(rng, self.config, 1))
            gap = math.nan
        d = direction_of_travel(zen, azi)
        s_in, s_out = self.cylinder.intersect(origin, d)
        # the particle front passes the point closest to the detector centre at T_CLOSEST
        t_origin = K.T_CLOSEST_APPROACH_NS + float(origin @ d) / K.C_VACUUM
        tracks, e0, f, asym, e_llp, mu_stop = self._muons(rng, kind, s_in, s_out, gap)
        truth = dict.fromkeys(_NO_LLP, math.nan)
        if kind == "signal":
            truth.update(prod_x=prod[0], prod_y=prod[1], prod_z=prod[2], decay_x=decay[0],
                         decay_y=decay[1], decay_z=decay[2], gap_length=gap,
                         fractional_energy=f, llp_energy=e_llp)  # fmt: skip
        truth.update(zenith=zen, azimuth=azi, muon_energy=e0, muon_length=mu_stop - s_in)
        truth = {k: float(truth[k]) for k in TRUTH_KEYS}
        pulses, noise_doms, s_seen, direct, losses = self._detect(rng, origin, d, t_origin,
                                                                  tracks)  # fmt: skip
        a, b = self.volume.chord(origin, d)
        a, b = max(a, s_in), min(b, max(t.s1 for t in tracks))
        dark, unlit = _longest_stretch(a, b, s_seen[direct]), _longest_stretch(a, b, s_seen)
        return SimulatedEvent(pulses, truth, int(run_id), int(event_id), kind, asym, losses,
                              noise_doms, dark, unlit)  # fmt: skip

    def _detect(
        self,
        rng: np.random.Generator,
        origin: np.ndarray,
        d: np.ndarray,
        t_origin: float,
        tracks: list[Track],
    ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
        """Photons, noise and pulses: ``(pulses, noise-only DOMs, emission points of the
        detected photons [m along the track], their direct-light mask, losses [K, 5])``."""
        cfg, geo = self.config, self.geometry
        rel = geo.pos - origin
        s_perp = rel @ d
        rho = np.sqrt(np.maximum(np.einsum("ij,ij->i", rel, rel) - s_perp**2, 0.0))
        near = np.flatnonzero(rho < K.MAX_LIGHT_DISTANCE)
        pos, eff = geo.pos[near], self.efficiency[near]
        lights = [track_light(pos, eff, origin, d, t_origin, tracks, self.ice,
                              cfg.angular_acceptance)]  # fmt: skip
        s_loss = np.concatenate([t.s_loss for t in tracks])
        e_loss = np.concatenate([t.e_loss for t in tracks])
        if s_loss.size:
            lights.append(cascade_light(pos, eff, origin, d, t_origin, s_loss, e_loss, self.ice,
                                        cfg.angular_acceptance))  # fmt: skip
        col, mu, t_dir, dist, lam, lam_a, s_emit = (
            np.concatenate([getattr(li, k) for li in lights])
            for k in ("dom", "mu", "t", "dist", "lam", "lam_a", "s")
        )
        n_pe = rng.poisson(mu)
        idx = np.repeat(np.arange(n_pe.shape[0]), n_pe)
        delay = pandel_delay(rng, dist[idx], lam[idx], lam_a[idx])
        t = t_dir[idx] + delay
        dom = near[col[idx]]
        t0 = K.T_CLOSEST_APPROACH_NS
        lo, hi = t0 + K.READOUT_START_NS, t0 + K.READOUT_END_NS
        seen = (t >= lo) & (t < hi)
        s_seen, direct = s_emit[idx][seen], delay[seen] < K.DIRECT_LIGHT_NS
        noise_dom, noise_t = dark_noise(rng, self.noise_rate, lo, hi)
        lit = np.zeros(len(geo), dtype=bool)
        lit[dom[seen]] = True
        noise_doms = np.unique(noise_dom[~lit[noise_dom]]).size
        dom = np.concatenate([dom[seen], noise_dom])
        t = np.concatenate([t[seen], noise_t])
        pulses = photons_to_pulses(rng, dom, t, geo.string, geo.om)
        order = np.argsort(s_loss, kind="stable")
        s_loss, e_loss = s_loss[order], e_loss[order]
        x = origin[None] + s_loss[:, None] * d[None]
        losses = np.column_stack([x, t_origin + s_loss / K.C_VACUUM, e_loss]).reshape(-1, 5)
        return pulses, int(noise_doms), s_seen, direct, losses


def _longest_stretch(a: float, b: float, s_points: np.ndarray) -> float:
    """Longest stretch (m) of ``[a, b]`` between the track coordinates ``s_points``; NaN when
    ``b <= a`` (the track misses the instrumented volume)."""
    if b <= a:
        return math.nan
    pts = np.sort(s_points[(s_points > a) & (s_points < b)])
    return float(np.diff(np.concatenate([[a], pts, [b]])).max())


class SimulatedEvents:
    """Lazy, re-iterable sequence of ``n_events`` simulated events (see :func:`simulate`)."""

    def __init__(
        self,
        n_events: int,
        seed: int,
        geometry: Optional[Geometry],
        kind: str,
        run_id: int,
        first_event_id: int,
        config: ConfigLike = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        self.n_events, self.seed, self.kind = int(n_events), int(seed), kind
        self.run_id, self.first_event_id = int(run_id), int(first_event_id)
        self.simulator = Simulator(geometry, config)
        self.config = self.simulator.config

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
    config: ConfigLike = None,
    kind: str = "signal",
    run_id: int = 0,
    first_event_id: int = 0,
) -> SimulatedEvents:
    """``n_events`` IceCube-like LLP gap events (``kind="signal"``) or plain muons
    (``kind="background"``) on ``geometry`` (default: :meth:`Geometry.icecube86_like`) with
    ``config`` (a :class:`SimulationConfig`, a mapping of its fields, a YAML path, or ``None``
    for the defaults).

    Event ``event_id`` depends only on ``(seed, run_id, kind, event_id)`` and the config, so
    any chunking (``first_event_id``) reproduces the same events.
    """
    return SimulatedEvents(n_events, seed, geometry, kind, run_id, first_event_id, config)
