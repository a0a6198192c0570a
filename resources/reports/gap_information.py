"""How much do the DOM charges of a simulated event say about its gap length? An oracle bound.

    python resources/reports/gap_information.py [--events 150] [--seed 5] [KEY=VALUE ...]

For each signal event of ``simulate(events, seed, config={KEY: VALUE})`` the oracle knows what no
reconstruction knows: the true track (production point and direction), the muon energy at
production, the LLP's energy fraction and the decay asymmetry. It scans the production point
along the track (-400 ... 400 m, 20 m steps) and the gap length (50 ... 1000 m, 25 m steps),
computes every DOM's expected charge with the simulator's own light model (average losses:
continuous ``a + b E`` on every muon, no stochastic fluctuations) plus the dark-noise
expectation, and forms the Poisson likelihood of the DOM charges (rounded to whole PE) times the
gap-length prior ``exp(-L / decay_length)``. The posterior mean of ``L`` against the truth
gives an upper bound of what the events hold about the gap (the stochastic losses the oracle
ignores make it over-confident, not less informed).

Prints one line per event and the summary: correlation of posterior mean and true gap length,
half-width of the central 68% of the error against that of a constant guess (the median), the
median posterior standard deviation (``resources/docs/evaluation.md``, "How much the events
say about the gap"). About 5 s per event on one core.
"""

from __future__ import annotations

import argparse

import numpy as np
from llp_gap_reco.data.simulation import constants as K
from llp_gap_reco.data.simulation.kinematics import direction_of_travel
from llp_gap_reco.data.simulation.light import track_light
from llp_gap_reco.data.simulation.losses import Track
from llp_gap_reco.simulation import SimulatedEvent, simulate

SHIFTS = np.arange(-400.0, 401.0, 20.0)  # production point along the track, m
GAPS = np.arange(50.0, 1001.0, 25.0)  # gap length, m


def _muon(energy: float, s0: float, s1: float) -> Track:
    empty = np.zeros(0)
    return Track(s0, s1, energy, K.MUON_LOSS_B, empty, empty, empty)


def dom_charges(event: SimulatedEvent, geometry) -> np.ndarray:
    """Total charge (PE) per DOM of ``geometry``, ``[n_doms]``."""
    p = event.pulses
    return np.bincount(geometry.index(p[:, 0], p[:, 1]), p[:, 4], len(geometry))


def gap_posterior(event: SimulatedEvent, simulator, decay_length: float) -> np.ndarray:
    """Posterior of the gap length on :data:`GAPS`, ``[len(GAPS)]`` (see the module docstring)."""
    t, geo = event.truth, simulator.geometry
    prod = np.array([t["prod_x"], t["prod_y"], t["prod_z"]])
    d = direction_of_travel(t["zenith"], t["azimuth"])
    s_in, s_out = simulator.cylinder.intersect(prod, d)
    f, e_llp, asym = t["fractional_energy"], t["llp_energy"], event.decay_asymmetry
    e_prod = e_llp / f
    n = np.round(dom_charges(event, geo))
    noise = simulator.noise_rate * (K.READOUT_END_NS - K.READOUT_START_NS) * 1e-9

    def add_light(mu: np.ndarray, tracks: list[Track]) -> np.ndarray:
        light = track_light(geo.pos, simulator.efficiency, prod, d, 0.0, tracks,
                            simulator.ice, simulator.config.angular_acceptance)  # fmt: skip
        mu = mu.copy()
        np.add.at(mu, light.dom, light.mu)
        return mu

    log_l = np.full((SHIFTS.size, GAPS.size), -np.inf)
    for i, shift in enumerate(SHIFTS):
        # the muon before and after production does not depend on the gap
        muon = add_light(noise, [_muon(e_prod, s_in, shift), _muon((1 - f) * e_prod, shift, s_out)])
        for j, gap in enumerate(GAPS):
            if shift + gap > s_out:
                continue
            pair = [_muon(0.5 * (1 + sgn * asym) * e_llp, shift + gap, s_out)
                    for sgn in (1.0, -1.0)]  # fmt: skip
            mu = add_light(muon, pair)
            log_l[i, j] = float(np.sum(n * np.log(mu) - mu))
    log_post = log_l - GAPS[None] / decay_length
    w = np.exp(log_post - log_post.max()).sum(0)
    return w / w.sum()


def half_width_68(x: np.ndarray) -> float:
    return float(np.percentile(x, 84) - np.percentile(x, 16)) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("config", nargs="*", help="SimulationConfig fields, KEY=VALUE")
    args = parser.parse_args()
    config = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.config)}
    events = simulate(args.events, seed=args.seed, config=config or None)
    sim = events.simulator
    decay_length = sim.config.decay_length or np.inf
    rows = []
    for event in events:
        post = gap_posterior(event, sim, decay_length)
        mean = float(post @ GAPS)
        sd = float(np.sqrt(post @ (GAPS - mean) ** 2))
        rows.append((event.truth["gap_length"], mean, sd))
        print(f"gap {rows[-1][0]:6.0f} m  posterior {mean:6.0f} +- {sd:4.0f} m", flush=True)
    true, mean, sd = np.array(rows).T
    guess = half_width_68(true - np.median(true))
    print(
        f"{len(rows)} events: correlation {np.corrcoef(true, mean)[0, 1]:.2f}, 68% half-width "
        f"{half_width_68(mean - true):.0f} m (constant guess {guess:.0f} m), median posterior sd "
        f"{np.median(sd):.0f} m"
    )


if __name__ == "__main__":
    main()
