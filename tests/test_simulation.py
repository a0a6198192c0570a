"""Simulator: reproducibility, pulse layout, truth geometry, physics pieces, realism targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from llp_gap_reco.data.simulation.constants import (
    C_ICE,
    MUON_LOSS_A,
    MUON_LOSS_B,
    PANDEL_LAMBDA,
    PANDEL_LAMBDA_A,
    PANDEL_TAU,
)
from llp_gap_reco.data.simulation.light import TAN_THETA_C
from llp_gap_reco.data.simulation.muon import energy_after, muon_range
from llp_gap_reco.data.simulation.pulses import pandel_delay
from llp_gap_reco.data.simulation.summary import realism_summary
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import TRUTH_KEYS, SimulationConfig, direction_of_travel, simulate
from scipy.spatial import ConvexHull


@pytest.fixture(scope="module")
def geometry():
    return Geometry.icecube86_like()


@pytest.fixture(scope="module")
def signal(geometry):
    return list(simulate(60, seed=21, geometry=geometry))


def test_same_seed_same_events_independent_of_chunking(geometry):
    a = list(simulate(8, seed=3, geometry=geometry, run_id=7))
    b = list(simulate(4, seed=3, geometry=geometry, run_id=7, first_event_id=4))
    again = list(simulate(8, seed=3, geometry=geometry, run_id=7))
    assert {e.run_id for e in a} == {7}
    for x, y in zip(a[4:], b):
        np.testing.assert_array_equal(x.pulses, y.pulses)
        assert x.truth == y.truth
        assert (x.run_id, x.event_id) == (y.run_id, y.event_id)
    for x, y in zip(a, again):
        np.testing.assert_array_equal(x.pulses, y.pulses)
    other = next(iter(simulate(1, seed=4, geometry=geometry, run_id=7)))
    assert not np.array_equal(other.pulses, a[0].pulses)
    assert [e.event_id for e in a] == list(range(8))


def test_pulses_layout(signal, geometry):
    for ev in signal:
        p = ev.pulses
        assert p.dtype == np.float64 and p.ndim == 2 and p.shape[1] == 6 and p.shape[0] > 0
        order = np.lexsort((p[:, 3], p[:, 2], p[:, 1], p[:, 0]))
        np.testing.assert_array_equal(order, np.arange(p.shape[0]))  # I3 pulse-map order
        assert geometry.lookup(p[:, 0], p[:, 1])[1].all()
        assert (p[:, 4] > 0).all() and (p[:, 5] > 0).all() and np.isfinite(p).all()


def test_signal_truth_geometry(signal, geometry):
    # vertices lie in the instrumented volume grown by the default 60 m containment padding
    pad = SimulationConfig().containment_padding
    hull = ConvexHull(np.unique(geometry.pos[:, :2], axis=0))
    z_lo, z_hi = geometry.pos[:, 2].min() - pad, geometry.pos[:, 2].max() + pad
    for ev in signal:
        t = ev.truth
        assert set(t) == set(TRUTH_KEYS) and all(math.isfinite(v) for v in t.values())
        z, a = t["zenith"], t["azimuth"]
        assert 0 <= z < math.pi / 2  # down-going
        d = -np.array([math.sin(z) * math.cos(a), math.sin(z) * math.sin(a), math.cos(z)])
        assert d[2] < 0
        np.testing.assert_allclose(direction_of_travel(z, a), d, atol=1e-15)
        prod = np.array([t["prod_x"], t["prod_y"], t["prod_z"]])
        decay = np.array([t["decay_x"], t["decay_y"], t["decay_z"]])
        np.testing.assert_allclose(decay, prod + t["gap_length"] * d, atol=1e-9)
        for v in (prod, decay):
            assert (hull.equations @ np.r_[v[:2], 1.0]).max() <= pad + 1e-6
            assert z_lo <= v[2] <= z_hi
        assert 0 < t["fractional_energy"] < 1 and t["gap_length"] > 0
        assert 0 < t["llp_energy"] < t["muon_energy"] and t["muon_length"] > 0
        info = ev.llp_info()
        assert info["length"] == t["gap_length"] and -1 <= info["decay_asymmetry"] <= 1
        assert set(info) == {
            "prod_x", "prod_y", "prod_z", "zenith", "azimuth", "length", "fractional_energy",
            "llp_energy", "decay_asymmetry",
        }  # fmt: skip


def test_gap_is_darker_than_the_track_around_it(geometry):
    """The fraction of DOMs within 50 m of the track that see light, among those whose
    Cherenkov emission point lies in the gap, is below that of DOMs seeing the muon before
    production or the pair after decay (the LLP is dark; only the muon with (1-f) E shines
    there). Muons above 3 TeV: below ~1 TeV a muon's light hardly depends on its energy. Hit
    fractions rather than mean charges: single TeV cascades dominate the mean charge."""
    signal = simulate(120, seed=21, geometry=geometry, config={"energy_min": 3000.0})
    windows = {"before": (-0.6, 0.0), "gap": (0.2, 0.8), "after": (1.2, 1.8)}  # units of L
    hit = {k: 0 for k in windows}
    n_doms = {k: 0 for k in windows}
    for ev in signal:
        t = ev.truth
        d = direction_of_travel(t["zenith"], t["azimuth"])
        rel = geometry.pos - np.array([t["prod_x"], t["prod_y"], t["prod_z"]])
        s = rel @ d
        rho = np.linalg.norm(rel - s[:, None] * d, axis=1)
        s_c = s - rho / TAN_THETA_C
        q = np.bincount(
            geometry.index(ev.pulses[:, 0], ev.pulses[:, 1]), ev.pulses[:, 4], len(geometry)
        )
        for k, (lo, hi) in windows.items():
            m = (rho < 50) & (s_c > lo * t["gap_length"]) & (s_c < hi * t["gap_length"])
            hit[k] += int((q[m] > 0).sum())
            n_doms[k] += int(m.sum())
    frac = {k: hit[k] / n_doms[k] for k in windows}
    assert min(n_doms.values()) > 300
    assert frac["gap"] < 0.85 * frac["before"] and frac["gap"] < 0.85 * frac["after"]


def test_background_has_no_llp(geometry):
    events = list(simulate(20, seed=2, geometry=geometry, kind="background"))
    for ev in events:
        t = ev.truth
        for k in ("prod_x", "decay_z", "gap_length", "fractional_energy", "llp_energy"):
            assert math.isnan(t[k])
        assert t["muon_energy"] >= SimulationConfig().energy_min and t["muon_length"] > 0
        assert ev.kind == "background"
        assert ev.n_hit_doms > 0
    with pytest.raises(ValueError, match="kind"):
        simulate(1, kind="nope")


def test_continuous_losses_match_numerical_integration():
    # reference: explicit integration of dE/dx = -(a + b E) in 1 cm steps, float64
    e, x, dx = 5000.0, 0.0, 0.01
    checkpoints = {}
    while e > 0:
        e -= (MUON_LOSS_A + MUON_LOSS_B * e) * dx
        x += dx
        for c in (100.0, 1000.0, 5000.0):
            if c not in checkpoints and x >= c - 1e-9:
                checkpoints[c] = e
    for c, e_ref in checkpoints.items():
        assert float(energy_after(5000.0, c)) == pytest.approx(e_ref, rel=1e-4)
    assert float(muon_range(5000.0)) == pytest.approx(x, rel=1e-4)
    assert float(energy_after(5000.0, x + 10)) == 0.0


def test_pandel_delay_moments():
    rng = np.random.default_rng(0)
    rate = 1 / PANDEL_TAU + C_ICE / PANDEL_LAMBDA_A
    for dist in (10.0, 80.0):
        t = pandel_delay(rng, np.full(200_000, dist))
        k = dist / PANDEL_LAMBDA  # gamma shape; mean k / rate, variance k / rate^2
        assert t.mean() == pytest.approx(k / rate, rel=0.01)
        assert t.var() == pytest.approx(k / rate**2, rel=0.03)
    assert (pandel_delay(rng, np.zeros(10)) == 0).all()


@pytest.mark.slow
def test_realism_targets_on_2000_events(geometry):
    s = realism_summary(simulate(2000, seed=0, geometry=geometry))
    assert s["events"] == 2000
    assert 15 <= s["hit_doms_median"] <= 80
    assert s["events_above_tail"] >= 3  # a tail above 300 hit DOMs
    assert s["total_charge_decades"] >= 2
    assert s["time_span_median_ns"] >= 1000  # microseconds


def test_simulate_cli_prints_the_summary(capsys):
    from llp_gap_reco.cli.main import main

    assert main(["simulate", "--events", "30", "--seed", "2", "--kind", "background"]) == 0
    out = capsys.readouterr().out
    s = realism_summary(simulate(30, seed=2, kind="background"))
    assert "events                 30" in out
    assert f"median {s['hit_doms_median']:.0f}" in out
    assert f"{s['total_charge_decades']:.2f} decades" in out
    assert "events/s" in out
