"""Simulator physics through the public API: stochastic losses, layered ice, gap lengths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from llp_gap_reco.data.simulation.constants import MUON_LOSS_A, MUON_LOSS_B
from llp_gap_reco.data.simulation.losses import LossModel, energy_weighted_spectrum, propagate
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate
from scipy.integrate import quad

_REPORTS = Path(__file__).resolve().parents[1] / "resources" / "reports"
_spec = importlib.util.spec_from_file_location("dust_per_hit", _REPORTS / "dust_per_hit.py")
assert _spec is not None and _spec.loader is not None
dust_per_hit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dust_per_hit)

B_10TEV = 3.3e-4  # 1/m, radiative energy-loss coefficient in ice near 10 TeV
MUONS_10TEV = dict(energy_min=1e4, energy_max=1e4, cos_zenith_min=0.9)


@pytest.fixture(scope="module")
def geometry():
    return Geometry.icecube86_like()


def test_stochastic_losses_at_10_tev(geometry):
    events = list(simulate(300, seed=5, geometry=geometry, config=MUONS_10TEV, kind="background"))
    per_m = np.array([ev.losses[:, 4].sum() / ev.truth["muon_length"] for ev in events])
    ratio = per_m / (B_10TEV * 1e4)
    assert 0.3 <= ratio.mean() <= 1.0
    assert ratio.std() / ratio.mean() >= 0.3
    for ev in events:
        loss = ev.losses
        assert loss.dtype == np.float64 and loss.shape[1] == 5 and (loss[:, 4] > 0).all()
        assert (np.diff(loss[:, 3]) >= 0).all()  # time-ordered along the muon
        assert loss[:, 4].sum() < 1e4


def test_energy_is_conserved_along_a_track():
    """Reference: 1 cm steps of dE/dx = -(a + b_cont E) between the sampled losses."""
    model, rng = LossModel(0.01), np.random.default_rng(3)
    for e0 in (2e3, 1e4):
        track = propagate(rng, model, -300.0, 1500.0, e0)
        assert track.s_loss.size >= 1
        e, s = e0, track.s0
        for s_k, loss, after in zip(track.s_loss, track.e_loss, track.e_after):
            n = max(int((s_k - s) / 0.01), 1)
            dx = (s_k - s) / n
            for _ in range(n):
                e -= (MUON_LOSS_A + model.b_cont * e) * dx
            assert loss + after == pytest.approx(e, rel=1e-4)  # the loss leaves exactly E - dE
            e, s = after, s_k
        assert track.energy_at(track.s_loss[-1] + 1.0) < track.e_after[-1]


def test_loss_spectrum_matches_quadrature():
    total = quad(energy_weighted_spectrum, 1e-9, 1.0, limit=400, points=[1e-3])[0]
    assert total == pytest.approx(1.0, rel=1e-3)
    model = LossModel(0.01)
    frac = quad(energy_weighted_spectrum, 0.01, 1.0, limit=200)[0]
    rate = quad(lambda v: energy_weighted_spectrum(v) / v, 0.01, 1.0, limit=200)[0]
    assert model.stochastic_fraction == pytest.approx(frac, rel=1e-3)
    assert model.rate_per_m == pytest.approx(MUON_LOSS_B * rate, rel=0.02)


def _log_charge_spread(geometry, stochastic: bool) -> float:
    cfg = dict(MUONS_10TEV, stochastic_losses=stochastic)
    q = [ev.pulses[:, 4].sum() for ev in simulate(250, seed=6, geometry=geometry, config=cfg,
                                                  kind="background")]  # fmt: skip
    return float(np.std(np.log(q)))


def test_stochastic_losses_widen_the_charge_spread(geometry):
    assert _log_charge_spread(geometry, True) >= 1.15 * _log_charge_spread(geometry, False)


def test_dust_layer_is_darker_with_layered_ice(geometry):
    """150 muons without stochastic losses, the statistic of resources/reports/dust_per_hit.py:
    the dust over clear ice, layered relative to homogeneous ice."""
    res = {ice: dust_per_hit.hit_charges(ice, 150, 7, geometry, stochastic_losses=False)
           for ice in ("layered", "homogeneous")}  # fmt: skip
    per_hit, per_dom = dust_per_hit.double_ratios(res, range(150), geometry)
    hits = {ice: sum(q.size for q in layers["dust"]) / sum(q.size for q in layers["clear"])
            for ice, layers in res.items()}  # fmt: skip
    assert per_dom <= 0.6  # charge per DOM
    assert hits["layered"] <= 0.5 * hits["homogeneous"]  # hit DOMs
    # a DOM still hit in the dust is near the track, where photon tracking puts more light in
    # the dust than in clear ice (1.1-1.4x per hit DOM, resources/docs/simulation.md): a hit
    # cancels most of the darkening
    assert 0.6 < per_hit < 1.6


def test_default_gap_lengths(geometry):
    gaps = np.array([ev.truth["gap_length"] for ev in simulate(600, seed=8, geometry=geometry)])
    assert gaps.min() >= 50.0
    assert (gaps < 200).sum() >= 2 * (gaps > 400).sum()
    assert (gaps > 400).sum() > 0


def test_dark_noise_follows_each_doms_rate():
    """Hits per DOM over many windows against rate x window (Poisson, 5 sigma per DOM class)."""
    from llp_gap_reco.data.simulation.pulses import dark_noise

    rates = np.array([500.0] * 40 + [700.0] * 10 + [0.0] * 5)
    rng, window_ns, draws = np.random.default_rng(11), 10_000.0, 4000
    counts = np.zeros(rates.size)
    for _ in range(draws):
        dom, t = dark_noise(rng, rates, 100.0, 100.0 + window_ns)
        assert ((t >= 100.0) & (t < 100.0 + window_ns)).all()
        counts += np.bincount(dom, minlength=rates.size)
    for cls in (500.0, 700.0):
        m = rates == cls
        expected = cls * window_ns * 1e-9 * draws * m.sum()
        assert abs(counts[m].sum() - expected) < 5 * np.sqrt(expected)
    assert counts[rates == 0].sum() == 0
